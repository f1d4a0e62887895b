"""Jobs mirroring the reference architecture's pipelines."""
import dagster as dg

from manymodels_assets.partitions import store_item

ingest_pipeline = dg.define_asset_job(
    "ingest_pipeline", selection=["raw_sales"],
    description="Read the landing zone into raw_sales and register new store-items as partitions.")
training_pipeline = dg.define_asset_job(
    "training_pipeline", selection=["store_item_series", "trained_models"], partitions_def=store_item,
    description="Build the series and train one model per store-item; the run's models form one model set.")
promotion_pipeline = dg.define_asset_job(
    "promotion_pipeline", selection=["promoted_models"], partitions_def=store_item,
    description="Apply the promotion rule and register the production model set.")
batch_scoring_pipeline = dg.define_asset_job(
    "batch_scoring_pipeline", selection=["batch_forecasts", "synapse_predictions"], partitions_def=store_item,
    description="Forecast with the production model set and load the warehouse.")

ALL_JOBS = [ingest_pipeline, training_pipeline, promotion_pipeline, batch_scoring_pipeline]
PARTITIONED_JOBS = ("training_pipeline", "promotion_pipeline", "batch_scoring_pipeline")
"""The jobs over store_item partitions, in the order a cycle runs them."""
