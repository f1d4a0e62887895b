"""Ingest landing drops with Spark: check every row, keep the latest drop per store, item and date.

Every row is checked by name, never by position; a row that fails a check is rejected with
the first check it fails (see :func:`_problem`), and its file, row number and values are
reported. The ``file`` column names a row's file as ``<drop>/<name>``, as quarantine does.
CSV files are converted once per version into parquet under ``raw/_staged/`` (as text, with
their row numbers), so Spark reads every landing file the same way.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import posixpath
import re
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field

from pyspark.sql import Column, DataFrame, Observation, SparkSession, Window
from pyspark.sql import functions as F

from manymodels_assets import landing, layout
from manymodels_assets.engine.tables import ensure_reachable, stage_version

COLUMNS = {
    "sales": ("store_id", "item_id", "date", "units", "price", "promo", "drop"),
    "calendar": ("store_id", "item_id", "date", "price", "promo", "drop"),
}
REJECTED_ROWS_KEPT = 100_000  # per file; the file itself stays in the landing zone, whole
_TEXT = ("store_id", "item_id", "date", "units", "price", "promo")


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
    rows = checked(_read(spark, lake, readable), feed.name, rules)
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


def _read(spark: SparkSession, lake, files: list[tuple[landing.LandingFile, dict]]) -> DataFrame:
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
    for c, typ in (("store_id", "string"), ("item_id", "string"), ("date", "date"), ("units", "double"),
                   ("price", "double"), ("promo", "int")):
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
