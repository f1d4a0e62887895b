"""``promoted_models``: the business rule decides; the production model set is registered separately."""

from typing import Optional

import dagster as dg
import pandas as pd
from manymodels_assets.resources.spark import SparkResource
from manymodels_assets.assets.common import range_label, selected_keys, stamped_id, table
from manymodels_assets.assets.models import trained_models
from manymodels_assets.engine.modelsets import compose_production_set, read_model_set, write_model_set
from manymodels_assets.engine.tables import keys_frame, only_keys
from manymodels_assets.forecasting.promotion import DECISIONS, PROMOTED, PROVISIONAL, PromotionRule, decide_promotions
from manymodels_assets.partitions import store_item
from manymodels_assets.resources.lake import LakeResource
from manymodels_assets.resources.registry import ModelRegistryResource

PRODUCTION = "production"
PREVIOUS = "previous"


class PromotionConfig(dg.Config):
    min_accuracy: float = 0.8
    """Promote only if backtest accuracy (1 - WAPE) is at least this."""
    max_mase: float = 1.0
    """Promote only if backtest MASE is below this (better than seasonal naive)."""
    deploy_first_model: bool = True
    """A series with no production model gets its new model even if it fails the rule ("provisional")."""


def model_set_of(version) -> Optional[str]:
    return version.tags.get("model_set") if version is not None else None


@dg.asset(partitions_def=store_item, backfill_policy=dg.BackfillPolicy.single_run(), deps=[trained_models],
          group_name="promotion", kinds={"spark", "mlflow"})
def promoted_models(context: dg.AssetExecutionContext, config: PromotionConfig, spark: SparkResource,
                    lake: LakeResource, training_registry: ModelRegistryResource,
                    production_registry: ModelRegistryResource) -> dg.MaterializeResult:
    """Applies the promotion rule (default: backtest 1 - WAPE >= 0.8 and MASE < 1) to each
    selected series of the newest model set.

    Decisions: **promoted** (passed), **kept** (failed; the previous production model stays),
    **provisional** (failed, but the series had no production model, so it gets this one),
    **rejected** (failed, nothing deployed). The production model set = the new models that
    are promoted or provisional + the previous production models of every other series. It is
    registered in the separate production registry; alias `production` moves to it and
    `previous` keeps the one before, for rollback.
    """
    keys = selected_keys(context)
    session = spark.spark_session
    newest = training_registry.latest_version()
    if newest is None:
        raise dg.Failure("no model set in the training registry: materialize trained_models first")
    new_set = model_set_of(newest)
    new_rows = only_keys(read_model_set(session, lake, new_set), keys_frame(session, keys))
    candidates = new_rows.select("key", "status", "wape", "mase", "error", "model_set").toPandas()

    current = production_registry.version_by_alias(PRODUCTION)
    current_set = model_set_of(current)
    current_rows = read_model_set(session, lake, current_set) if current_set else None
    deployed = (current_rows.select("key", "model_set").toPandas() if current_rows is not None
                else pd.DataFrame(columns=["key", "model_set"]))

    rule = PromotionRule(min_accuracy=config.min_accuracy, max_mase=config.max_mase,
                         deploy_first_model=config.deploy_first_model)
    decisions = decide_promotions(candidates, deployed["key"], rule)
    deploy = decisions.loc[decisions["decision"].isin([PROMOTED, PROVISIONAL]), ["key"]]
    counts = {d: int((decisions["decision"] == d).sum()) for d in DECISIONS}
    not_in_set = sorted(set(keys) - set(candidates["key"]))

    already = deployed.merge(candidates[["key", "model_set"]], on=["key", "model_set"])
    unchanged = current is not None and set(deploy["key"]) <= set(already["key"])
    if unchanged:
        production_version, production_set = current.version, current_set
        context.log.info("every deployable model is already in production: no new production version")
    else:
        production_set = stamped_id("prod", context.run_id)
        deploy_df = session.createDataFrame(deploy) if len(deploy) else keys_frame(session, [])
        uri = write_model_set(lake, compose_production_set(new_rows, current_rows, deploy_df), production_set)
        size = read_model_set(session, lake, production_set).count()
        tags = {"model_set": production_set, "series_count": str(size), "source_model_set": new_set,
                "partition_range": range_label(keys), "lake_uri": uri, "dagster_run_id": context.run_id,
                "training_version": str(newest.version)}
        run_id = production_registry.start_run(production_set, tags=tags)
        production_registry.log_run(run_id, params={"min_accuracy": rule.min_accuracy, "max_mase": rule.max_mase,
                                                    "deploy_first_model": rule.deploy_first_model},
                                    metrics={f"series_{d}": n for d, n in counts.items()},
                                    tables={"decisions": decisions}, manifest={**tags, "uri": uri})
        version = production_registry.register_model_set(run_id, tags)
        if current is not None:
            production_registry.set_alias(PREVIOUS, current.version)
        production_registry.set_alias(PRODUCTION, version.version)
        production_version = version.version

    return dg.MaterializeResult(metadata={
        **{d: n for d, n in counts.items()},
        "not_in_newest_model_set": len(not_in_set),
        "training_model_set": new_set,
        "production_model_set": production_set,
        "production_version": f"{production_registry.model_name} v{production_version}",
        "previous_production_version": f"v{current.version}" if current is not None else "none",
        "decisions": table(pd.DataFrame(list(counts.items()), columns=["decision", "series"])),
        "by_failed_check": table(decisions.groupby(["decision", "failed_check"]).size()
                                 .reset_index(name="series")),
        "examples": table(decisions.groupby("decision").head(3)[["key", "decision", "reason"]]),
    })
