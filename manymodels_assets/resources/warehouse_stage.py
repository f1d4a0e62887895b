"""A warehouse load's rows as parquet in the lake (``warehouse/staging/<load>/``), where Synapse's
COPY INTO reads them; SQLite and PostgreSQL loads read the same files back.

One file per staging table, columns in the table's order and types (COPY INTO maps parquet columns
to table columns by position).
"""
from __future__ import annotations

import datetime as dt
import posixpath
import uuid

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from manymodels_assets import layout
from manymodels_assets.resources.warehouse_sql import STAGES
from manymodels_assets.schemas import Table

_ARROW = {"string": pa.string(), "int": pa.int32(), "double": pa.float64(), "date": pa.date32(),
          "timestamp": pa.timestamp("us"), "boolean": pa.bool_()}
_STAMP = "%Y%m%dT%H%M%SZ"


def arrow_schema(schema: Table) -> pa.Schema:
    return pa.schema([(c.name, _ARROW[c.type]) for c in schema.columns])


def new_load_id(run_id: str = "") -> str:
    """A load's folder name: UTC time first (so old leftovers can be pruned by name), then the run."""
    return f"{dt.datetime.now(dt.timezone.utc).strftime(_STAMP)}-{(run_id or uuid.uuid4().hex)[:8]}"


def to_arrow(frame: pd.DataFrame, schema: Table) -> pa.Table:
    """``frame``'s columns of ``schema``, in its order and types (timestamps naive UTC, whole seconds)."""
    cols = {}
    for c in schema.columns:
        values = frame[c.name] if c.name in frame else pd.Series([None] * len(frame), dtype=object)
        if c.type == "timestamp":
            values = pd.to_datetime(values, utc=True).dt.tz_localize(None).dt.floor("s")
        elif c.type == "date":
            values = pd.to_datetime(values).dt.date
        cols[c.name] = pa.array(values, type=_ARROW[c.type], from_pandas=True)
    return pa.table(cols, schema=arrow_schema(schema))


def stage(lake, load_id: str, frames: dict[str, pd.DataFrame]) -> dict[str, str]:
    """Write each staging table's rows (``frames``: kind -> rows) as one parquet file; kind -> its lake URI."""
    folder = layout.warehouse_stage(load_id)
    lake.fs.makedirs(lake.uri(folder), exist_ok=True)
    out = {}
    for kind, schema in STAGES.items():
        path = lake.uri(folder, f"{kind}.parquet")
        with lake.fs.open(path, "wb") as f:
            pq.write_table(to_arrow(frames[kind], schema), f)
        out[kind] = path
    return out


def read(lake, path: str) -> pd.DataFrame:
    with lake.fs.open(path, "rb") as f:
        return pq.read_table(f).to_pandas()


def remove(lake, load_id: str) -> None:
    path = lake.uri(layout.warehouse_stage(load_id))
    if lake.fs.exists(path):
        lake.fs.rm(path, recursive=True)


def prune(lake, older_than: dt.timedelta = dt.timedelta(days=1)) -> list[str]:
    """Remove the staging folders of loads that died before cleaning up (older than ``older_than``)."""
    root = lake.uri(layout.WAREHOUSE_STAGING)
    if not lake.fs.exists(root):
        return []
    cutoff = dt.datetime.now(dt.timezone.utc) - older_than
    removed = []
    for path in lake.fs.ls(root, detail=False):
        name = posixpath.basename(path.rstrip("/"))
        try:
            started = dt.datetime.strptime(name.split("-", 1)[0], _STAMP).replace(tzinfo=dt.timezone.utc)
        except ValueError:  # not a load folder: leave it
            continue
        if started < cutoff:
            remove(lake, name)
            removed.append(name)
    return removed
