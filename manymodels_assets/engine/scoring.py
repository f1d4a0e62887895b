"""Forecast with a model set: map the core's ``forecast_series`` over model rows with Spark."""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import pandas as pd
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from manymodels_assets import layout
from manymodels_assets.engine.modelsets import read_model_set
from manymodels_assets.engine.tables import is_connect, keys_frame, only_keys, read_current, replace_keys
from manymodels_assets.forecasting.scoring import FORECAST_ROW, forecast_windows
from manymodels_assets.schemas import FORECASTS

_SCORING_INPUT = ["key", "store_id", "item_id", "status", "forecaster", "model", "interval_halfwidth",
                  "interval_scale", "last_date", "freq", "model_set", "horizon", "calendar_regressors", "series_end"]


@dataclass(frozen=True)
class ForecastUpdate:
    version: str  # of the forecasts table
    rescored: int  # series forecast anew (their production model changed, or their window moved)
    unchanged: int  # series whose rows were kept: the same model forecasts the same periods
    steps: pd.DataFrame  # key, steps (forecast rows written), wanted (rows its window asks for)
    sample: pd.DataFrame  # forecast rows of up to four series
    recent: pd.DataFrame  # key, date, units: their recent history


def _horizon(row, horizon: int | None) -> int:
    return horizon or int(row["horizon"])


def score_models(models: DataFrame, horizon: int | None, parallelism: int, panel_end=None) -> DataFrame:
    """Forecast rows for every model row (``horizon`` None: the horizon the model was trained
    for), after its series' newest data (column ``series_end``) through that many periods past
    ``panel_end`` (see forecasting.scoring.forecast_windows)."""

    def batches(iterator):
        from manymodels_assets.forecasting.scoring import forecast_series

        for pdf in iterator:
            frames = [forecast_series(row, _horizon(row, horizon), series_end=row["series_end"], panel_end=panel_end)
                      for row in pdf.to_dict("records")]
            if frames:
                yield pd.concat(frames, ignore_index=True)

    return (models.where(F.col("model").isNotNull()).select(*_SCORING_INPUT)
                  .repartition(parallelism, "key").mapInPandas(batches, FORECAST_ROW.spark_ddl()))


def update_forecasts(spark: SparkSession, lake, keys: list[str], model_set: str, production_version: str,
                     horizon: int | None, run_id: str) -> ForecastUpdate:
    """Forecast ``keys`` from ``model_set`` into a new version of the forecasts table (their old rows replaced).

    Each series is forecast after its own newest data, through ``horizon`` periods past the
    panel's newest (the whole series table's, so a backfill of some stores reaches the same
    periods as the others): a production model that promotion kept, trained some periods ago,
    forecasts from where its sales end now, and a late store's series through the same periods
    as the others. A series whose production model (the model set that trained it) and window
    are those its current rows were made with keeps its rows, relabelled with this production
    version: the same fitted model forecasts the same numbers.
    """
    key_df = keys_frame(spark, keys)
    models = only_keys(read_model_set(spark, lake, model_set), key_df)
    series = read_current(spark, lake, layout.SERIES)
    panel_end = series.agg(F.max("date")).first()[0] if series is not None else None
    plan = (models.where(F.col("model").isNotNull())
            .select("key", "model_set", "last_date", "freq", "horizon").toPandas())
    # only a model trained before the panel's newest date can be older than its series' newest data
    ends = None
    if panel_end is not None and (plan["last_date"] < panel_end).any():
        older = models.where(F.col("last_date") < F.lit(panel_end)).select("key")
        ends = (only_keys(series.select("key", "date"), older).groupBy("key")
                .agg(F.max("date").alias("series_end")).cache())
        models = models.join(F.broadcast(ends), "key", "left")
        plan = plan.merge(ends.toPandas(), on="key", how="left")
    else:
        models = models.withColumn("series_end", F.lit(None).cast("date"))
        plan["series_end"] = None
    plan = plan.join(forecast_windows(plan, horizon, panel_end))
    plan["wanted"] = plan["last_step"] - plan["first_step"] + 1
    current = read_current(spark, lake, layout.FORECASTS)
    unchanged = []
    if current is not None:
        made = (only_keys(current, key_df).groupBy("key")
                .agg(F.first("model_set").alias("made_with"), F.count(F.lit(1)).alias("steps"),
                     F.min("step").alias("lo"), F.max("step").alias("hi")).toPandas())
        both = plan.merge(made, on="key")
        unchanged = both.loc[(both["made_with"] == both["model_set"]) & (both["lo"] == both["first_step"])
                             & (both["hi"] == both["last_step"]) & (both["steps"] == both["wanted"]), "key"].tolist()
    if unchanged:
        models = models.join(F.broadcast(keys_frame(spark, unchanged)), "key", "left_anti")
    scored_at = dt.datetime.now(dt.timezone.utc).replace(microsecond=0, tzinfo=None)
    forecasts = (score_models(models, horizon, parallelism(spark), panel_end)
                 .withColumn("production_version", F.lit(production_version))
                 .withColumn("scored_at", F.lit(scored_at).cast("timestamp"))
                 .select(*FORECASTS.names))
    if unchanged:
        kept = only_keys(current, keys_frame(spark, unchanged)).withColumn("production_version",
                                                                          F.lit(production_version))
        forecasts = forecasts.unionByName(kept.select(*FORECASTS.names))
    try:
        version = replace_keys(spark, lake, layout.FORECASTS, forecasts, key_df, run_id, sort_by=("key", "step"))
    finally:
        if ends is not None:
            ends.unpersist()
    written = only_keys(spark.read.parquet(lake.spark_uri(layout.FORECASTS, version)), key_df)
    # a direct model or one on the planned calendar kept long enough may have no period left to forecast
    counted = written.groupBy("key").agg(F.count(F.lit(1)).alias("steps")).toPandas()
    steps = plan[["key", "wanted"]].merge(counted, on="key", how="left").fillna({"steps": 0}).astype({"steps": int})
    sample_keys = sorted(counted["key"])[:4]
    sample = written.where(F.col("key").isin(sample_keys)).orderBy("key", "step").toPandas()
    recent = (series.where(F.col("key").isin(sample_keys)).select("key", "date", "units").orderBy("key", "date")
              .toPandas().groupby("key").tail(120) if series is not None and sample_keys
              else pd.DataFrame(columns=["key", "date", "units"]))
    return ForecastUpdate(version, len(plan) - len(unchanged), len(unchanged), steps, sample, recent)


def read_forecasts(spark: SparkSession, lake, keys: list[str]) -> pd.DataFrame | None:
    """The current forecast rows of ``keys``, or None if no forecasts were ever written."""
    forecasts = read_current(spark, lake, layout.FORECASTS)
    return None if forecasts is None else only_keys(forecasts, keys_frame(spark, keys)).toPandas()


def read_actuals(spark: SparkSession, lake, keys: list[str], days: int) -> pd.DataFrame:
    """What ``keys`` sold over the last ``days`` days of each series (store_id, item_id, date, units):
    the warehouse keeps the days some forecast was made for, to compare with."""
    series = read_current(spark, lake, layout.SERIES)
    if series is None:
        return pd.DataFrame(columns=["store_id", "item_id", "date", "units"])
    rows = only_keys(series, keys_frame(spark, keys))
    last = rows.groupBy("key").agg(F.max("date").alias("_last"))
    return (rows.join(last, "key").where(F.col("date") > F.date_sub(F.col("_last"), days))
                .select("store_id", "item_id", "date", "units").toPandas())


def parallelism(spark: SparkSession) -> int:
    """Scoring tasks: two per core. A Spark Connect session has no SparkContext, so the server's core
    count is out of the client's sight: the shuffle partitions stand in."""
    if is_connect(spark):
        return int(spark.conf.get("spark.sql.shuffle.partitions", "8"))
    return max(2, 2 * spark.sparkContext.defaultParallelism)
