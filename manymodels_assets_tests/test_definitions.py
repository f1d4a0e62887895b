import os
import subprocess
import sys

import dagster as dg

from manymodels_assets.definitions import build_definitions
from manymodels_assets.settings import Settings

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_dagster_definitions_validate(tmp_path):
    env = {**os.environ, "MANYMODELS_HOME": str(tmp_path), "DAGSTER_HOME": str(tmp_path)}
    out = subprocess.run([os.path.join(os.path.dirname(sys.executable), "dagster"), "definitions", "validate",
                          "-w", "workspace.yaml"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stdout + out.stderr


def test_graph_shape_and_jobs(tmp_path):
    defs = build_definitions(Settings.from_env({"MANYMODELS_HOME": str(tmp_path)}))
    graph = defs.resolve_asset_graph()
    keys = {k.to_user_string() for k in graph.get_all_asset_keys()}
    assert keys == {"raw_sales", "store_item_series", "trained_models", "promoted_models", "batch_forecasts",
                    "synapse_predictions"}
    parents = graph.get(dg.AssetKey("synapse_predictions")).parent_keys
    assert {k.to_user_string() for k in parents} == {"batch_forecasts"}
    for name in ("ingest_pipeline", "training_pipeline", "promotion_pipeline", "batch_scoring_pipeline"):
        assert defs.resolve_job_def(name)


def test_the_warehouse_asset_names_the_configured_dialect(tmp_path):
    for odbc, dialect in (("", "sqlite"), ("Driver={PostgreSQL Unicode};Server=h", "postgresql")):
        env = {"MANYMODELS_HOME": str(tmp_path), **({"MANYMODELS_WAREHOUSE_ODBC": odbc} if odbc else {})}
        node = build_definitions(Settings.from_env(env)).resolve_asset_graph().get(dg.AssetKey("synapse_predictions"))
        assert set(node.kinds) == {"odbc", dialect}


def test_settings_switch_targets_from_the_environment(tmp_path):
    s = Settings.from_env({"MANYMODELS_HOME": str(tmp_path),
                           "MANYMODELS_LAKE_ROOT": "abfss://lake@acct.dfs.core.windows.net/mm",
                           "MANYMODELS_SPARK_REMOTE": "sc://127.0.0.1:15002",
                           "MANYMODELS_TRAINING_TRACKING_URI": "http://127.0.0.1:5000",
                           "MANYMODELS_WAREHOUSE_ODBC": "Driver={PostgreSQL Unicode};Server=127.0.0.1"})
    assert s.lake_root.startswith("abfss://") and s.spark_remote == "sc://127.0.0.1:15002"
    assert s.training_tracking_uri == "http://127.0.0.1:5000"
    assert s.production_tracking_uri.startswith("sqlite:///")
    assert s.warehouse_dialect == "postgresql" and s.warehouse_odbc_set
    assert s.local_folders() == [f"{tmp_path}/mlflow", f"{tmp_path}/warehouse"]


def test_a_spark_connect_token_stays_out_of_the_resource_config_and_the_summary(tmp_path, monkeypatch):
    from manymodels_assets.definitions import build_resources
    from manymodels_assets.settings import redacted

    url = "sc://adb-1.azuredatabricks.net:443/;token=dapiSECRET;x-databricks-cluster-id=0123"
    monkeypatch.setenv("MANYMODELS_SPARK_REMOTE", url)
    spark = build_resources(Settings.from_env({"MANYMODELS_HOME": str(tmp_path), "MANYMODELS_SPARK_REMOTE": url}))["spark"]
    assert "dapiSECRET" not in repr(spark.spark_config) and "spark.master" not in spark.spark_config
    assert isinstance(spark.remote, dg.EnvVar) and spark.remote.env_var_name == "MANYMODELS_SPARK_REMOTE"
    assert spark.process_config_and_initialize().remote == url  # resolved only when the session starts
    assert redacted(url) == "sc://adb-1.azuredatabricks.net:443/;token=***;x-databricks-cluster-id=0123"
    assert redacted("https://user:pa55@mlflow.example.com/") == "https://user:***@mlflow.example.com/"
    assert redacted("Server=db;Uid=u;Pwd=x;AccountKey=abc") == "Server=db;Uid=u;Pwd=***;AccountKey=***"
    assert redacted("sqlite:////tmp/m.db") == "sqlite:////tmp/m.db"
