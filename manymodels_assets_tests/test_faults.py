"""Crashes: SIGKILL in the middle of every writing stage, then a plain rerun, converges to the
state of a run that was never interrupted; what was readable before the crash stays readable.
The crashed runs are processes of their own, their Spark the suite's Connect server (conftest.py);
the reruns and the reference run are in this process, on local Spark."""
import os
import subprocess
import sys

import dagster as dg
import pandas as pd
import pytest

from manymodels_assets import layout
from manymodels_assets.definitions import build_definitions
from manymodels_assets.demo import run_all, run_job
from manymodels_assets.sales_generator import GeneratorConfig, generate
from manymodels_assets.sensors import all_store_items
from manymodels_assets.settings import Settings
from manymodels_assets_tests.dagster_procs import ROOT, instance_at, make_home

pytestmark = pytest.mark.integration

REGISTRY = "manymodels_assets.resources.registry:ModelRegistryResource"


def _landing(lake_root: str) -> None:
    landing = os.path.join(lake_root, "landing")
    generate(GeneratorConfig(stores=2, items=2, days=120, seed=5), landing, drop="20250101T000000Z")
    bad = os.path.join(landing, "sales", "20250102T000000Z")
    os.makedirs(bad)
    with open(os.path.join(bad, "broken.parquet"), "wb") as f:
        f.write(b"not parquet")


def _env(home) -> dict:
    return {"MANYMODELS_HOME": str(home), "MANYMODELS_SPARK_MASTER": "local[2]",
            "MANYMODELS_SPARK_DRIVER_MEMORY": "1g"}


def child(home, dagster_home, job: str, *args: str, extra_env: dict | None = None) -> subprocess.Popen:
    """A run of ``job`` in its own process (see fault_child.py for the fault arguments)."""
    env = {**os.environ, **_env(home), "DAGSTER_HOME": dagster_home, "PYSPARK_PYTHON": sys.executable,
           **(extra_env or {})}
    return subprocess.Popen([sys.executable, "-m", "manymodels_assets_tests.fault_child", job, *args], cwd=ROOT,
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def finished(proc: subprocess.Popen, timeout: float = 600) -> tuple[int, str]:
    _, err = proc.communicate(timeout=timeout)
    return proc.returncode, err


def _crash(home, dagster_home, remote: str, job: str, point: str, after: bool = False) -> None:
    rc, err = finished(child(home, dagster_home, job, "--at", point, *(["--after"] if after else []),
                             extra_env={"MANYMODELS_SPARK_REMOTE": remote}))
    assert rc == -9, f"{job} was not killed at {point}: rc={rc}\n{err[-3000:]}"


def _state(defs, instance) -> dict[str, pd.DataFrame]:
    """What a user reads: the raw and series tables, the live models, the forecasts and the warehouse."""
    lake, production = defs.resources["lake"], defs.resources["production_registry"]

    def table(name, cols, by):
        return pd.read_parquet(lake.uri(name, lake.current_version(name)), columns=cols).sort_values(by) \
            .reset_index(drop=True)

    live = production.version_by_alias("production").tags["model_set"]
    models = pd.read_parquet(lake.uri(layout.model_set(live)), columns=["key", "status", "forecaster", "mase"])
    wh = defs.resources["warehouse"].query("SELECT store_id, item_id, forecast_date, yhat, yhat_upper FROM forecasts")
    return {
        "raw": table(layout.RAW_SALES, ["store_id", "item_id", "date", "units"], ["store_id", "item_id", "date"]),
        "series": table(layout.SERIES, ["key", "date", "units"], ["key", "date"]),
        "models": models.sort_values("key").reset_index(drop=True),
        "forecasts": table(layout.FORECASTS, ["key", "step", "yhat", "yhat_lower", "yhat_upper", "status"],
                           ["key", "step"]),
        "warehouse": wh.sort_values(["store_id", "item_id", "forecast_date"]).reset_index(drop=True),
        "partitions": pd.DataFrame({"key": instance.get_dynamic_partitions("store_item")}),
    }


def test_a_crash_in_any_writing_stage_then_a_rerun_converges(tmp_path, spark_remote):
    reference_home = tmp_path / "reference"
    settings = Settings.from_env(_env(reference_home))
    _landing(settings.lake_root)
    defs = build_definitions(settings)
    (tmp_path / "reference-dagster").mkdir()
    with dg.instance_for_test(temp_dir=str(tmp_path / "reference-dagster")) as instance:
        run_all(defs, instance, log=lambda _: None)
        expected = _state(defs, instance)

    home, dagster_home = tmp_path / "crashed", make_home(tmp_path / "crashed-dagster")
    settings = Settings.from_env(_env(home))
    _landing(settings.lake_root)
    defs = build_definitions(settings)
    lake = defs.resources["lake"]
    with instance_at(dagster_home) as instance:
        def crash(job, point, after=False):
            _crash(home, dagster_home, spark_remote, job, point, after)

        def rerun(job):
            run_job(defs, instance, job, all_store_items(instance) if job != "ingest_pipeline" else {})

        # ingest: killed after moving the bad file aside, then before publishing anything
        crash("ingest_pipeline", "manymodels_assets.landing:quarantine", after=True)
        crash("ingest_pipeline", "manymodels_assets.resources.lake:LakeResource.publish")
        assert lake.current_version(layout.RAW_SALES) is None  # nothing half-published
        rerun("ingest_pipeline")
        # training: killed with the series written but not current, then with the model set written
        # but not registered
        crash("training_pipeline", "manymodels_assets.engine.tables:stage_version", after=True)
        assert lake.current_version(layout.SERIES) is None
        crash("training_pipeline", f"{REGISTRY}.record_model_set")
        assert defs.resources["training_registry"].latest_version() is None
        rerun("training_pipeline")
        # promotion: killed with the production version registered, before the alias moved
        crash("promotion_pipeline", f"{REGISTRY}.move_alias")
        assert defs.resources["production_registry"].version_by_alias("production") is None
        rerun("promotion_pipeline")
        # scoring: killed before the forecasts became current; then, on a rescoring, after the
        # warehouse load deleted the old rows and before it committed
        crash("batch_scoring_pipeline", "manymodels_assets.engine.tables:stage_version", after=True)
        assert lake.current_version(layout.FORECASTS) is None
        rerun("batch_scoring_pipeline")
        loaded = _state(defs, instance)["warehouse"]
        crash("batch_scoring_pipeline", "manymodels_assets.resources.warehouse:WarehouseResource._replace", after=True)
        pd.testing.assert_frame_equal(_state(defs, instance)["warehouse"], loaded)  # the previous rows, all
        rerun("batch_scoring_pipeline")
        got = _state(defs, instance)

    for name, frame in expected.items():
        pd.testing.assert_frame_equal(got[name], frame, check_exact=False, rtol=1e-9, obj=name)
    # the bad file was quarantined once, with its reason, though the crash came right after the move
    assert sorted(os.listdir(os.path.join(settings.lake_root, "landing", "quarantine", "sales", "20250102T000000Z"))) \
        == ["broken.parquet", "broken.parquet.reason.txt"]
