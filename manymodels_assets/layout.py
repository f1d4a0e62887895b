"""The lake's layout: every folder the project reads or writes, named once.

```
landing/<feed>/<drop>/<file>              what arrives (feeds: sales, calendar); the landing zone
                                          may have a root of its own (MANYMODELS_LANDING_ROOT)
landing/quarantine/<feed>/<drop>/<file>   bad files, beside <file>.reason.txt
raw/sales, raw/calendar                   versioned tables (v-*/ folders, _CURRENT pointer)
raw/_staged/<feed>/                       CSV landing files as parquet, once per file version
series, forecasts                         versioned tables
models/<model_set>/                       one immutable folder per model set
models/_incomplete/<model_set>/           a model set being written
_locks/<table>                            writers of one table take turns (see LakeResource.lock)
warehouse/staging/<load>/                 one warehouse load's rows as parquet (Synapse COPY INTO reads them)
```
"""
from __future__ import annotations

import posixpath

LANDING = "landing"
"""The landing zone's folder in the lake, unless it has a root of its own (MANYMODELS_LANDING_ROOT)."""
QUARANTINE_FOLDER = "quarantine"
"""Inside the landing zone: files and rows that could not be ingested."""
RAW_SALES = "raw/sales"
RAW_CALENDAR = "raw/calendar"
RAW_STAGING = "raw/_staged"
SERIES = "series"
FORECASTS = "forecasts"
MODELS = "models"
MODELS_STAGING = "models/_incomplete"
LOCKS = "_locks"
CURRENT = "_CURRENT"
"""In each table's folder: the one-line pointer to its current version folder (``v-…``)."""
WAREHOUSE_STAGING = "warehouse/staging"
"""No leading underscore: Synapse's COPY INTO skips files and folders whose names start with '_' or '.'."""

FEED_TABLES = {"sales": RAW_SALES, "calendar": RAW_CALENDAR}
"""Landing feed -> the raw table it is ingested into."""

INGEST_LOCK = "raw"
"""Ingest writes both raw tables and moves landing files: one lock for all of it."""
PRODUCTION_LOCK = "production"
"""Promotions read the production alias, write a set and move the alias: one at a time."""


def model_set(name: str) -> str:
    return posixpath.join(MODELS, name)


def model_set_staging(name: str) -> str:
    return posixpath.join(MODELS_STAGING, name)


def warehouse_stage(load_id: str) -> str:
    return posixpath.join(WAREHOUSE_STAGING, load_id)
