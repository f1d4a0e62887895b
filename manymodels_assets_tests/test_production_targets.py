"""Production targets run for real on this machine, every server started here on 127.0.0.1 with
free ports and stopped by PID: a Spark standalone cluster (master and worker from the pip pyspark),
a Spark Connect server (``sbin/start-connect-server.sh``, running Spark local[2]), and two
``mlflow server`` processes (training and production, each with its own backend store and
artifact proxy). The servers start together and are shared by the tests of this module.

Two processes run at the same time (a process holds one Spark session):

- on the cluster, with both registries over HTTP: the whole graph (``demo.run_all``, what
  ``manymodels demo`` runs), then a next day's drop through ingest, training, promotion and
  scoring, then a training run whose registry is killed just before it registers;
- through Spark Connect: ``manymodels demo``. The Connect server runs Spark in local mode, so its
  run is also the local reference: the cluster's model choices, metrics, models and forecasts must
  equal it exactly.

Then ``manymodels rollback`` moves the production alias back.
"""
import glob
import json
import os
import shutil
import subprocess
import sys
import threading
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from types import SimpleNamespace

import pandas as pd
import pytest
from mlflow import MlflowClient

from manymodels_assets import layout
from manymodels_assets.definitions import build_definitions
from manymodels_assets.resources.lake import LakeResource
from manymodels_assets.resources.warehouse import WarehouseResource
from manymodels_assets.rollback import rollback
from manymodels_assets.sales_generator import GeneratorConfig, generate
from manymodels_assets.settings import Settings
from manymodels_assets_tests.dagster_procs import make_home
from manymodels_assets_tests.servers import mlflow_server, serving_pid, spark_connect_server, spark_standalone

pytestmark = pytest.mark.integration

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DATA = dict(stores=2, items=2, seed=5)
FIRST, NEXT = "20250101T000000Z", "20250102T000000Z"
TRAINING, PRODUCTION = "manymodels-training", "manymodels-production"
NOT_COMPARED = ["fit_seconds", "model_set", "trained_at"]  # when and where, not what
TIMINGS: dict[str, float] = {}


def timed(what: str, started: float) -> None:
    TIMINGS[what] = round(time.perf_counter() - started, 1)


def run(argv, env, what: str, timeout: float = 900) -> subprocess.CompletedProcess:
    started = time.perf_counter()
    done = subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout)
    timed(what, started)
    assert done.returncode == 0, f"{what} failed:\n{done.stdout[-2000:]}\n{done.stderr[-4000:]}"
    return done


def new_home(base, landing) -> str:
    os.makedirs(base)
    shutil.copytree(landing, os.path.join(base, "lake", "landing"))
    make_home(os.path.join(base, "dagster"))
    return str(base)


def env_for(home: str, **settings) -> dict:
    return {**os.environ, "MANYMODELS_HOME": home, "DAGSTER_HOME": os.path.join(home, "dagster"),
            "PYSPARK_PYTHON": sys.executable, "MANYMODELS_SPARK_DRIVER_MEMORY": "1g", **settings}


def outputs(home: str, model_set: str | None = None, forecasts_version: str | None = None) -> dict:
    """What a run decided: its model set (choices, parameters, metrics, models) and its forecasts
    (by default the only model set and the current forecasts)."""
    lake = LakeResource(root=os.path.join(home, "lake"))
    [path] = [lake.uri(layout.model_set(model_set))] if model_set else glob.glob(lake.uri(layout.MODELS, "ms-*"))
    models = pd.read_parquet(path).drop(columns=NOT_COMPARED).sort_values("key").reset_index(drop=True)
    version = forecasts_version or lake.current_version(layout.FORECASTS)
    forecasts = pd.read_parquet(lake.uri(layout.FORECASTS, version))
    forecasts = (forecasts.drop(columns=["scored_at", "model_set"]).sort_values(["key", "step"])
                 .reset_index(drop=True))
    return {"models": models, "forecasts": forecasts}


def assert_same(got: dict, expected: dict) -> None:
    for name, frame in expected.items():
        pd.testing.assert_frame_equal(got[name], frame, check_exact=True, obj=name)


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    folder = tmp_path_factory.mktemp("targets")
    # 2 stores x 2 items x 100 days, and its 28-day price/promotion plan
    generate(GeneratorConfig(days=100, **DATA), str(folder / "landing"), drop=FIRST)
    yield folder
    print(f"\nproduction targets, seconds: {json.dumps(TIMINGS)}")


@pytest.fixture(scope="module")
def servers(base):
    """Two mlflow servers, a standalone master and worker, a Spark Connect server: started together."""
    started = time.perf_counter()
    entered, lock = [], threading.Lock()

    def enter(cm):
        value = cm.__enter__()
        with lock:
            entered.append(cm)
        return value

    def stop_all():  # by PID, all at once: one after the other they took 90 s
        with ThreadPoolExecutor(len(entered) or 1) as pool:
            list(pool.map(lambda cm: cm.__exit__(None, None, None), entered))

    with ThreadPoolExecutor(4) as pool:
        futures = [pool.submit(enter, cm) for cm in (
            mlflow_server(base / "training-mlflow"), mlflow_server(base / "production-mlflow"),
            spark_standalone(base / "spark"), spark_connect_server(base / "connect-server"))]
    try:
        (training, training_proc), (production, _), spark, (connect, connect_log) = [f.result() for f in futures]
    except BaseException:
        stop_all()
        raise
    timed("servers up (2 mlflow, Spark master + worker, Spark Connect)", started)
    try:
        yield SimpleNamespace(training=training, training_proc=training_proc, production=production, spark=spark,
                              connect=connect, connect_log=connect_log,
                              training_db=f"sqlite:///{base}/training-mlflow/mlflow.db",
                              production_artifacts=base / "production-mlflow" / "artifacts")
    finally:
        stopping = time.perf_counter()
        stop_all()
        timed("servers stopped", stopping)


def next_day_drop(folder) -> str:
    """Day 101 of the same generated sales, and the price/promotion plan of its horizon, as a drop."""
    generate(GeneratorConfig(days=101, **DATA), str(folder / "generated"), drop=NEXT)
    files = glob.glob(str(folder / "generated" / "sales" / NEXT / "*.parquet"))
    sales = pd.concat(pd.read_parquet(f) for f in files)
    os.makedirs(folder / "drop" / "sales" / NEXT)
    sales[sales["date"] == sales["date"].max()].to_parquet(folder / "drop" / "sales" / NEXT / "day-101.parquet")
    shutil.copytree(folder / "generated" / "calendar", folder / "drop" / "calendar")
    return str(folder / "drop")


@pytest.fixture(scope="module")
def runs(base, servers):
    cluster, connect = new_home(base / "cluster", base / "landing"), new_home(base / "connect", base / "landing")
    cluster_env = env_for(cluster, MANYMODELS_SPARK_MASTER=servers.spark["master"], SPARK_LOCAL_IP="127.0.0.1",
                          MANYMODELS_TRAINING_TRACKING_URI=servers.training,
                          MANYMODELS_PRODUCTION_TRACKING_URI=servers.production)
    # the training registry's HTTP process dies just before the last training run registers (no
    # retries, so the failure comes at once)
    scenario = [sys.executable, "-m", "manymodels_assets_tests.cycle_child", "--next-drop",
                next_day_drop(base / "next-day"), "--then", "training_pipeline",
                "--at", "manymodels_assets.resources.registry:ModelRegistryResource.record_model_set",
                "--kill-pid", str(serving_pid(servers.training_proc))]
    with ThreadPoolExecutor(2) as pool:
        on_cluster = pool.submit(run, scenario, {**cluster_env, "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0",
                                                 "MLFLOW_HTTP_REQUEST_TIMEOUT": "5"},
                                 "on the cluster: whole graph, next day's cycle, training with its registry killed")
        through_connect = pool.submit(run, [sys.executable, "-m", "manymodels_assets.cli", "demo"],
                                      env_for(connect, MANYMODELS_SPARK_REMOTE=servers.connect),
                                      "demo through Spark Connect")
        report = json.loads(on_cluster.result().stdout.strip().splitlines()[-1])
        through_connect.result()
    TIMINGS.update({f"  {step}": seconds for step, seconds in report["seconds"].items()})
    return SimpleNamespace(report=report, cluster_home=cluster, cluster_env=cluster_env, connect=outputs(connect),
                           cluster=outputs(cluster, report["model_set"], report["forecasts_version"]))


def aliases(uri: str) -> dict[str, str]:
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    return dict(sorted((a, str(v)) for a, v in client.get_registered_model(PRODUCTION).aliases.items()))


def versions(uri: str, name: str) -> list[str]:
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    return sorted(str(v.version) for v in client.search_model_versions(f"name='{name}'"))


def test_the_whole_graph_on_a_standalone_cluster_with_both_registries_on_mlflow_servers(runs, servers):
    # the worker's executor did the work: grouped pandas UDFs (the training) ran in its Python workers
    [executor_log] = glob.glob(os.path.join(servers.spark["work_dir"], "app-*", "*", "stderr"))
    log = open(executor_log).read()
    assert "Starting executor ID" in log and "on host 127.0.0.1" in log
    assert log.count("Finished task") > 20 and "FlatMapGroupsInBatchExec" in log
    master = json.load(urllib.request.urlopen(servers.spark["ui"] + "/json/", timeout=10))
    [app] = master["completedapps"]
    assert app["cores"] > 0 and app["state"] == "FINISHED"
    # both registries over HTTP (the training server's store read directly: its HTTP process is
    # killed by the last test's run); the artifacts went through the production server's proxy
    client = MlflowClient(servers.training_db, registry_uri=servers.training_db)
    assert client.get_model_version(TRAINING, "1").tags["model_set"] == runs.report["model_set"]
    assert versions(servers.production, PRODUCTION) == ["1", "2"]
    assert glob.glob(str(servers.production_artifacts / "**" / "manifest.json"), recursive=True)


def test_spark_connect_runs_the_whole_graph(runs, servers):
    assert "ExecuteHolder" in open(servers.connect_log).read()  # the server ran the plans
    assert len(runs.connect["models"]) == 4 and len(runs.connect["forecasts"]) == 4 * 28


def test_the_cluster_decides_exactly_what_local_mode_decides(runs):
    assert_same(runs.cluster, runs.connect)


def test_the_next_day_moves_the_aliases_and_its_sales_meet_their_forecasts(runs, servers):
    assert aliases(servers.production) == {"previous": "1", "production": "2"}
    warehouse = WarehouseResource(
        connection_string=f"Driver={{SQLite3}};Database={runs.cluster_home}/warehouse/forecasts.db")
    # day 101 arrived as an actual: the warehouse compares it with the day-100 forecast for it
    vs = warehouse.query("SELECT store_id, item_id, step, actual FROM forecasts_vs_actual")
    assert len(vs) == 4 and set(vs["step"]) == {1}
    assert set(warehouse.query("SELECT DISTINCT production_version AS v FROM forecasts")["v"]) == {"2"}


def test_training_whose_registry_dies_mid_run_fails_naming_it_and_registers_nothing(runs, servers):
    report, port = runs.report, servers.training.rsplit(":", 1)[1]
    assert report["fault_reached"] and not report["then_succeeded"]
    assert any(f"127.0.0.1:{port}" in e for e in report["then_errors"]), report["then_errors"]
    # the server's own store holds the two versions of the day before and the day, no third
    assert versions(servers.training_db, TRAINING) == ["1", "2"]
    assert aliases(servers.production) == {"previous": "1", "production": "2"}


def test_rollback_points_production_back_at_the_previous_set(runs, servers):
    done = run([sys.executable, "-m", "manymodels_assets.cli", "rollback"], runs.cluster_env, "manymodels rollback")
    assert "v2 -> v1" in done.stdout
    assert aliases(servers.production) == {"previous": "2", "production": "1"}
    resources = build_definitions(Settings.from_env(runs.cluster_env)).resources
    with pytest.raises(LookupError, match="already points at v1"):
        rollback(resources["production_registry"], resources["lake"], to="1")
    forward = rollback(resources["production_registry"], resources["lake"])  # a second rollback rolls forward
    assert str(forward).startswith(f"{PRODUCTION}@production: v1 -> v2")
    assert aliases(servers.production) == {"previous": "1", "production": "2"}


def test_a_spark_connect_server_without_an_abfs_connector_fails_in_one_sentence(servers):
    from pyspark.sql import SparkSession

    from manymodels_assets.engine.tables import SparkCannotReachLake, ensure_reachable
    from manymodels_assets.resources.lake import LakeResource

    saved = dict(os.environ)
    spark = SparkSession.builder.remote(servers.connect).create()
    try:
        lake = LakeResource(root="abfss://lake@someaccount.dfs.core.windows.net/mm")
        with pytest.raises(SparkCannotReachLake, match="no hadoop-azure"):
            ensure_reachable(spark, lake)
    finally:
        spark.stop()
        # pyspark marks the process as Spark Connect (SPARK_CONNECT_MODE_ENABLED) and stop() leaves it:
        # every process the later tests start would inherit it and build Connect sessions
        os.environ.clear()
        os.environ.update(saved)
