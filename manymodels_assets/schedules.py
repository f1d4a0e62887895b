"""Schedules: retrain (then promote and rescore, via the sensors) and rescore, over every store-item."""
import dagster as dg

from manymodels_assets.jobs import batch_scoring_pipeline, training_pipeline
from manymodels_assets.sensors import all_store_items


@dg.schedule(cron_schedule="0 2 * * 1-6", job=training_pipeline, execution_timezone="UTC")
def daily_retraining(context: dg.ScheduleEvaluationContext):
    """02:00 UTC, Monday to Saturday: one range run over every store-item that retrains the
    series whose data changed or whose model is old (the others keep theirs); with the sensors
    on, promotion and rescoring follow."""
    tags = all_store_items(context.instance)
    return dg.RunRequest(tags=tags) if tags else dg.SkipReason("no store_item partitions yet")


@dg.schedule(cron_schedule="0 2 * * 0", job=training_pipeline, execution_timezone="UTC")
def weekly_full_retraining(context: dg.ScheduleEvaluationContext):
    """02:00 UTC on Sundays: every store-item refit from scratch (against model drift), then
    promoted champion against challenger."""
    tags = all_store_items(context.instance)
    full = {"ops": {"trained_models": {"config": {"retrain": "all"}}}}
    return dg.RunRequest(tags=tags, run_config=full) if tags else dg.SkipReason("no store_item partitions yet")


@dg.schedule(cron_schedule="0 6 * * *", job=batch_scoring_pipeline, execution_timezone="UTC")
def daily_rescoring(context: dg.ScheduleEvaluationContext):
    """06:00 UTC: forecasts every store-item from the production model set and reloads the
    warehouse (for deployments that retrain less often than they score)."""
    tags = all_store_items(context.instance)
    return dg.RunRequest(tags=tags) if tags else dg.SkipReason("no store_item partitions yet")


ALL_SCHEDULES = [daily_retraining, weekly_full_retraining, daily_rescoring]
