"""The Dagster code location: assets, jobs and resources, configured from MANYMODELS_* variables."""
from __future__ import annotations

import os

import dagster as dg
from dagster_azure.adls2 import ADLS2DefaultAzureCredential, ADLS2Key, ADLS2SASToken

from manymodels_assets.assets.forecasts import batch_forecasts, build_warehouse_asset
from manymodels_assets.assets.models import trained_models
from manymodels_assets.assets.promotion import promoted_models
from manymodels_assets.assets.raw_sales import raw_sales
from manymodels_assets.assets.run_defaults import DEPLOYMENT
from manymodels_assets.assets.series import store_item_series
from manymodels_assets.jobs import ALL_JOBS
from manymodels_assets.schedules import ALL_SCHEDULES
from manymodels_assets.sensors import build_sensors
from manymodels_assets.resources import LakeResource, ModelRegistryResource, WarehouseResource, spark_resource
from manymodels_assets.settings import Settings


def build_resources(settings: Settings) -> dict:
    for folder in settings.local_folders():
        os.makedirs(folder, exist_ok=True)
    artifacts = os.path.join(settings.home, "mlflow", "artifacts")
    local = lambda uri: uri.startswith("sqlite:")  # noqa: E731  (a server picks its own artifact store)
    return {
        "spark": spark_resource(master=settings.spark_master,
                                remote=dg.EnvVar("MANYMODELS_SPARK_REMOTE") if settings.spark_remote else None,
                                driver_memory=settings.spark_driver_memory),
        "lake": lake_resource(settings),
        "training_registry": ModelRegistryResource(
            tracking_uri=settings.training_tracking_uri, experiment_name="manymodels-training",
            model_name="manymodels-training",
            artifact_location=f"file://{artifacts}/training" if local(settings.training_tracking_uri) else None),
        "production_registry": ModelRegistryResource(
            tracking_uri=settings.production_tracking_uri, experiment_name="manymodels-promotion",
            model_name="manymodels-production",
            artifact_location=f"file://{artifacts}/production" if local(settings.production_tracking_uri) else None),
        "warehouse": WarehouseResource(
            connection_string=dg.EnvVar("MANYMODELS_WAREHOUSE_ODBC") if settings.warehouse_odbc_set
            else settings.warehouse_default_odbc,
            dialect=settings.warehouse_dialect, copy_credential=settings.warehouse_copy_credential,
            copy_secret=dg.EnvVar("MANYMODELS_WAREHOUSE_COPY_SECRET") if settings.warehouse_copy_secret_set else None),
    }


def lake_resource(settings: Settings) -> LakeResource:
    """The lake and landing zone; Azure secrets come from the environment by name, never as values."""
    if settings.lake_account_key_set:
        credential = ADLS2Key(key=dg.EnvVar("MANYMODELS_LAKE_ACCOUNT_KEY"))
    elif settings.lake_sas_token_set:
        credential = ADLS2SASToken(token=dg.EnvVar("MANYMODELS_LAKE_SAS_TOKEN"))
    else:
        credential = ADLS2DefaultAzureCredential(kwargs={})
    return LakeResource(
        root=settings.lake_root, landing_root=settings.landing_root, account_name=settings.lake_account_name,
        credential=credential,
        connection_string=dg.EnvVar("MANYMODELS_LAKE_CONNECTION_STRING") if settings.lake_connection_string_set
        else None)


def build_definitions(settings: Settings) -> dg.Definitions:
    # In-process executor: every step of a run shares one Spark session instead of starting
    # a JVM per step (8-30 s each).
    if settings.run_config_file and settings.run_config_file != DEPLOYMENT.path:
        raise ValueError(f"these settings name {settings.run_config_file!r} as MANYMODELS_RUN_CONFIG, but it is read "
                         f"from the environment when manymodels_assets is imported ({DEPLOYMENT.path!r} then): "
                         "set it in the environment instead")
    DEPLOYMENT.check_all_used()
    assets = [raw_sales, store_item_series, trained_models, promoted_models, batch_forecasts,
              build_warehouse_asset(settings.warehouse_dialect)]
    return dg.Definitions(assets=assets, jobs=ALL_JOBS, sensors=build_sensors(settings.sensor_interval_seconds), schedules=ALL_SCHEDULES,
                          resources=build_resources(settings), executor=dg.in_process_executor)


defs = build_definitions(Settings.from_env())
