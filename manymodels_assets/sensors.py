"""Sensors: new landing files start an ingest; new sales retrain; training promotes; promotion rescores.

All follow-on runs are single range runs over every store-item partition, so each stage is
one run and one Spark job however many series there are.
"""
import hashlib
import json

import dagster as dg

from manymodels_assets import landing
from manymodels_assets.assets import lineage
from manymodels_assets.jobs import batch_scoring_pipeline, ingest_pipeline, promotion_pipeline, training_pipeline
from manymodels_assets.partitions import store_item
from manymodels_assets.resources.lake import LakeResource

RANGE_START = "dagster/asset_partition_range_start"
RANGE_END = "dagster/asset_partition_range_end"


def all_store_items(instance: dg.DagsterInstance) -> dict[str, str] | None:
    """Run tags that select every store-item partition as one range, or None if there are none."""
    keys = instance.get_dynamic_partitions(store_item.name)
    return {RANGE_START: keys[0], RANGE_END: keys[-1]} if keys else None


def follow_on_tags(run: dg.DagsterRun, lineage_tag: str) -> dict[str, str]:
    """The same partition range as ``run``, pinned to what ``run`` produced (its lineage tag)."""
    return {k: run.tags[k] for k in (RANGE_START, RANGE_END, lineage_tag) if k in run.tags}


def landing_zone(context: dg.SensorEvaluationContext, lake: LakeResource):
    """Starts `ingest_pipeline` when files are added to or rewritten in the landing zone
    (`landing/sales/<drop>/`, `landing/calendar/<drop>/`). The cursor keeps each file's version
    (etag, or modified time and size)."""
    seen = json.loads(context.cursor) if context.cursor else {}
    current = landing.snapshot(lake.landing_fs, lake.landing_uri())
    changed = sorted(label for label, version in current.items() if seen.get(label) != version)
    context.update_cursor(json.dumps(current, sort_keys=True))
    if not changed:
        return dg.SkipReason("no new or changed landing files")
    run_key = hashlib.sha1(json.dumps({k: current[k] for k in changed}).encode()).hexdigest()[:16]
    context.log.info(f"{len(changed)} new or changed landing file(s), e.g. {changed[:3]}")
    return dg.RunRequest(run_key=run_key, tags={"manymodels/landing_files": str(len(changed))})


def retrain(context: dg.SensorEvaluationContext, asset_event: dg.EventLogEntry):
    """After `raw_sales` is materialized, trains every store-item in one range run (the run
    retrains only series whose data changed or whose model is old; see trained_models)."""
    tags = all_store_items(context.instance)
    if tags is None:
        return dg.SkipReason("no store_item partitions yet")
    return dg.RunRequest(run_key=f"train-after-{asset_event.run_id}", tags=tags)


def promote(context: dg.RunStatusSensorContext):
    """After a successful `training_pipeline` run, promotes the same store-items from the model
    set that run trained."""
    return dg.RunRequest(run_key=f"promote-{context.dagster_run.run_id}",
                         tags=follow_on_tags(context.dagster_run, lineage.MODEL_SET_TAG))


def score(context: dg.RunStatusSensorContext):
    """After a successful `promotion_pipeline` run, rescores the same store-items with the
    production version that run registered, and loads the warehouse."""
    if lineage.PRODUCTION_VERSION_TAG not in context.dagster_run.tags:
        return dg.SkipReason(f"promotion run {context.dagster_run.run_id} deployed no model and there is no "
                             "production model set yet: nothing to score")
    return dg.RunRequest(run_key=f"score-{context.dagster_run.run_id}",
                         tags=follow_on_tags(context.dagster_run, lineage.PRODUCTION_VERSION_TAG))


def build_sensors(interval: int = 60) -> list:
    """The four sensors, evaluated every ``interval`` seconds (MANYMODELS_SENSOR_INTERVAL_SECONDS)."""
    success = dg.DagsterRunStatus.SUCCESS
    return [
        dg.sensor(name="landing_zone_sensor", job=ingest_pipeline, minimum_interval_seconds=interval)(landing_zone),
        dg.asset_sensor(name="retrain_on_new_sales", asset_key=dg.AssetKey("raw_sales"), job=training_pipeline,
                        minimum_interval_seconds=interval)(retrain),
        dg.run_status_sensor(name="promote_after_training", run_status=success, monitored_jobs=[training_pipeline],
                             request_job=promotion_pipeline, minimum_interval_seconds=interval)(promote),
        dg.run_status_sensor(name="score_after_promotion", run_status=success, monitored_jobs=[promotion_pipeline],
                             request_job=batch_scoring_pipeline, minimum_interval_seconds=interval)(score),
    ]
