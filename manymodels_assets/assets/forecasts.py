"""``batch_forecasts`` and ``synapse_predictions``: score with the production model set, load the warehouse."""

import datetime as dt
from typing import Optional

import dagster as dg
from manymodels_assets.resources.spark import SparkResource
from pyspark.sql import functions as F

from manymodels_assets.assets import plots
from manymodels_assets.assets.common import FORECASTS_TABLE, SERIES_TABLE, key_pairs, range_label, selected_keys, table
from manymodels_assets.assets.promotion import PRODUCTION, model_set_of, promoted_models
from manymodels_assets.engine.modelsets import read_model_set
from manymodels_assets.engine.pipeline import score_models
from manymodels_assets.engine.tables import keys_frame, only_keys, read_current, replace_keys
from manymodels_assets.partitions import store_item
from manymodels_assets.resources.lake import LakeResource
from manymodels_assets.resources.registry import ModelRegistryResource
from manymodels_assets.resources.warehouse import WarehouseResource


class ScoringConfig(dg.Config):
    horizon: Optional[int] = None
    """Steps to forecast; default: each model's training horizon (28 days, or 12 weeks for weekly data)."""


@dg.asset(partitions_def=store_item, backfill_policy=dg.BackfillPolicy.single_run(), deps=[promoted_models],
          group_name="scoring", kinds={"spark", "parquet"})
def batch_forecasts(context: dg.AssetExecutionContext, config: ScoringConfig, spark: SparkResource,
                    lake: LakeResource, production_registry: ModelRegistryResource) -> dg.MaterializeResult:
    """Forecasts for the selected series from the production model set (alias `production`):
    a point forecast and a prediction interval per step, written to the lake's `forecasts`
    table. Rescoring a series replaces its previous forecast rows.
    """
    keys = selected_keys(context)
    session = spark.spark_session
    production = production_registry.version_by_alias(PRODUCTION)
    if production is None:
        raise dg.Failure("no production model set: materialize promoted_models first")
    model_set = model_set_of(production)
    key_df = keys_frame(session, keys)
    models = only_keys(read_model_set(session, lake, model_set), key_df)
    scored_at = dt.datetime.now(dt.timezone.utc).replace(microsecond=0, tzinfo=None)
    parallelism = _parallelism(session)
    forecasts = (score_models(models, config.horizon, parallelism)
                 .withColumn("scored_at", F.lit(scored_at).cast("timestamp"))
                 .withColumn("production_version", F.lit(str(production.version))))
    version = replace_keys(session, lake, FORECASTS_TABLE, forecasts, key_df, context.run_id, sort_by=("key", "step"))

    written = only_keys(session.read.parquet(lake.spark_uri(FORECASTS_TABLE, version)), key_df)
    per_series = written.groupBy("key").agg(F.count(F.lit(1)).alias("steps")).toPandas()
    missing = sorted(set(keys) - set(per_series["key"]))
    sample_keys = sorted(per_series["key"])[:4]
    sample = written.where(F.col("key").isin(sample_keys)).orderBy("key", "step").toPandas()
    history = read_current(session, lake, SERIES_TABLE)
    recent = (history.where(F.col("key").isin(sample_keys)).orderBy("key", "date").toPandas()
              .groupby("key").tail(120) if history is not None and sample_keys else sample.iloc[0:0])
    return dg.MaterializeResult(metadata={
        "series_scored": len(per_series),
        "rows": int(per_series["steps"].sum()),
        "series_without_production_model": len(missing),
        "production_model_set": model_set,
        "production_version": f"{production_registry.model_name} v{production.version}",
        "selection": range_label(keys),
        "forecast_plot": plots.forecast_panels(recent, sample, "Recent history and forecast with interval")
        if len(sample) else dg.MetadataValue.text("no forecasts"),
        "sample": table(sample[["key", "forecast_date", "step", "yhat", "yhat_lower", "yhat_upper", "forecaster"]]),
        "version": version,
        "path": dg.MetadataValue.path(lake.uri(FORECASTS_TABLE, version)),
    })


@dg.asset(partitions_def=store_item, backfill_policy=dg.BackfillPolicy.single_run(), deps=[batch_forecasts],
          group_name="scoring", kinds={"odbc", "synapse"})
def synapse_predictions(context: dg.AssetExecutionContext, spark: SparkResource, lake: LakeResource,
                        warehouse: WarehouseResource) -> dg.MaterializeResult:
    """The selected series' forecasts loaded into the warehouse table `forecasts` (store_id,
    item_id, forecast_date, step, yhat, yhat_lower, yhat_upper, model_set, forecaster, scored_at).

    In one transaction the series' old rows are deleted and the new ones inserted: a rerun
    replaces, never duplicates, and a failed load leaves the previous rows.
    """
    keys = selected_keys(context)
    session = spark.spark_session
    forecasts = read_current(session, lake, FORECASTS_TABLE)
    if forecasts is None:
        raise dg.Failure("batch_forecasts has not been materialized yet")
    frame = only_keys(forecasts, keys_frame(session, keys)).toPandas()
    inserted = warehouse.replace_forecasts(frame, key_pairs(keys))
    return dg.MaterializeResult(metadata={
        "rows_loaded": inserted,
        "series": int(frame["key"].nunique()),
        "table": warehouse.table,
        "dialect": warehouse.dialect,
        "selection": range_label(keys),
    })


def _parallelism(session) -> int:
    """Scoring tasks: two per core; Spark Connect sessions do not expose the core count."""
    try:
        return max(2, 2 * session.sparkContext.defaultParallelism)
    except Exception:
        return int(session.conf.get("spark.sql.shuffle.partitions", "8"))
