"""The platform as users drive it: `dagster-webserver` and `dagster-daemon` on the shipped
dagster.yaml, sensors switched on through the UI's API, files dropped into the landing zone,
backfills launched as the UI launches them, and a real browser looking at the result."""
import os
import shutil

import numpy as np
import pandas as pd
import pytest

from manymodels_assets.forecasting.keys import encode_key
from manymodels_assets.sales_generator import GeneratorConfig, generate
from manymodels_assets_tests.dagster_procs import daemon, env_for, instance_at, make_home, wait_for, webserver
from manymodels_assets_tests.graphql import DagsterUI
from manymodels_assets_tests.servers import free_port

pytestmark = pytest.mark.integration

SENSORS = ("landing_zone_sensor", "retrain_on_new_sales", "promote_after_training", "score_after_promotion")
CYCLE = ("ingest_pipeline", "training_pipeline", "promotion_pipeline", "batch_scoring_pipeline")
ARTIFACTS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "test-artifacts")


class Platform:
    """A running webserver + daemon over one DAGSTER_HOME and MANYMODELS_HOME."""

    def __init__(self, tmp, env, instance, ui, landing_fs, landing_root):
        self.tmp, self.env, self.instance, self.ui = tmp, env, instance, ui
        self.landing_fs, self.landing_root = landing_fs, landing_root

    def runs(self, job: str):
        import dagster as dg

        return self.instance.get_runs(filters=dg.RunsFilter(job_name=job))

    def wait_for_cycle(self, after: int, timeout: float = 600):
        """Until a whole cycle (ingest .. scoring) has run after the first ``after`` scoring runs;
        fails as soon as any run fails."""
        import dagster as dg

        def done():
            failed = [r for r in self.instance.get_runs() if r.status == dg.DagsterRunStatus.FAILURE]
            assert not failed, [(r.job_name, r.run_id) for r in failed]
            scored = [r for r in self.runs("batch_scoring_pipeline") if r.status == dg.DagsterRunStatus.SUCCESS]
            return len(scored) > after
        wait_for(done, timeout, "a whole cycle of runs", every=2)

    def drop(self, drop: str, name: str, frame: pd.DataFrame | bytes) -> None:
        folder = f"{self.landing_root}/sales/{drop}"
        self.landing_fs.makedirs(folder, exist_ok=True)
        self.landing_fs.pipe_file(f"{folder}/{name}",
                                  frame if isinstance(frame, bytes) else frame.to_parquet(index=False))

    def warehouse(self) -> pd.DataFrame:
        from manymodels_assets.resources.warehouse import WarehouseResource

        db = os.path.join(self.env["MANYMODELS_HOME"], "warehouse", "forecasts.db")
        return WarehouseResource(connection_string=f"Driver={{SQLite3}};Database={db}").query(
            "SELECT store_id, item_id, forecast_date, yhat, model_set FROM forecasts")


def _first_drop() -> pd.DataFrame:
    import io

    import pyarrow.parquet as pq
    import tempfile

    folder = tempfile.mkdtemp()
    generate(GeneratorConfig(stores=2, items=3, days=100, seed=9, start="2025-01-01"), folder, drop="d1",
             plan_days=0)
    frames = [pq.read_table(os.path.join(folder, "sales", "d1", f)).to_pandas()
              for f in sorted(os.listdir(os.path.join(folder, "sales", "d1")))]
    shutil.rmtree(folder)
    return pd.concat(frames, ignore_index=True)


@pytest.fixture(scope="module")
def platform(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("driven")
    home = make_home(tmp / "dagster", run_queue={"max_concurrent_runs": 1})
    env = env_for(home, str(tmp / "mm"), MANYMODELS_SENSOR_INTERVAL_SECONDS="3")
    port = free_port()
    import fsspec

    landing_root = os.path.join(str(tmp / "mm"), "lake", "landing")
    with instance_at(home) as inst, daemon(env, tmp / "daemon.log"), webserver(env, port, tmp / "webserver.log"):
        ui = DagsterUI(port)
        ui.wait_until_loaded()
        p = Platform(tmp, env, inst, ui, fsspec.filesystem("file"), landing_root)
        p.drop("20250101T000000Z", "sales.parquet", _first_drop())
        for sensor in SENSORS:
            ui.start_sensor(sensor)
        p.wait_for_cycle(after=0)
        yield p


def test_a_drop_runs_the_whole_cycle_by_itself(platform):
    keys = platform.instance.get_dynamic_partitions("store_item")
    assert sorted(keys) == sorted(encode_key(f"S{s:04d}", f"I{i:05d}") for s in (1, 2) for i in (1, 2, 3))
    for job in CYCLE:
        assert platform.runs(job), job
    wh = platform.warehouse()
    assert len(wh) == 6 * 28 and wh.groupby(["store_id", "item_id"]).size().eq(28).all()


def test_a_malformed_drop_is_quarantined_and_the_sensor_keeps_ticking(platform):
    before = len(platform.runs("ingest_pipeline"))
    platform.drop("20250102T000000Z", "garbage.parquet", b"this is not parquet")
    wait_for(lambda: len(platform.runs("ingest_pipeline")) > before, 120, "an ingest of the malformed drop")
    quarantined = os.path.join(platform.landing_root, "quarantine", "sales", "20250102T000000Z")
    wait_for(lambda: os.path.exists(os.path.join(quarantined, "garbage.parquet.reason.txt")), 240, "quarantine")
    platform.wait_for_cycle(after=len([r for r in platform.runs("batch_scoring_pipeline")]) - 1)
    ticks = platform.ui.sensor_ticks("landing_zone_sensor")
    assert ticks and not any(t["status"] == "FAILURE" for t in ticks)
