"""The lake's layout: every folder the project reads or writes, named once.

```
landing/<feed>/<drop>/<file>              what arrives (feeds: sales, calendar)
landing/quarantine/<feed>/<drop>/<file>   bad files, beside <file>.reason.txt
raw/sales, raw/calendar                   versioned tables (v-*/ folders, _CURRENT pointer)
raw/_staged/<feed>/                       CSV landing files as parquet, once per file version
series, forecasts                         versioned tables
models/<model_set>/                       one immutable folder per model set
models/_incomplete/<model_set>/           a model set being written
_locks/<table>                            writers of one table take turns (see LakeResource.lock)
```
"""
from __future__ import annotations

import posixpath

LANDING = "landing"
QUARANTINE = "landing/quarantine"
RAW_SALES = "raw/sales"
RAW_CALENDAR = "raw/calendar"
RAW_STAGING = "raw/_staged"
SERIES = "series"
FORECASTS = "forecasts"
MODELS = "models"
MODELS_STAGING = "models/_incomplete"
LOCKS = "_locks"

FEED_TABLES = {"sales": RAW_SALES, "calendar": RAW_CALENDAR}
"""Landing feed -> the raw table it is ingested into."""

INGEST_LOCK = "raw"
"""Ingest writes both raw tables and moves landing files: one lock for all of it."""
PRODUCTION_LOCK = "production"
"""Promotions read the production alias, write a set and move the alias: one at a time."""


def landing_feed(feed: str) -> str:
    return posixpath.join(LANDING, feed)


def quarantine_drop(feed: str, drop: str) -> str:
    return posixpath.join(QUARANTINE, feed, drop)


def model_set(name: str) -> str:
    return posixpath.join(MODELS, name)


def model_set_staging(name: str) -> str:
    return posixpath.join(MODELS_STAGING, name)
