"""``batch_forecasts`` and ``synapse_predictions``: score with the production model set, load the warehouse."""
from typing import Optional

import dagster as dg

from manymodels_assets import layout
from manymodels_assets.aliases import PRODUCTION
from manymodels_assets.assets import lineage, report
from manymodels_assets.assets.common import Stopwatch, key_pairs, partition_range, selected_keys
from manymodels_assets.assets.promotion import promoted_models
from manymodels_assets.assets.run_defaults import DEPLOYMENT, DocumentedConfig
from manymodels_assets.engine.scoring import read_actuals, read_forecasts, update_forecasts
from manymodels_assets.partitions import store_item
from manymodels_assets.resources.lake import LakeResource
from manymodels_assets.resources.registry import ModelRegistryResource, model_set_of
from manymodels_assets.resources.spark import SparkResource
from manymodels_assets.resources.warehouse import WarehouseResource


@DEPLOYMENT.of("batch_forecasts")
class ScoringConfig(DocumentedConfig):
    horizon: Optional[int] = None
    """Periods to forecast past the panel's newest data; empty: each model's training horizon (by
    default 28 days, 12 weeks, 12 months, 8 quarters). Every series is forecast from after its own
    newest data through those periods: a late store's series for a few more, a production model
    kept by promotion from where its sales end now (its steps count from its own training end).
    Models on the planned calendar and direct ones (the pooled candidates, a cold start's item
    profile) stop at their training horizon from their training end: to forecast further with
    them, train with a longer one (`series_short_of_horizon` counts them)."""

    def check(self) -> None:
        if self.horizon is not None and self.horizon < 1:
            raise ValueError(f"horizon must be >= 1 (or empty: each model's own), not {self.horizon}")


@dg.asset(partitions_def=store_item, backfill_policy=dg.BackfillPolicy.single_run(), deps=[promoted_models],
          group_name="scoring", kinds={"spark", "parquet"})
def batch_forecasts(context: dg.AssetExecutionContext, config: ScoringConfig, spark: SparkResource,
                    lake: LakeResource, production_registry: ModelRegistryResource) -> dg.MaterializeResult:
    """Forecasts for the selected series from the production model set: the version the
    promotion run this scoring follows registered (run tag `manymodels/production_version`),
    else the one alias `production` points at. A point forecast and a prediction interval per
    period, from after each series' newest data through the horizon past the panel's newest
    (late stores and models kept by promotion included), written to the lake's `forecasts`
    table; rescoring a series replaces its old rows.
    """
    config.valid()
    keys = selected_keys(context)
    pinned = context.run.tags.get(lineage.PRODUCTION_VERSION_TAG)
    production = production_registry.version(pinned) if pinned else production_registry.version_by_alias(PRODUCTION)
    if production is None:
        raise dg.Failure("no production model set: materialize promoted_models first (if it ran, it deployed "
                         "nothing: every first model was rejected, see its `decisions`)")
    model_set, timed = model_set_of(production), Stopwatch()
    with timed("score"):
        scored = update_forecasts(spark.spark_session, lake, keys, model_set, str(production.version),
                                  config.horizon, context.run_id)
    sample = scored.sample
    return report.result(context, keys, metadata={
        "series_scored": len(scored.steps),
        "series_rescored": scored.rescored,
        "series_unchanged": scored.unchanged,
        "rows": int(scored.steps["steps"].sum()),
        "series_without_production_model": len(set(keys) - set(scored.steps["key"])),
        "series_short_of_horizon": int((scored.steps["steps"] < scored.steps["wanted"]).sum()),
        "production_model_set": model_set,
        "production_version": f"{production_registry.model_name} v{production.version}",
        "partition_range": partition_range(keys),
        "forecast_plot": report.forecast_panels(scored.recent, sample, "Recent history and forecast with interval")
        if len(sample) else dg.MetadataValue.text("no forecasts"),
        "sample": report.table(sample[["key", "forecast_date", "step", "yhat", "yhat_lower", "yhat_upper",
                                       "forecaster", "status"]]),
        "version": scored.version,
        "path": dg.MetadataValue.path(lake.uri(layout.FORECASTS, scored.version)),
        **timed.metadata(),
    })


def build_warehouse_asset(dialect: str) -> dg.AssetsDefinition:
    """The warehouse load; its kinds name the configured warehouse dialect."""

    @dg.asset(name="synapse_predictions", partitions_def=store_item, backfill_policy=dg.BackfillPolicy.single_run(),
              deps=[batch_forecasts], group_name="scoring", kinds={"odbc", dialect})
    def synapse_predictions(context: dg.AssetExecutionContext, spark: SparkResource, lake: LakeResource,
                            warehouse: WarehouseResource) -> dg.MaterializeResult:
        """The selected series' forecasts loaded into the warehouse table `forecasts` (one row per
        series and step: store_id, item_id, forecast_date, step, yhat, yhat_lower, yhat_upper,
        forecaster, status, model_set, production_version, scored_at), also kept in
        `forecasts_history`, and what sold on forecast dates in `forecasts_actuals` (views
        `forecasts_latest`, `forecasts_vs_actual`, `forecasts_accuracy` for reports).

        The rows are staged as parquet in the lake, then in one transaction the series' old rows
        are deleted and the new ones inserted: a rerun replaces, never duplicates, and a failed
        load leaves the previous rows.
        """
        keys, timed = selected_keys(context), Stopwatch()
        with timed("read"):
            frame = read_forecasts(spark.spark_session, lake, keys)
            actuals = read_actuals(spark.spark_session, lake, keys, warehouse.actuals_days)
        if frame is None:
            raise dg.Failure("batch_forecasts has not been materialized yet")
        with timed("load"):
            inserted = warehouse.replace_forecasts(frame, key_pairs(keys), actuals, lake=lake, load_id=context.run_id)
        return dg.MaterializeResult(metadata={
            "rows_loaded": inserted,
            "series": int(frame["key"].nunique()),
            "table": warehouse.table,
            "dialect": warehouse.dialect,
            "partition_range": partition_range(keys),
            **timed.metadata(),
        })

    return synapse_predictions
