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
                  "interval_scale", "last_date", "freq", "model_set", "horizon", "calendar_regressors", "series_end"]
_WINDOW = "key string, first_step int, last_step int"


@dataclass(frozen=True)
class ForecastUpdate:
    version: str  # of the forecasts table
    rescored: int  # series forecast anew (their production model changed, or their window moved)
    unchanged: int  # series whose rows were kept: the same model forecasts the same periods
    steps: pd.DataFrame  # key, steps (forecast rows written), wanted (rows its window asks for)
    sample: pd.DataFrame  # forecast rows of up to four series
    recent: pd.DataFrame  # key, date, units: their recent history


def series_ends(spark: SparkSession, lake, key_df: DataFrame) -> tuple[DataFrame | None, dt.date | None]:
    """(key, series_end: the newest date of each series of ``key_df``; the newest date of the
    whole series table, so that a backfill of some stores forecasts through the same periods as
    the others)."""
    series = read_current(spark, lake, layout.SERIES)
    if series is None:
        return None, None
    ends = only_keys(series.select("key", "date"), key_df).groupBy("key").agg(F.max("date").alias("series_end"))
    return ends.cache(), series.agg(F.max("date")).first()[0]


def _horizon(row, horizon: int | None) -> int:
    return horizon or int(row["horizon"])


def forecast_windows(models: DataFrame, horizon: int | None, panel_end) -> DataFrame:
    """Per model row, the steps its forecast covers (forecasting.scoring.forecast_window), before
    any cap of a model on the planned calendar or a direct one: the periods after the series'
    newest data through ``horizon`` (None: the model's own) periods past the panel's newest."""

    def batches(iterator):
        from manymodels_assets.forecasting.scoring import forecast_window

        for pdf in iterator:
            windows = [forecast_window(row, _horizon(row, horizon), row["series_end"], panel_end)
                       for row in pdf.to_dict("records")]
            yield pd.DataFrame({"key": pdf["key"], "first_step": [w[0] for w in windows],
                                "last_step": [w[1] for w in windows]}, columns=["key", "first_step", "last_step"])

    return models.select("key", "last_date", "freq", "horizon", "series_end").mapInPandas(batches, _WINDOW)


def score_models(models: DataFrame, horizon: int | None, parallelism: int, panel_end=None) -> DataFrame:
    """Forecast rows for every model row (``horizon`` None: the horizon the model was trained
    for), after its series' newest data (column ``series_end``) through that many periods past
    ``panel_end``."""

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
    panel's newest: a production model that promotion kept, trained some periods ago, forecasts
    from where its sales end now, and a late store's series through the same periods as the
    others. A series whose production model (the model set that trained it) and window are
    those its current rows were made with keeps its rows, relabelled with this production
    version: the same fitted model forecasts the same numbers.
    """
    key_df = keys_frame(spark, keys)
    ends, panel_end = series_ends(spark, lake, key_df)
    models = only_keys(read_model_set(spark, lake, model_set), key_df)
    models = (models.join(ends, "key", "left") if ends is not None
              else models.withColumn("series_end", F.lit(None).cast("date")))
    windows = forecast_windows(models, horizon, panel_end).cache()
    with_model = models.where(F.col("model").isNotNull()).select("key")
    current = read_current(spark, lake, layout.FORECASTS)
    kept = None
    if current is not None:
        made = (only_keys(current, key_df).groupBy("key")
                .agg(F.first("model_set").alias("made_with"), F.count(F.lit(1)).alias("steps"),
                     F.min("step").alias("lo"), F.max("step").alias("hi")))
        same = (models.select("key", "model_set").join(windows, "key").join(made, "key")
                .where((F.col("made_with") == F.col("model_set")) & (F.col("lo") == F.col("first_step"))
                       & (F.col("hi") == F.col("last_step")) & (F.col("steps") == F.col("hi") - F.col("lo") + 1))
                .select("key"))
        unchanged = [r["key"] for r in same.collect()]
        if unchanged:
            kept = only_keys(current, keys_frame(spark, unchanged)).withColumn("production_version",
                                                                              F.lit(production_version))
            models = models.join(F.broadcast(keys_frame(spark, unchanged)), "key", "left_anti")
    scored_at = dt.datetime.now(dt.timezone.utc).replace(microsecond=0, tzinfo=None)
    forecasts = (score_models(models, horizon, parallelism(spark), panel_end)
                 .withColumn("production_version", F.lit(production_version))
                 .withColumn("scored_at", F.lit(scored_at).cast("timestamp"))
                 .select(*FORECASTS.names))
    n_kept = 0 if kept is None else len(unchanged)
    if kept is not None:
        forecasts = forecasts.unionByName(kept.select(*FORECASTS.names))
    version = replace_keys(spark, lake, layout.FORECASTS, forecasts, key_df, run_id, sort_by=("key", "step"))
    written = only_keys(spark.read.parquet(lake.spark_uri(layout.FORECASTS, version)), key_df)
    counted = written.groupBy("key").agg(F.count(F.lit(1)).alias("steps"))
    steps = (windows.join(with_model, "key").join(counted, "key", "left").fillna(0, ["steps"])
             .select("key", "steps", (F.col("last_step") - F.col("first_step") + 1).alias("wanted")).toPandas())
    if ends is not None:
        ends.unpersist()
    windows.unpersist()
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
