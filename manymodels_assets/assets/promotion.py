"""``promoted_models``: the business rule per series, and the production model set it yields."""
import dataclasses
from typing import Optional

import dagster as dg
import pandas as pd

from manymodels_assets import layout
from manymodels_assets.aliases import PREVIOUS, PRODUCTION
from manymodels_assets.assets import lineage, report
from manymodels_assets.assets.common import partition_range, selected_keys, stamped_id
from manymodels_assets.assets.models import trained_models
from manymodels_assets.assets.report import table
from manymodels_assets.assets.run_defaults import DEPLOYMENT, DocumentedConfig
from manymodels_assets.engine.promotion import decide, write_production_set
from manymodels_assets.forecasting.promotion import PromotionRule, margin_summary
from manymodels_assets.partitions import store_item
from manymodels_assets.resources.lake import LakeResource
from manymodels_assets.resources.registry import ModelRegistryResource, model_set_of
from manymodels_assets.resources.spark import SparkResource

_D = PromotionRule()


@DEPLOYMENT.of("promoted_models")
class PromotionConfig(DocumentedConfig):
    metric: str = _D.metric
    """Champion against challenger: the new model replaces the production model of a series only
    when it forecasts the newest periods neither trained on better by this metric (mase, wape,
    smape, mae, rmse or mape)."""
    min_improvement: float = _D.min_improvement
    """How much better (relative) the new model must be on that window (0: any improvement)."""
    min_new_points: int = _D.min_new_points
    """Fewest new periods to compare on; with fewer the production model stays."""
    first_model_max_mase: float = _D.first_model_max_mase
    """A series' first model is deployed when its backtest MASE is below this (1: beats seasonal naive)."""
    min_accuracy: Optional[float] = _D.min_accuracy
    """Optional extra gate: backtest accuracy (1 - WAPE) at least this (empty: off)."""
    max_mase: Optional[float] = _D.max_mase
    """Optional extra gate: backtest MASE below this (empty: off)."""
    deploy_first_model: bool = _D.deploy_first_model
    """A first model that fails its gate is still deployed, flagged "provisional", so the series has a forecast."""

    def to_core(self) -> PromotionRule:
        return PromotionRule(**self.model_dump())

    def check(self) -> None:
        self.to_core()


@dg.asset(partitions_def=store_item, backfill_policy=dg.BackfillPolicy.single_run(), deps=[trained_models],
          group_name="promotion", kinds={"spark", "mlflow"})
def promoted_models(context: dg.AssetExecutionContext, config: PromotionConfig, spark: SparkResource,
                    lake: LakeResource,
                    production_registry: ModelRegistryResource) -> dg.MaterializeResult:
    """Champion against challenger for each selected series' newly trained model (the model set
    of the training run this promotion follows, run tag `manymodels/model_set`, else each
    partition's latest `trained_models`): it replaces the production model only when it
    forecasts the newest periods that neither trained on better (same metric, same actuals);
    a series' first model is deployed when its backtest beats seasonal naive (MASE < 1).

    Decisions: **promoted**, **kept** (the production model stays), **provisional** (a first
    model that failed its gate, deployed so the series has a forecast), **rejected**. The production model set = the new models that
    are promoted or provisional + the previous production models of every other series. It is
    registered in the separate production registry; alias `production` moves to it and
    `previous` keeps the one before, for rollback. Promotions take turns (a lake lock), and the
    alias moves only if it still points where this run found it. A first promotion that deploys
    nothing (every first model rejected) registers nothing, and no scoring follows it.
    """
    rule = config.valid().to_core()
    keys = selected_keys(context)
    session = spark.spark_session
    sources, untrained = lineage.model_sets_by_key(context, trained_models.key, keys)
    if not sources:
        raise dg.Failure(f"no trained models for {partition_range(keys)}: materialize trained_models first")
    with lake.lock(layout.PRODUCTION_LOCK):  # one promotion at a time reads and moves the alias
        current = production_registry.version_by_alias(PRODUCTION)
        current_set = model_set_of(current)
        decided = decide(session, lake, sources, current_set, rule)
        decisions, counts, candidates = decided.decisions, decided.counts, decided.candidates
        if decided.unchanged:
            production, production_set = current, current_set
            context.log.info("every deployable model is already in production: no new production version"
                             if current is not None else
                             "no model to deploy (every first model was rejected: see `decisions`) and no "
                             "production model set yet: nothing registered, nothing to score")
        else:
            production_set = stamped_id("prod", context.run_id)
            uri, size = write_production_set(session, lake, sources, current_set, decided.deploy, production_set)
            tags = {"model_set": production_set, "series_count": str(size),
                    "source_model_sets": ",".join(sorted(sources)), "partition_range": partition_range(keys),
                    "lake_uri": uri, "dagster_run_id": context.run_id}
            production = production_registry.record_model_set(
                production_set, tags, dataclasses.asdict(rule), {f"series_{d}": n for d, n in counts.items()},
                {"decisions": decisions})
            production_registry.move_alias(PRODUCTION, production.version, current.version if current else None,
                                           previous=PREVIOUS)
    if production is not None:  # what the scoring after this run scores with (sensors.score)
        context.instance.add_run_tags(context.run_id, {lineage.PRODUCTION_VERSION_TAG: str(production.version)})

    return report.result(context, keys, data_version=production_set, metadata={
        **counts,
        "not_trained": len(untrained),
        "not_in_model_set": len(set(keys) - set(untrained) - set(candidates["key"])),
        "training_model_sets": ", ".join(sorted(sources)),
        "production_model_set": production_set or "none",
        "production_version": f"{production_registry.model_name} v{production.version}" if production else "none",
        "previous_production_version": f"v{current.version}" if current is not None else "none",
        "partition_range": partition_range(keys),
        "decisions": table(pd.DataFrame(list(counts.items()), columns=["decision", "series"])),
        "by_failed_check": table(decisions.groupby(["decision", "failed_check"]).size().reset_index(name="series")),
        **{f"challenge_{k}": v for k, v in margin_summary(decisions).items()},
        "challenge_margins": report.histogram(decisions["margin"], "new vs production model on the newest data",
                                              "relative improvement (> 0: the new model wins)"),
        "examples": table(decisions.groupby("decision").head(3)[["key", "decision", "reason"]]),
    })
