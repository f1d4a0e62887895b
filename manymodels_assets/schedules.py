"""Schedules: retrain (then promote and rescore, via the sensors) and rescore, over every store-item."""
import dagster as dg

from manymodels_assets.jobs import batch_scoring_pipeline, training_pipeline
from manymodels_assets.sensors import all_store_items


@dg.schedule(cron_schedule="0 2 * * *", job=training_pipeline, execution_timezone="UTC")
def daily_retraining(context: dg.ScheduleEvaluationContext):
    """02:00 UTC: trains every store-item in one range run; with the sensors on, promotion and
    rescoring follow."""
    tags = all_store_items(context.instance)
    return dg.RunRequest(tags=tags) if tags else dg.SkipReason("no store_item partitions yet")


@dg.schedule(cron_schedule="0 6 * * *", job=batch_scoring_pipeline, execution_timezone="UTC")
def daily_rescoring(context: dg.ScheduleEvaluationContext):
    """06:00 UTC: forecasts every store-item from the production model set and reloads the
    warehouse (for deployments that retrain less often than they score)."""
    tags = all_store_items(context.instance)
    return dg.RunRequest(tags=tags) if tags else dg.SkipReason("no store_item partitions yet")


ALL_SCHEDULES = [daily_retraining, daily_rescoring]
