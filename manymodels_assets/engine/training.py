"""Train a model set: map the core's ``train_series`` over the selected series with Spark."""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import pandas as pd
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from manymodels_assets import layout
from manymodels_assets.engine.groups import apply_per_group
from manymodels_assets.engine.modelsets import read_model_set, with_models, write_model_set
from manymodels_assets.engine.pooled import pooled_backtests
from manymodels_assets.engine.tables import keys_frame, only_keys, read_current
from manymodels_assets.forecasting import status
from manymodels_assets.forecasting.candidates import get
from manymodels_assets.forecasting.cold_start import ColdStartCalibration, calibrate
from manymodels_assets.forecasting.config import TrainingConfig
from manymodels_assets.forecasting.frequency import normalize_freq
from manymodels_assets.forecasting.panel import sample_keys
from manymodels_assets.forecasting.selection import PanelPrior
from manymodels_assets.forecasting.series import default_late_periods
from manymodels_assets.schemas import MODEL_SET

SUMMARY_COLUMNS = [c for c in MODEL_SET.names if c not in ("model", "params", "backtest", "calendar_regressors")]
"""What the driver reads back of a model set: everything but the heavy columns."""


@dataclass(frozen=True)
class TrainedModelSet:
    uri: str
    summary: pd.DataFrame  # SUMMARY_COLUMNS, one row per series
    retraining: pd.DataFrame  # key, retrain (bool), reason: why each series was retrained or carried over


@dataclass(frozen=True)
class Retraining:
    """Which series a run retrains. The others keep their model: its row is carried into the new
    model set by reference (the bytes stay in the set that trained it)."""

    previous: dict[str, list[str]]  # model set -> the keys whose latest model it holds
    max_age: dt.timedelta | None  # a model older than this is retrained; None: retrain every series
    config_version: str  # a model trained with another configuration is retrained


def train_model_set(spark: SparkSession, lake, pairs: pd.DataFrame, config: TrainingConfig, model_set: str,
                    prior: PanelPrior | None, retraining: Retraining) -> TrainedModelSet:
    """Train the series of ``pairs`` (key, store_id, item_id) that need it and write them, with
    the carried-over rows of the others, as model set ``model_set``."""
    series = read_current(spark, lake, layout.SERIES)
    if series is None:
        raise LookupError("store_item_series has not been materialized yet")
    first = series.agg(F.first("freq").alias("freq"), F.max("date").alias("end")).first()
    # a table written by an older release may spell the period as configured (MS, QS): pandas
    # periods take only the normalised spelling
    freq, end = normalize_freq(first["freq"]), first["end"]
    raw_calendar = read_current(spark, lake, layout.RAW_CALENDAR)
    calendar = (calendar_rows(raw_calendar, spark.createDataFrame(pairs), plan_after(end, freq))
                if raw_calendar is not None else None)
    selected = with_input_versions(spark, only_keys(series, keys_frame(spark, pairs["key"].tolist())), calendar, freq,
                                   end, config.resolved(freq)[0])
    decisions = retraining_decisions(spark, lake, selected, retraining)
    to_train = pairs[pairs["key"].isin(decisions.loc[decisions["retrain"], "key"])]
    carried = carried_rows(spark, lake, retraining.previous, decisions.loc[~decisions["retrain"], "key"].tolist())
    rows = None
    if len(to_train):
        chosen = keys_frame(spark, to_train["key"].tolist())
        rows = _train(series, only_keys(selected, chosen), None if calendar is None else only_keys(calendar, chosen),
                      to_train, config, model_set, prior, retraining.config_version, freq, end)
    rows = carried if rows is None else rows if carried is None else rows.unionByName(carried)
    if rows is None:
        raise LookupError(f"no series found for the {len(pairs)} selected store-items")
    uri = write_model_set(lake, rows, model_set)
    summary = read_model_set(spark, lake, model_set).select(*SUMMARY_COLUMNS).toPandas()
    return TrainedModelSet(uri, summary, decisions)


def with_input_versions(spark: SparkSession, selected: DataFrame, calendar: DataFrame | None, freq: str,
                        end: dt.date, horizon: int) -> DataFrame:
    """``selected`` with each series' ``data_version`` (of its dates and units) extended, for a
    series whose price or promotion varies (the only ones the calendar candidates learn from), by
    digests of that history and of the planned calendar of the ``horizon`` periods after its own
    end (the only plan rows the core reads; a plan reaching further changes nothing). A new plan
    or a corrected price then retrains the series like new sales do; other series keep their data
    version. Order-free digests (XOR of row hashes): no rows are collected."""
    per_key = selected.groupBy("key").agg(
        F.first("data_version").alias("data_version"), F.max("date").alias("_end"),
        ((F.max("price") > F.min("price")) | (F.max("promo") > F.min("promo"))).alias("_varies"),
        F.bit_xor(F.xxhash64("date", "price", "promo")).alias("_history"))
    if calendar is not None:
        # a series ends on one of the last periods (late stores: engine.series); a generous margin,
        # the plan rows before plan_after are not in ``calendar`` anyway
        last = pd.period_range(end=pd.Period(end, freq), periods=default_late_periods(freq) + 2 + horizon, freq=freq)
        bounds = spark.createDataFrame([(p.start_time.date(), p.end_time.date(), (p + horizon).end_time.date())
                                        for p in last], "_end date, _after date, _through date")
        windows = per_key.select("key", "_end").join(F.broadcast(bounds), "_end")
        plan = (calendar.join(windows, "key").where((F.col("date") > F.col("_after")) & (F.col("date") <= F.col("_through")))
                .groupBy("key").agg(F.bit_xor(F.xxhash64("date", "price", "promo")).alias("_plan")))
        per_key = per_key.join(plan, "key", "left")
    else:
        per_key = per_key.withColumn("_plan", F.lit(None).cast("long"))
    extended = F.substring(F.sha2(F.concat_ws(":", "data_version", F.col("_history").cast("string"),
                                              F.coalesce(F.col("_plan").cast("string"), F.lit(""))), 256), 1, 16)
    version = F.when(F.coalesce(F.col("_varies"), F.lit(False)), extended).otherwise(F.col("data_version"))
    return selected.drop("data_version").join(per_key.select("key", version.alias("data_version")), "key")


def retraining_decisions(spark: SparkSession, lake, selected: DataFrame, retraining: Retraining) -> pd.DataFrame:
    """key, retrain, reason for every selected series (its data version against its latest model's)."""
    current = selected.select("key", "data_version").distinct().toPandas()
    previous = pd.DataFrame(columns=["key", "prev_version", "trained_at", "status", "config_version"])
    if retraining.previous and retraining.max_age is not None:
        parts = [only_keys(read_model_set(spark, lake, name), keys_frame(spark, keys))
                 .select("key", F.col("data_version").alias("prev_version"), "trained_at", "status",
                         (F.col("config_version") if "config_version" in read_model_set(spark, lake, name).columns
                          else F.lit(None).cast("string")).alias("config_version")).toPandas()
                 for name, keys in retraining.previous.items()]
        previous = pd.concat(parts, ignore_index=True)
    decisions = current.merge(previous, on="key", how="left")
    now = pd.Timestamp(dt.datetime.now(dt.timezone.utc).replace(tzinfo=None))
    too_old = (now - pd.to_datetime(decisions["trained_at"])) > (retraining.max_age or dt.timedelta(0))
    reasons = [
        (pd.Series(retraining.max_age is None, index=decisions.index), "full retrain requested"),
        (decisions["prev_version"].isna(), "new series (no model yet)"),
        (decisions["status"] == status.FAILED, "its last training failed"),
        (decisions["config_version"] != retraining.config_version, "the training configuration changed"),
        (decisions["prev_version"] != decisions["data_version"], "its data changed (sales, prices or planned calendar)"),
        (too_old, f"its model is older than {retraining.max_age}"),
    ]
    decisions["reason"] = "unchanged: model carried over"
    for condition, reason in reversed(reasons):
        decisions.loc[condition.fillna(True).astype(bool), "reason"] = reason
    decisions["retrain"] = ~decisions["reason"].str.startswith("unchanged")
    return decisions[["key", "retrain", "reason"]]


def carried_rows(spark: SparkSession, lake, previous: dict[str, list[str]], keys: list[str]) -> DataFrame | None:
    """The latest model-set rows of ``keys``, their model bytes left where they are (by reference)."""
    if not keys:
        return None
    wanted = set(keys)
    parts = []
    for name, of_set in previous.items():
        mine = [k for k in of_set if k in wanted]
        if mine:
            rows = only_keys(read_model_set(spark, lake, name), keys_frame(spark, mine))
            parts.append(rows.withColumn("model", F.lit(None).cast("binary")))
    out = parts[0]
    for part in parts[1:]:
        out = out.unionByName(part, allowMissingColumns=True)
    # a set written before a column existed gets it empty
    return out.select(*[c if c in out.columns else F.lit(None).cast(MODEL_SET.spark_type(c)).alias(c)
                        for c in MODEL_SET.names])


def _train(series: DataFrame, selected: DataFrame, calendar: DataFrame | None, pairs: pd.DataFrame,
           config: TrainingConfig, model_set: str, prior: PanelPrior | None, config_version: str, freq: str,
           end: dt.date) -> DataFrame:
    """The trained rows of ``selected``, the series of ``pairs`` (``series``: all of them, for the
    cold starts' item profiles), with their planned ``calendar``; the table is at ``freq`` up to ``end``."""
    profiles = item_profiles(series, selected, config, freq, end)
    calibration = cold_start_calibration(series, config, freq, end) if profiles else None
    window = config.history_window(freq)
    if window:  # only the latest periods cross the shuffle (the core cuts each series to exactly its window)
        selected = selected.where(F.col("date") >= F.lit(_start(end, freq, window + 1)))
    pooled = (pooled_backtests(selected, calendar, config, freq)
              if any(get(c).pooled for c in config.candidates_for(freq)) else None)
    keep = set(sample_keys(pairs["key"].tolist()))
    return train_models(selected, config, model_set, calendar, profiles, prior, pooled, calibration, keep,
                        config_version=config_version, n_series=len(pairs))


def item_profiles(all_series: DataFrame, selected: DataFrame, config: TrainingConfig, freq: str,
                  end: dt.date) -> dict[str, pd.Series]:
    """item_id -> the item's mean units per period across its established stores (those with
    enough history to backtest) over the last seasons, for the items of selected series too
    short to backtest: the cold-start model."""
    minimum = config.min_history(freq)
    short = (selected.groupBy("key", "item_id").agg(F.count(F.lit(1)).alias("n"))
             .where(F.col("n") < minimum))
    items = [r["item_id"] for r in short.select("item_id").distinct().collect()]
    if not items:
        return {}
    horizon, season_length = config.resolved(freq)
    return _item_means(all_series, items, minimum, _start(end, freq, max(4 * season_length, 2 * horizon)))


def plan_after(end: dt.date, freq: str) -> dt.date:
    """The day after which the planned calendar is read for series that end at ``end``: back by
    the late-store tolerance, since a late store's series end before the others' (engine.series).
    The core reads each series' own horizon from its rows by date, so earlier rows are ignored."""
    return _start(end, freq, default_late_periods(freq) + 2) - dt.timedelta(days=1)


def _start(end: dt.date, freq: str, periods: int) -> dt.date:
    return (pd.Period(pd.Timestamp(end), freq=freq) - (periods - 1)).start_time.date()


def _item_means(all_series: DataFrame, items: list[str], minimum: int, start: dt.date) -> dict[str, pd.Series]:
    """item_id -> mean units per period from ``start`` across the item's series of at least ``minimum`` points."""
    of_items = all_series.where(F.col("item_id").isin(items))
    established = (of_items.groupBy("key").agg(F.count(F.lit(1)).alias("n"))
                   .where(F.col("n") >= minimum).select("key"))
    rows = (of_items.join(established, "key").where(F.col("date") >= F.lit(start))
            .groupBy("item_id", "date").agg(F.avg("units").alias("units")).toPandas())
    return {item: g.set_index(pd.to_datetime(g["date"]))["units"].sort_index() for item, g in rows.groupby("item_id")}


def cold_start_calibration(all_series: DataFrame, config: TrainingConfig, freq: str, end: dt.date,
                           sample: int = 300) -> ColdStartCalibration:
    """The panel's calibration of cold-start intervals: up to ``sample`` established series (by a
    hash of their key), cut short and forecast as cold starts (forecasting.cold_start.calibrate)."""
    from manymodels_assets.forecasting.frequency import period_index

    minimum = config.min_history(freq)
    horizon, season_length = config.resolved(freq)
    window = max(4 * season_length, 2 * horizon)
    start = _start(end, freq, max(window, minimum) + horizon)
    long_enough = (all_series.groupBy("key", "item_id").agg(F.count(F.lit(1)).alias("n"))
                   .where(F.col("n") >= minimum + horizon).orderBy(F.xxhash64("key")).limit(sample).select("key"))
    recent = (all_series.join(F.broadcast(long_enough), "key").where(F.col("date") >= F.lit(start))
              .select("key", "item_id", "date", "units").toPandas())
    profiles = _item_means(all_series, sorted(recent["item_id"].unique()), minimum, start) if len(recent) else {}
    samples = [(pd.Series(g["units"].to_numpy(dtype=float), index=period_index(g.sort_values("date")["date"], freq)),
                profiles.get(item)) for (_, item), g in recent.sort_values("date").groupby(["key", "item_id"])]
    return calibrate(samples, horizon, season_length, minimum, config.interval_level)


def train_models(series: DataFrame, config: TrainingConfig, model_set: str, calendar: DataFrame | None = None,
                 profiles: dict[str, pd.Series] | None = None, prior: PanelPrior | None = None,
                 pooled: DataFrame | None = None, calibration: ColdStartCalibration | None = None,
                 keep_backtests: set[str] | None = None, config_version: str | None = None,
                 n_series: int = 1) -> DataFrame:
    """One model-set row per series key, trained inside Spark tasks.

    ``calendar``: planned price/promotion rows (key, store_id, item_id, date, price, promo) for
    dates after the history; ``profiles``: item profiles for the cold start of short series;
    ``prior``: what the previous training run learned across its series; ``pooled``: key,
    pooled (the pooled candidates' backtests per series, engine.pooled); ``calibration``: of
    cold-start intervals; ``keep_backtests``: keys whose candidate backtests the row keeps.
    """
    profiles, keep_backtests = profiles or {}, keep_backtests or set()
    cols = ["key", "store_id", "item_id", "date", "units", "price", "promo", "freq", "data_version"]
    rows = (series.select(*cols).withColumn("is_calendar", F.lit(False))
            .withColumn("pooled", F.lit(None).cast("string")))
    if calendar is not None:  # calendar rows ride along in the same group, flagged, with no units
        calendar_rows = (calendar.withColumn("units", F.lit(None).cast("double"))
                         .withColumn("freq", F.lit(None).cast("string"))
                         .withColumn("data_version", F.lit(None).cast("string")).select(*cols)
                         .withColumn("is_calendar", F.lit(True)).withColumn("pooled", F.lit(None).cast("string")))
        rows = rows.unionByName(calendar_rows)
    if pooled is not None:  # so does the series' pooled backtest: one extra row
        rows = rows.unionByName(pooled.withColumn("is_calendar", F.lit(True)), allowMissingColumns=True)

    def one(pdf: pd.DataFrame) -> pd.DataFrame:
        from manymodels_assets.forecasting.pooled import unpack
        from manymodels_assets.forecasting.training import train_series

        payloads = pdf["pooled"].dropna()
        pdf = pdf[pdf["pooled"].isna()]
        is_calendar = pdf["is_calendar"].astype(bool)
        history, its_calendar = pdf[~is_calendar], pdf[is_calendar][["date", "price", "promo"]]
        first = (history if len(history) else pdf).iloc[0]
        row = train_series(first["key"], first["store_id"], first["item_id"],
                           history[["date", "units", "price", "promo"]], first["freq"] or "D", config,
                           calendar=its_calendar if len(its_calendar) else None,
                           item_profile=profiles.get(first["item_id"]),
                           prior=prior, pooled=unpack(payloads.iloc[0]) if len(payloads) else None,
                           cold_start=calibration, keep_backtests=first["key"] in keep_backtests,
                           data_version=first["data_version"] if len(history) else None)
        row["model_set"], row["config_version"] = model_set, config_version
        return pd.DataFrame([row])[MODEL_SET.names]

    return apply_per_group(rows, ["key"], one, MODEL_SET.spark_ddl(), n_series)


def calendar_rows(calendar: DataFrame, pairs: DataFrame, after: dt.date) -> DataFrame:
    """The planned calendar of the given series (key, store_id, item_id) after ``after``."""
    return calendar.where(F.col("date") > F.lit(after)).join(F.broadcast(pairs), ["store_id", "item_id"])


def plot_rows(spark: SparkSession, lake, model_set: str, keys: list[str]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(model-set rows, series history: key, date, units) of a few series, for their plots."""
    wanted = keys_frame(spark, keys)
    models = with_models(spark, lake, only_keys(read_model_set(spark, lake, model_set), wanted)).toPandas()
    history = only_keys(read_current(spark, lake, layout.SERIES), wanted).select("key", "date", "units").toPandas()
    return models, history
