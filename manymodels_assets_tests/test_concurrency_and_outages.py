"""Two runs at once lose nothing; a registry that goes away mid-promotion changes nothing.
The runs are processes of their own, their Spark the suite's Connect server (conftest.py)."""
import os

import dagster as dg
import pandas as pd
import pytest

from manymodels_assets import layout
from manymodels_assets.definitions import build_definitions
from manymodels_assets.demo import run_job
from manymodels_assets.sales_generator import GeneratorConfig, generate
from manymodels_assets.sensors import all_store_items
from manymodels_assets.settings import Settings
from manymodels_assets_tests.dagster_procs import instance_at, make_home
from manymodels_assets_tests.servers import mlflow_server, serving_pid
from manymodels_assets_tests.test_faults import child, finished

pytestmark = pytest.mark.integration


def _setup(tmp_path, stores: int, **env):
    home, dagster_home = tmp_path / "mm", make_home(tmp_path / "dagster")
    settings = Settings.from_env({"MANYMODELS_HOME": str(home), "MANYMODELS_SPARK_MASTER": "local[2]",
                                  "MANYMODELS_SPARK_DRIVER_MEMORY": "1g", **env})
    generate(GeneratorConfig(stores=stores, items=2, days=100, seed=3), os.path.join(settings.lake_root, "landing"))
    return home, dagster_home, build_definitions(settings)


def _both(home, dagster_home, remote, job, first: tuple, second: tuple):
    env = {"MANYMODELS_SPARK_REMOTE": remote}
    runs = [child(home, dagster_home, job, *(["--range", *r] if r else []), extra_env=env) for r in (first, second)]
    results = [finished(p) for p in runs]
    assert [rc for rc, _ in results] == [0, 0], [err[-2000:] for _, err in results]


def test_two_runs_at_once_lose_nothing(tmp_path, spark_remote):
    home, dagster_home, defs = _setup(tmp_path, stores=3)
    lake = defs.resources["lake"]
    with instance_at(dagster_home) as instance:
        # two ingests of the same landing zone at once: one publishes, the other finds it published
        _both(home, dagster_home, spark_remote, "ingest_pipeline", (), ())
        raw = pd.read_parquet(lake.uri(layout.RAW_SALES, lake.current_version(layout.RAW_SALES)))
        assert len(raw) == 6 * 100 and not raw.duplicated(["store_id", "item_id", "date"]).any()
        keys = instance.get_dynamic_partitions("store_item")
        assert len(keys) == 6
        low, high = (keys[0], keys[2]), (keys[3], keys[5])
        # different partitions: each run reads, merges and publishes the series table
        _both(home, dagster_home, spark_remote, "training_pipeline", low, high)
        series = pd.read_parquet(lake.uri(layout.SERIES, lake.current_version(layout.SERIES)), columns=["key"])
        assert sorted(series["key"].unique()) == sorted(keys)
        assert (series.groupby("key").size() == 100).all()
        # the same partitions trained twice at once: two complete model sets, the series not doubled
        _both(home, dagster_home, spark_remote, "training_pipeline", low, low)
        series = pd.read_parquet(lake.uri(layout.SERIES, lake.current_version(layout.SERIES)), columns=["key"])
        assert (series.groupby("key").size() == 100).all() and series["key"].nunique() == 6
        training = defs.resources["training_registry"]
        versions = training.client.search_model_versions(f"name='{training.model_name}'")
        assert len(versions) == 4 and all(v.tags["series_count"] == "3" for v in versions)
        # different partitions: each promotion composes on the production set the other left
        _both(home, dagster_home, spark_remote, "promotion_pipeline", low, high)
        live = defs.resources["production_registry"].version_by_alias("production")
        production = pd.read_parquet(lake.uri(layout.model_set(live.tags["model_set"])), columns=["key"])
        assert sorted(production["key"]) == sorted(keys)
        assert defs.resources["production_registry"].version_by_alias("previous") is not None
        # the same partitions twice at once: forecasts and warehouse rows replaced, not doubled
        _both(home, dagster_home, spark_remote, "batch_scoring_pipeline", (keys[0], keys[-1]), (keys[0], keys[-1]))
        forecasts = pd.read_parquet(lake.uri(layout.FORECASTS, lake.current_version(layout.FORECASTS)))
        assert len(forecasts) == 6 * 28 and not forecasts.duplicated(["key", "step"]).any()
        n = defs.resources["warehouse"].query("SELECT COUNT(*) AS n FROM forecasts")["n"][0]
        assert int(n) == 6 * 28
        runs = instance.get_runs()
        assert all(r.status == dg.DagsterRunStatus.SUCCESS for r in runs), [(r.job_name, r.status) for r in runs]


def test_a_registry_that_goes_away_mid_promotion_changes_nothing(tmp_path, spark_remote):
    folder = tmp_path / "production-mlflow"
    with mlflow_server(folder) as (uri, server):
        port = uri.rsplit(":", 1)[1]
        home, dagster_home, defs = _setup(tmp_path, stores=1, MANYMODELS_PRODUCTION_TRACKING_URI=uri)
        with instance_at(dagster_home) as instance:
            for job in ("ingest_pipeline", "training_pipeline", "promotion_pipeline"):
                run_job(defs, instance, job, all_store_items(instance) if job != "ingest_pipeline" else {})
            before = defs.resources["production_registry"].version_by_alias("production").version
            # a new store-item arrives and is trained: its first model is for the next promotion to deploy
            new = pd.DataFrame({"store_id": "S0009", "item_id": "I00001", "units": 4.0,
                                "date": pd.date_range("2023-01-01", periods=100).date.astype(str)})
            os.makedirs(os.path.join(str(home), "lake", "landing", "sales", "d2"))
            new.to_parquet(os.path.join(str(home), "lake", "landing", "sales", "d2", "new.parquet"))
            for job in ("ingest_pipeline", "training_pipeline"):
                run_job(defs, instance, job, all_store_items(instance) if job != "ingest_pipeline" else {})
            # The server dies after the production set is written, before anything is registered.
            rc, err = finished(child(home, dagster_home, "promotion_pipeline", "--at",
                                     "manymodels_assets.assets.promotion:write_production_set", "--after",
                                     "--kill-pid", str(serving_pid(server)),
                                     extra_env={"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0",
                                                "MLFLOW_HTTP_REQUEST_TIMEOUT": "5",
                                                "MANYMODELS_PRODUCTION_TRACKING_URI": uri,
                                                "MANYMODELS_SPARK_REMOTE": spark_remote}))
            assert rc == 1 and f"127.0.0.1:{port}" in err, err[-2000:]
            failed = instance.get_runs(filters=dg.RunsFilter(job_name="promotion_pipeline"), limit=1)[0]
            assert failed.status == dg.DagsterRunStatus.FAILURE
    with mlflow_server(folder, port=int(port), log_name="mlflow-2.log"):
        registry = defs.resources["production_registry"]
        registry._client = None  # a new connection to the restarted server
        assert registry.version_by_alias("production").version == before
        assert registry.version_by_alias("previous") is None
        versions = registry.client.search_model_versions(f"name='{registry.model_name}'")
        assert [v.version for v in versions] == [before]  # no half-registered version
