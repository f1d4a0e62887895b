"""Landing files as Spark rows: one scan per set of columns, every column matched by name.

Native parquet is read where it lies; CSV, parquet with nanosecond timestamps and files of a
landing zone Spark cannot reach are converted once per file version into ``raw/_staged/``.
Each row keeps its file (``<drop>/<name>``) and row number for the quarantine's reports.
"""
from __future__ import annotations

import hashlib
import posixpath
import re
from collections import defaultdict

from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F

from manymodels_assets import landing, layout
from manymodels_assets.schemas import LANDED


def read(spark: SparkSession, lake, files: list[tuple[landing.LandingFile, dict]]) -> DataFrame:
    """Every file as text columns (by name) + ``file`` (``<drop>/<name>``) and ``row`` (1-based)."""
    # One Spark scan per distinct set of columns: a scan takes one schema for all its files.
    native: dict[tuple, list[str]] = defaultdict(list)
    staged: dict[tuple, list[str]] = defaultdict(list)
    for f, types in files:
        if not lake.spark_reads_landing or f.fmt == "csv" or any(t.startswith("timestamp[ns") for t in types.values()):
            staged[tuple(sorted(types))].append(_stage(lake, f, list(types)))
        else:
            native[tuple(sorted(types.items()))].append(_spark_literal(lake.spark_path(f.path)))
    _prune_staged(lake, files[0][0].feed.name, {p for paths in staged.values() for p in paths})
    parts = []
    for paths in native.values():
        df = spark.read.parquet(*paths)
        path = F.url_decode(F.regexp_replace("_metadata.file_path", r"\+", "%2B"))  # Hadoop leaves '+' as is
        parts.append(_as_text(df, F.concat_ws("/", F.element_at(F.split(path, "/"), -2),
                                              F.element_at(F.split(path, "/"), -1)),
                              F.col("_metadata.row_index") + 1))
    for paths in staged.values():
        df = spark.read.parquet(*[_spark_literal(lake.spark_path(p)) for p in paths])
        parts.append(_as_text(df, F.col("_file"), F.col("_row")))
    out = parts[0]
    for p in parts[1:]:
        out = out.unionByName(p)
    return out


def _as_text(df: DataFrame, file: Column, row: Column) -> DataFrame:
    """The columns of one scan as typed values (``store_id``, ``units``, ...), the values as they
    arrived (``<column>_text``, made only for rows someone reads: the rejected ones) and whether
    each was given (``<column>_given``). Native numbers and dates are cast, not parsed from text."""
    types = dict(df.dtypes)
    out = []
    for c, typ in LANDED.types().items():
        if c not in types:
            out += [F.lit(None).cast(typ).alias(c), F.lit(None).cast("string").alias(f"{c}_text"),
                    F.lit(False).alias(f"{c}_given")]
            continue
        raw = F.col(f"`{c}`")
        if types[c] == "boolean":  # a boolean promotion flag reads as 0/1, like an integer one
            raw = raw.cast("int")
        text = raw.cast("string")
        is_text = types[c] == "string"
        if typ == "string":
            value = F.trim(text)
        elif typ == "date" and is_text:
            value = F.coalesce(F.expr(f"try_cast(trim(`{c}`) as date)"),
                               F.expr(f"to_date(try_cast(trim(`{c}`) as timestamp))"))
        elif is_text:
            value = F.expr(f"try_cast(trim(`{c}`) as {typ})")
        else:
            value = raw.cast(typ)
        given = (raw.isNotNull() & (F.trim(raw) != "")) if is_text else raw.isNotNull()
        out += [value.alias(c), text.alias(f"{c}_text"), given.alias(f"{c}_given")]
    return df.select(*out, file.alias("file"), row.cast("long").alias("row"))


def _spark_literal(path: str) -> str:
    # Spark treats these as glob characters in a path it is given; a file name may contain them.
    return re.sub(r"([\[\]{}*?\\])", r"\\\1", path)


def _stage(lake, f: landing.LandingFile, columns: list[str]) -> str:
    """The file as parquet that Spark reads (every column as text, plus ``_file`` and ``_row``),
    converted once per file version into the lake: CSV, parquet with nanosecond timestamps
    (pandas' default, which Spark refuses), and any file of a landing zone Spark cannot reach."""
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    version = landing.file_version(lake.landing_fs, f.path)
    digest = hashlib.sha256(f"{f.label}\0{version}".encode()).hexdigest()[:24]
    target = lake.uri(layout.RAW_STAGING, f.feed.name, f"{digest}.parquet")
    if lake.fs.exists(target):
        return target
    with lake.landing_fs.open(f.path, "rb") as fh:
        if f.fmt == "csv":
            table = pacsv.read_csv(fh, read_options=pacsv.ReadOptions(encoding="utf-8"),
                                   convert_options=pacsv.ConvertOptions(
                                       column_types={c: pa.string() for c in columns}, include_columns=columns,
                                       strings_can_be_null=False, quoted_strings_can_be_null=False))
        else:
            table = pq.read_table(fh, columns=columns)

    def text(column):
        if pa.types.is_timestamp(column.type):
            column = pc.cast(column, pa.date32())
        elif pa.types.is_boolean(column.type):
            column = pc.cast(column, pa.int8())
        return pc.cast(column, pa.string())

    table = pa.table({name: text(table[name]) for name in table.column_names})
    table = table.append_column("_file", pa.array([f"{f.drop}/{f.name}"] * table.num_rows, pa.string()))
    table = table.append_column("_row", pa.array(range(1, table.num_rows + 1), pa.int64()))
    tmp = target + ".tmp"
    lake.fs.makedirs(posixpath.dirname(target), exist_ok=True)
    with lake.fs.open(tmp, "wb") as out:
        pq.write_table(table, out)
    lake.fs.mv(tmp, target)
    return target


def _prune_staged(lake, feed: str, keep: set[str]) -> None:
    """Remove staged conversions of CSV versions that are no longer in the landing zone."""
    folder = lake.uri(layout.RAW_STAGING, feed)
    if lake.fs.exists(folder):
        keep = {posixpath.basename(p) for p in keep}
        for path in lake.fs.ls(folder, detail=False):
            if posixpath.basename(path) not in keep:
                lake.fs.rm(path)
