"""Ingest landing drops with Spark: check every row, keep the latest drop per store, item and date.

Every row is checked by name, never by position (engine.landing_scan reads the files); a row
that fails a check is rejected with the first check it fails (see :func:`_problem`), and its
file, row number and values are reported. The ``file`` column names a row's file as
``<drop>/<name>``, as quarantine does.
"""
from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field

from pyspark.sql import Column, DataFrame, Observation, SparkSession, Window
from pyspark.sql import functions as F

from manymodels_assets import landing, layout
from manymodels_assets.engine import landing_scan
from manymodels_assets.engine.tables import ensure_reachable, stage_version
from manymodels_assets.schemas import LANDED, RAW_CALENDAR, RAW_SALES

COLUMNS = {"sales": RAW_SALES.names, "calendar": RAW_CALENDAR.names}
REJECTED_ROWS_KEPT = 100_000  # per file; the file itself stays in the landing zone, whole
_TEXT = tuple(LANDED.names)


@dataclass(frozen=True)
class RowRules:
    """What a good row is, beyond its type: dates inside [min_date, max_date], units at most max_units."""
    min_date: dt.date
    max_date: dt.date
    max_units: float


@dataclass
class FeedIngest:
    feed: str
    version: str | None = None  # staged, not yet published
    rows_read: int = 0  # good rows, before latest-drop-wins
    rows: int = 0  # rows written
    rows_rejected: int = 0
    conflicts: int = 0  # store/item/dates given twice in one file with different values (the larger units win)
    files_read: int = 0
    drops: int = 0
    quarantined: list[tuple[str, str]] = field(default_factory=list)  # (file, reason): moved aside
    rejected: list[tuple[str, int, str]] = field(default_factory=list)  # (file, bad rows, first one)
    finish: list[Callable[[], None]] = field(default_factory=list, repr=False)  # quarantine moves, after the write


def ingest_feed(spark: SparkSession, lake, feed: landing.Feed, rules: RowRules, run_id: str,
                warn: Callable[[str], None] = print) -> FeedIngest:
    """Check and read every landing file of ``feed`` and stage a new version of its raw table.

    Files that cannot be read at all are quarantined at once; moves of files whose every row
    is bad are left in ``result.finish`` for the caller to run after publishing nothing else
    can fail before (Spark reads lazily, so they must stay until the write is done).
    """
    ensure_reachable(spark, lake)  # before anything moves
    fs, quarantine_dir = lake.landing_fs, lake.landing_uri(layout.QUARANTINE_FOLDER)
    result = FeedIngest(feed.name)
    readable: list[tuple[landing.LandingFile, dict]] = []
    for f in landing.list_files(fs, lake.landing_uri(), feed):
        types, reason = landing.inspect_file(fs, f)
        if reason:
            landing.quarantine(fs, quarantine_dir, f, reason)
            result.quarantined.append((f.label, reason))
            warn(f"quarantined {f.label}: {reason}")
        else:
            readable.append((f, types))
    if not readable:
        return result
    rows = checked(landing_scan.read(spark, lake, readable), feed.name, rules)
    per_file = {r["file"]: r.asDict() for r in rows.groupBy("file").agg(
        F.count(F.lit(1)).alias("n"), F.sum(F.col("problem").isNotNull().cast("int")).alias("bad")).collect()}
    bad = rows.where(F.col("problem").isNotNull())  # few rows: the text of the values is made for these only
    for r in bad.groupBy("file").agg(F.min_by(F.struct("row", "problem", *[f"{c}_text" for c in _TEXT]),
                                              F.col("row")).alias("first")).collect():
        per_file[r["file"]]["first"] = r["first"]
    by_label = {f"{f.drop}/{f.name}": f for f, _ in readable}
    all_bad = [name for name, r in per_file.items() if r["bad"] == r["n"]]
    observed = Observation(f"ingest_{feed.name}")
    good = rows.where(F.col("problem").isNull() & ~F.col("file").isin(all_bad))
    winners = latest_drop_wins(good, feed.name).observe(
        observed, F.count(F.lit(1)).alias("rows"), F.sum(F.col("_conflict").cast("int")).alias("conflicts"))
    result.version = stage_version(lake, layout.FEED_TABLES[feed.name], winners.select(*COLUMNS[feed.name]), run_id,
                                   partition_by=("store_id", "item_id"), sort_by=("store_id", "item_id", "date"))
    stats = observed.get
    result.rows, result.conflicts = int(stats["rows"]), int(stats["conflicts"] or 0)
    result.rows_read = sum(r["n"] - r["bad"] for name, r in per_file.items() if name not in all_bad)
    result.rows_rejected = sum(r["bad"] for name, r in per_file.items() if name not in all_bad)
    result.files_read = len(readable) - len(all_bad)
    result.drops = len({f.drop for f, _ in readable if f"{f.drop}/{f.name}" not in all_bad})
    for name, r in sorted(per_file.items()):
        if r["bad"]:
            f, first = by_label[name], _describe(r["first"])
            summary = f"{r['bad']} of {r['n']} row(s) fail the row check; first: {first}"
            if name in all_bad:
                result.quarantined.append((f.label, summary))
                result.finish.append(lambda f=f, s=summary: landing.quarantine(fs, quarantine_dir, f, s))
            else:
                bad_rows = (bad.where(F.col("file") == name)
                            .select("row", *[F.col(f"{c}_text").alias(c) for c in _TEXT], "problem")
                            .orderBy("row").limit(REJECTED_ROWS_KEPT).toPandas())
                landing.reject_rows(fs, quarantine_dir, f, landing.file_version(fs, f.path), bad_rows, summary)
                result.rejected.append((f.label, int(r["bad"]), first))
            warn(f"{f.label}: {summary}")
    return result


def _describe(first) -> str:
    values = ", ".join(f"{c}={first[f'{c}_text'] if first[f'{c}_text'] is not None else '<missing>'}"
                       for c in _TEXT)
    return f"row {first['row']}: {first['problem']} ({values})"


def checked(rows: DataFrame, feed: str, rules: RowRules) -> DataFrame:
    """The rows with their ``drop`` and ``problem``: the first check the row fails, or null."""
    return (rows.withColumn("drop", F.element_at(F.split("file", "/"), 1))
                .withColumn("problem", _problem(feed, rules)))


def _finite(c: Column) -> Column:
    return ~F.isnan(c) & (F.abs(c) < F.lit(float("inf")))


def _problem(feed: str, rules: RowRules) -> Column:
    def given(name):
        return F.col(f"{name}_given")

    units, price, promo = F.col("units"), F.col("price"), F.col("promo")
    checks = [
        (F.col("store_id").isNull() | (F.col("store_id") == ""), "store_id is empty"),
        (F.col("item_id").isNull() | (F.col("item_id") == ""), "item_id is empty"),
        (F.col("date").isNull(), "date is not a date"),
        (F.col("date") < F.lit(rules.min_date), f"date before {rules.min_date}"),
        (F.col("date") > F.lit(rules.max_date), f"date after {rules.max_date}"),
    ]
    if feed == "sales":
        checks += [
            (units.isNull(), "units is not a number"),
            (~_finite(units), "units is not finite"),
            (units < 0, "units is negative"),
            (units > rules.max_units, f"units above {rules.max_units:g}"),
        ]
    else:
        checks.append((~given("price") & ~given("promo"), "a calendar row needs a price or a promo"))
    checks += [
        (given("price") & price.isNull(), "price is not a number"),
        (price.isNotNull() & (~_finite(price) | (price <= 0)), "price is not positive and finite"),
        (given("promo") & ~promo.isin(0, 1), "promo is not 0 or 1"),
    ]
    problem = F.lit(None).cast("string")
    for condition, text in reversed(checks):
        problem = F.when(condition, F.lit(text)).otherwise(problem)
    return problem


def latest_drop_wins(df: DataFrame, feed: str = "sales") -> DataFrame:
    """One row per store, item and date: the one from the latest drop (then the last file name).

    Inside one file the same store, item and date given twice with different values is
    resolved deterministically (the larger units, then price, then promo) and flagged
    ``_conflict``; an exact repeat is a plain duplicate. The window is partitioned by store and
    item only (rows of a date are adjacent in its order), so the one shuffle it needs is the
    one the raw table is written with.
    """
    value = ["units", "price", "promo"] if feed == "sales" else ["price", "promo"]
    order = [F.col("date"), F.col("drop").desc(), F.col("file").desc(), *[F.col(c).desc_nulls_last() for c in value]]
    w = Window.partitionBy("store_id", "item_id").orderBy(*order)
    first_of_date = F.coalesce(F.lag("date").over(w) != F.col("date"), F.lit(True))
    same_file_next = (F.lead("date").over(w) == F.col("date")) & (F.lead("file").over(w) == F.col("file"))
    differs = F.lit(False)
    for c in value:
        differs = differs | ~F.lead(c).over(w).eqNullSafe(F.col(c))
    return (df.withColumn("_first", first_of_date)
              .withColumn("_conflict", F.coalesce(same_file_next & differs, F.lit(False)))
              .where("_first"))


def table_stats(spark: SparkSession, lake, table: str, version: str) -> dict:
    """Rows, first and last date, and the distinct (store_id, item_id) pairs of a raw table version."""
    df = spark.read.parquet(lake.spark_uri(table, version))
    stats = df.agg(F.count(F.lit(1)).alias("rows"), F.min("date").alias("first"), F.max("date").alias("last")).first()
    pairs = df.select("store_id", "item_id").distinct().orderBy("store_id", "item_id").toPandas()
    return {"rows": int(stats["rows"]), "first": stats["first"], "last": stats["last"], "pairs": pairs}
