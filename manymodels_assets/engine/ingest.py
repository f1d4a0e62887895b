"""Read landing drops with Spark: type them, find bad rows per file, keep the latest drop per row.

The ``file`` column names a row's file as ``<drop>/<name>``, the way quarantine reports it.
"""
from __future__ import annotations

from collections import defaultdict

from pyspark.sql import DataFrame, SparkSession, Window
from pyspark.sql import functions as F

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
