"""Build the store-item series from the raw table with Spark, one group per store-item."""
from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field

import pandas as pd
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from manymodels_assets import layout
from manymodels_assets.engine.groups import apply_per_group
from manymodels_assets.engine.tables import keys_frame, read_current, replace_keys
from manymodels_assets.forecasting.frequency import AUTO, last_complete_day, normalize_freq, split_freq
from manymodels_assets.forecasting.inference import infer_panel_freq, report_freq
from manymodels_assets.forecasting.keys import encode_key
from manymodels_assets.forecasting.series import store_ends
from manymodels_assets.schemas import SERIES


SERIES_END = "series_end"
"""A column the rows to build may carry: where their store's series end (late stores end early)."""


def build_series(raw: DataFrame, freq: str, end: dt.date, fill: str = "zero", n_series: int = 1) -> DataFrame:
    """One regular, gap-filled series per (store_id, item_id), ending at ``end``, or at the row's
    ``series_end`` when the rows carry one (about ``n_series`` of them)."""
    own_end = SERIES_END in raw.columns

    def one(pdf: pd.DataFrame) -> pd.DataFrame:
        from manymodels_assets.forecasting.series import data_version, regularize

        store, item = str(pdf["store_id"].iloc[0]), str(pdf["item_id"].iloc[0])
        out = regularize(pdf, freq, pdf[SERIES_END].iloc[0] if own_end else end, fill)
        out["date"] = out["date"].dt.date
        out.insert(0, "key", encode_key(store, item))
        out.insert(1, "store_id", store)
        out.insert(2, "item_id", item)
        out["freq"] = freq
        out["data_version"] = data_version(out["units"].to_numpy(), out["date"])
        return out[SERIES.names]

    return apply_per_group(raw, ["store_id", "item_id"], one, SERIES.spark_ddl(), n_series)


@dataclass(frozen=True)
class SeriesUpdate:
    version: str  # of the series table
    freq: str  # the frequency used (inferred when configured "auto")
    end: dt.date  # where on-time stores' series end: the raw table's last date, or its last complete period's
    stats: pd.DataFrame  # per built series, see series_stats
    held_back: str = ""  # rows of a period still filling up, waiting in raw_sales for it to complete
    behind: pd.DataFrame = field(default_factory=pd.DataFrame)  # the run's stores whose feed is late or stopped (store_ends)


def update_series(spark: SparkSession, lake, pairs: pd.DataFrame, freq: str, fill: str, run_id: str,
                  live_keys: Callable[[], list[str]] | None = None, late_periods: int | None = None) -> SeriesUpdate:
    """Rebuild the series of ``pairs`` (key, store_id, item_id) from the current raw table into a
    new version of the series table. With ``live_keys`` (returns every store-item that is still a
    partition; asked under the table's lock), the series of store-items no longer among them
    (their partition was deleted) are dropped from the table: no run can select them until an
    ingest registers them again, and meanwhile they would pin the table's frequency.

    A store whose sales stop at most ``late_periods`` of the data's periods before the raw table's
    last date (None: a week of days, one report of coarser data) is late: its series end at its own
    last date (see forecasting.series.store_ends)."""
    raw = read_current(spark, lake, layout.RAW_SALES)
    if raw is None:
        raise LookupError("raw_sales has not been materialized yet: materialize it first")
    wanted = spark.createDataFrame(pairs)
    selected = raw.join(F.broadcast(wanted.select("store_id", "item_id")), ["store_id", "item_id"])
    # each store's last date in the query that finds the panel's: nothing more to ask when all are on time
    last_dates = {r[0]: r[1] for r in raw.groupBy("store_id").agg(F.max("date")).collect()}
    end = max(last_dates.values(), default=None)
    held_back = ""
    if freq.strip().lower() == AUTO:
        freq = data_freq = infer_frequency(raw)  # the data's own period: its last one is always whole
        complete = end
    else:
        # one spelling per period (MS, ME and M are all "M"), refused before the series are built
        freq = normalize_freq(freq)
        data_freq, complete = _last_complete_day(raw, end, freq)
        if complete < end:
            held_back = f"rows from {complete + dt.timedelta(days=1)} to {end} wait for their {freq} period to complete"
    mine = set(pairs["store_id"])
    ends, behind = store_ends(_store_feeds(raw, {s: d for s, d in last_dates.items() if s in mine}, complete, data_freq),
                              end, complete, freq, data_freq, late_periods)
    if any(e != complete for e in ends.values()):  # late stores: each store's rows up to its own end
        selected = (selected.join(F.broadcast(spark.createDataFrame(list(ends.items()), f"store_id string, {SERIES_END} date")),
                                  "store_id").where(F.col("date") <= F.col(SERIES_END)))
    elif complete < end:
        selected = selected.where(F.col("date") <= F.lit(complete))
    keys = keys_frame(spark, pairs["key"].tolist())
    built = build_series(selected, freq, complete, fill, n_series=len(pairs))
    live = (lambda: keys_frame(spark, live_keys())) if live_keys is not None else None
    version = replace_keys(spark, lake, layout.SERIES, built, keys, run_id, sort_by=("key", "date"),
                           check=lambda current: _one_frequency(current, keys, freq), live=live)
    stats = series_stats(spark.read.parquet(lake.spark_uri(layout.SERIES, version)), keys)
    return SeriesUpdate(version, freq, complete, stats, held_back, behind)


def _weekday():
    """A sales row's weekday as Python counts them (Monday = 0); Spark counts Sunday as 1 ... Saturday as 7."""
    return ((F.dayofweek("date") + 5) % 7).alias("weekday")


def _store_feeds(raw: DataFrame, last_dates: dict, complete: dt.date, data_freq: str | None, weeks: int = 8) -> dict:
    """Per store: (its last sales date, the weekdays it sold on in the panel's last ``weeks`` weeks,
    Monday = 0). The weekdays judge daily data only, and only stores that end before ``complete``
    need them: in the common case, every store on time, nothing is asked of Spark."""
    behind = sorted(s for s, last in last_dates.items() if last < complete)
    open_days = {}
    if behind and data_freq and split_freq(data_freq)[1] == "D":
        recent = raw.where(F.col("store_id").isin(behind) & (F.col("date") > F.lit(complete - dt.timedelta(weeks=weeks))))
        open_days = {r[0]: tuple(sorted(r[1])) for r in recent.groupBy("store_id").agg(F.collect_set(_weekday())).collect()}
    return {s: (last, open_days.get(s, ())) for s, last in last_dates.items()}


def _last_complete_day(raw: DataFrame, end: dt.date, freq: str, weeks: int = 8) -> tuple[str | None, dt.date]:
    """(the data's own frequency when known, where the data fills whole ``freq`` periods: see
    last_complete_day); the panel's open weekdays are those with any sales row in its last
    ``weeks`` weeks."""
    recent = raw.where(F.col("date") > F.lit(end - dt.timedelta(weeks=weeks)))
    try:
        data_freq = infer_frequency(raw)
    except ValueError:  # too few or too irregular dates to infer
        data_freq = report_freq([r[0] for r in recent.select("date").distinct().collect()])
    if data_freq is None or data_freq == freq:
        return data_freq, end
    open_days = [r[0] for r in recent.select(_weekday()).distinct().collect()]
    return data_freq, last_complete_day(end, freq, data_freq, open_days)


def _one_frequency(current: DataFrame | None, keys: DataFrame, freq: str) -> None:
    """Refuse a run that would leave the series table with two frequencies: the store-items it does
    not rebuild keep theirs, and training reads one frequency for the table."""
    if current is None:
        return
    # spellings written by older releases (MS) are the same period (M)
    same = {f: normalize_freq(f) == freq for f in (r["freq"] for r in current.select("freq").distinct().collect())}
    if all(same.values()):  # the common case, one cheap column scan: nothing to look up per key
        return
    others = current.where(F.col("freq").isin([f for f, ok in same.items() if not ok]))
    kept = sorted(r["freq"] for r in
                  others.join(F.broadcast(keys), "key", "left_anti").select("freq").distinct().collect())
    if kept:
        raise ValueError(f"this run's series would be at frequency {freq!r} and the table's other store-items are "
                         f"at {kept}: the series table holds one frequency. Rebuild every store-item (select all "
                         f"partitions) to change it, or set the frequency to {normalize_freq(kept[0])!r}")


def infer_frequency(raw: DataFrame, sample: int = 50) -> str:
    """The panel's frequency from its dates and from a sample of its series, spread over stores and
    items by a hash (see infer_panel_freq: stores may date the same period differently)."""
    pairs = raw.select("store_id", "item_id").distinct().orderBy(F.xxhash64("store_id", "item_id")).limit(sample)
    rows = raw.join(F.broadcast(pairs), ["store_id", "item_id"]).select("store_id", "item_id", "date").toPandas()
    return infer_panel_freq(raw.select("date").distinct().toPandas()["date"],
                            [group["date"] for _, group in rows.groupby(["store_id", "item_id"])])


def series_stats(series: DataFrame, keys: DataFrame) -> pd.DataFrame:
    """Per selected series: points, share of zero periods, first date, data version."""
    return (series.join(F.broadcast(keys), "key").groupBy("key")
            .agg(F.count(F.lit(1)).alias("points"), F.avg((F.col("units") == 0).cast("double")).alias("zero_share"),
                 F.min("date").alias("first_date"), F.first("data_version").alias("data_version"))
            .toPandas())
