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
from manymodels_assets.forecasting.scoring import FORECAST_ROW
from manymodels_assets.schemas import FORECASTS

_SCORING_INPUT = ["key", "store_id", "item_id", "status", "forecaster", "model", "interval_halfwidth",
                  "interval_scale", "last_date", "freq", "model_set", "horizon", "calendar_regressors"]


@dataclass(frozen=True)
class ForecastUpdate:
    version: str  # of the forecasts table
    rescored: int  # series forecast anew (their production model changed, or the horizon)
    unchanged: int  # series whose rows were kept: the same model forecasts the same numbers
    steps: pd.DataFrame  # key, steps: forecast rows per series
    sample: pd.DataFrame  # forecast rows of up to four series
    recent: pd.DataFrame  # key, date, units: their recent history


def score_models(models: DataFrame, horizon: int | None, parallelism: int) -> DataFrame:
    """Forecast rows for every model row (``horizon`` None: the horizon the model was trained for)."""

    def batches(iterator):
        from manymodels_assets.forecasting.scoring import forecast_series

        for pdf in iterator:
            frames = [forecast_series(row, horizon or int(row["horizon"])) for row in pdf.to_dict("records")]
            if frames:
                yield pd.concat(frames, ignore_index=True)

    return (models.where(F.col("model").isNotNull()).select(*_SCORING_INPUT)
                  .repartition(parallelism, "key").mapInPandas(batches, FORECAST_ROW.spark_ddl()))


def update_forecasts(spark: SparkSession, lake, keys: list[str], model_set: str, production_version: str,
                     horizon: int | None, run_id: str) -> ForecastUpdate:
    """Forecast ``keys`` from ``model_set`` into a new version of the forecasts table (their old rows replaced).

    A series whose production model (the model set that trained it) and horizon are those its
    current rows were made with keeps its rows, relabelled with this production version: the
    same fitted model forecasts the same numbers.
    """
    key_df = keys_frame(spark, keys)
    models = only_keys(read_model_set(spark, lake, model_set), key_df)
    current = read_current(spark, lake, layout.FORECASTS)
    kept = None
    if current is not None:
        made = (only_keys(current, key_df).groupBy("key")
                .agg(F.first("model_set").alias("made_with"), F.count(F.lit(1)).alias("steps")))
        wanted = F.coalesce(F.lit(horizon).cast("int"), F.col("horizon"))
        same = (models.join(made, "key").where((F.col("made_with") == F.col("model_set")) & (F.col("steps") == wanted))
                .select("key"))
        unchanged = [r["key"] for r in same.collect()]
        if unchanged:
            kept = only_keys(current, keys_frame(spark, unchanged)).withColumn("production_version",
                                                                              F.lit(production_version))
            models = models.join(F.broadcast(keys_frame(spark, unchanged)), "key", "left_anti")
    scored_at = dt.datetime.now(dt.timezone.utc).replace(microsecond=0, tzinfo=None)
    forecasts = (score_models(models, horizon, parallelism(spark))
                 .withColumn("production_version", F.lit(production_version))
                 .withColumn("scored_at", F.lit(scored_at).cast("timestamp"))
                 .select(*FORECASTS.names))
    n_kept = 0 if kept is None else len(unchanged)
    if kept is not None:
        forecasts = forecasts.unionByName(kept.select(*FORECASTS.names))
    version = replace_keys(spark, lake, layout.FORECASTS, forecasts, key_df, run_id, sort_by=("key", "step"))
    written = only_keys(spark.read.parquet(lake.spark_uri(layout.FORECASTS, version)), key_df)
    steps = written.groupBy("key").agg(F.count(F.lit(1)).alias("steps")).toPandas()
    sample_keys = sorted(steps["key"])[:4]
    sample = written.where(F.col("key").isin(sample_keys)).orderBy("key", "step").toPandas()
    history = read_current(spark, lake, layout.SERIES)
    recent = (history.where(F.col("key").isin(sample_keys)).select("key", "date", "units").orderBy("key", "date")
              .toPandas().groupby("key").tail(120) if history is not None and sample_keys
              else pd.DataFrame(columns=["key", "date", "units"]))
    return ForecastUpdate(version, len(steps) - n_kept, n_kept, steps, sample, recent)


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
