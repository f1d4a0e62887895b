"""Ingest landing drops with Spark: check and type each file, quarantine bad ones, keep the latest drop per row.

The ``file`` column names a row's file as ``<drop>/<name>``, the way quarantine reports it.
"""
from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field

from pyspark.sql import DataFrame, SparkSession, Window
from pyspark.sql import functions as F

from manymodels_assets import landing, layout
from manymodels_assets.engine.tables import write_version

COLUMNS = {
    "sales": ("store_id", "item_id", "date", "units", "price", "promo", "drop"),
    "calendar": ("store_id", "item_id", "date", "price", "promo", "drop"),
}


def _typed(df: DataFrame) -> DataFrame:
    """Cast to the raw schema. try_cast: a bad value becomes NULL (then a bad row), not a failed job."""
    cols = set(df.columns)

    def opt(name: str, typ: str):
        return F.expr(f"try_cast(`{name}` as {typ})") if name in cols else F.lit(None).cast(typ)

    def text(name: str):  # the value as it arrived, for the quarantine reason
        return F.col(name).cast("string") if name in cols else F.lit(None).cast("string")

    parts = F.split(F.col("_metadata.file_path"), "/")
    drop = F.url_decode(F.element_at(parts, -2))
    return df.select(
        F.trim(F.col("store_id").cast("string")).alias("store_id"),
        F.trim(F.col("item_id").cast("string")).alias("item_id"),
        F.expr("try_cast(`date` as date)").alias("date"),
        opt("units", "double").alias("units"),
        opt("price", "double").alias("price"),
        opt("promo", "int").alias("promo"),
        drop.alias("drop"),
        F.concat_ws("/", drop, F.url_decode(F.element_at(parts, -1))).alias("file"),
        text("date").alias("date_text"),
        text("units").alias("units_text"),
        text("price").alias("price_text"),
    )


def read_landing(spark: SparkSession, files: list[tuple[str, str, dict]]) -> DataFrame:
    """Union of all files, typed, with ``drop`` and ``file`` (``<drop>/<name>``) columns.

    ``files``: (Spark path, format, column types). Files with the same format and column types
    are read in one scan.
    """
    groups: dict[tuple, list[str]] = defaultdict(list)
    for path, fmt, types in files:
        groups[(fmt, tuple(sorted(types.items())))].append(path)
    parts = []
    for (fmt, _), paths in groups.items():
        if fmt == "csv":
            df = spark.read.option("header", "true").option("inferSchema", "false").csv(paths)
        else:
            df = spark.read.parquet(*paths)
        parts.append(_typed(df))
    out = parts[0]
    for p in parts[1:]:
        out = out.unionByName(p)
    return out


def _bad_row(feed: str):
    keys = (F.col("store_id").isNull() | (F.col("store_id") == "") | F.col("item_id").isNull()
            | (F.col("item_id") == "") | F.col("date").isNull())
    if feed == "sales":
        return keys | F.col("units").isNull() | F.isnan("units") | (F.col("units") < 0)
    # calendar: a plan needs a positive price or a promotion flag
    return keys | (F.col("price").isNull() & F.col("promo").isNull()) | (F.col("price") <= 0) \
        | (F.col("price_text").isNotNull() & F.col("price").isNull())


RULES = {
    "sales": "store_id and item_id non-empty, date a date, units a non-negative number",
    "calendar": "store_id and item_id non-empty, date a date, a positive price or a promo flag",
}


def bad_rows_by_file(df: DataFrame, feed: str = "sales") -> dict[str, tuple[int, str]]:
    """file -> (number of bad rows, one example row as text) for files with bad rows."""
    shown = (("store_id", "store_id"), ("item_id", "item_id"), ("date", "date_text"),
             ("units", "units_text") if feed == "sales" else ("price", "price_text"))
    example = F.concat_ws(", ", *[F.concat(F.lit(f"{c}="), F.coalesce(F.col(src).cast("string"), F.lit("<missing>")))
                                  for c, src in shown])
    rows = (df.where(_bad_row(feed)).groupBy("file")
              .agg(F.count(F.lit(1)).alias("n"), F.first(example).alias("example")).collect())
    return {r["file"]: (int(r["n"]), r["example"]) for r in rows}


def latest_drop_wins(df: DataFrame, feed: str = "sales") -> DataFrame:
    """One row per store, item and date: the one from the latest drop (then the last file name)."""
    w = Window.partitionBy("store_id", "item_id", "date").orderBy(F.col("drop").desc(), F.col("file").desc())
    return (df.withColumn("_rank", F.row_number().over(w)).where("_rank = 1")
              .select(*COLUMNS[feed]))


@dataclass
class FeedResult:
    version: str | None = None
    rows_read: int = 0
    files_read: int = 0
    drops: int = 0
    quarantined: list[tuple[str, str]] = field(default_factory=list)


def ingest_feed(spark: SparkSession, lake, feed: landing.Feed, run_id: str,
                warn: Callable[[str], None] = print) -> FeedResult:
    """Check, read, de-duplicate and write one feed as a new version of its raw table; quarantine its bad files."""
    fs, landing_dir, quarantine_dir = lake.fs, lake.uri(layout.LANDING), lake.uri(layout.QUARANTINE)
    result = FeedResult()
    readable = []
    for f in landing.list_files(fs, landing_dir, feed):
        types, reason = landing.inspect_file(fs, f)
        if reason:
            landing.quarantine(fs, quarantine_dir, f, reason)
            result.quarantined.append((f.label, reason))
            warn(f"quarantined {f.label}: {reason}")
        else:
            readable.append((f, types))
    if not readable:
        return result
    by_name = {f"{f.drop}/{f.name}": f for f, _ in readable}
    typed = read_landing(spark, [(lake.spark_path(f.path), f.fmt, t) for f, t in readable])
    bad = bad_rows_by_file(typed, feed.name)
    good = typed.where(~F.col("file").isin(list(bad))) if bad else typed
    # Quarantine row-check failures only after the write: Spark reads the files lazily.
    result.version = write_version(lake, layout.FEED_TABLES[feed.name], latest_drop_wins(good, feed.name), run_id,
                                   partition_by=("store_id", "item_id"), sort_by=("store_id", "item_id", "date"))
    result.rows_read = good.count()
    for name, (n, example) in bad.items():
        reason = f"{n} row(s) fail the row check ({RULES[feed.name]}); first: {example}"
        landing.quarantine(fs, quarantine_dir, by_name[name], reason)
        result.quarantined.append((by_name[name].label, reason))
        warn(f"quarantined {by_name[name].label}: {reason}")
    result.files_read = len(readable) - len(bad)
    result.drops = len({f.drop for f, _ in readable})
    return result


def table_stats(spark: SparkSession, lake, table: str, version: str) -> dict:
    """Rows, first and last date, and the distinct (store_id, item_id) pairs of a raw table version."""
    df = spark.read.parquet(lake.spark_uri(table, version))
    stats = df.agg(F.count(F.lit(1)).alias("rows"), F.min("date").alias("first"), F.max("date").alias("last")).first()
    pairs = df.select("store_id", "item_id").distinct().orderBy("store_id", "item_id").toPandas()
    return {"rows": int(stats["rows"]), "first": stats["first"], "last": stats["last"], "pairs": pairs}
