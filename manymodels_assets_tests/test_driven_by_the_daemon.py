"""The platform as users drive it: `dagster-webserver` and `dagster-daemon`, sensors switched on
through the UI's API, files dropped into the landing zone, backfills launched the way the UI
launches them. Two set-ups: the shipped dagster.yaml (sqlite) with a local landing zone, and
the production dagster.yaml (PostgreSQL) with the landing zone on Azure storage (Azurite).
Runs use the suite's Spark Connect server (conftest.py), so each run skips starting a JVM of its own."""
import os

import dagster as dg
import pandas as pd
import pytest
import yaml

from manymodels_assets.forecasting.keys import encode_key
from manymodels_assets.resources.warehouse import WarehouseResource
from manymodels_assets.sales_generator import GeneratorConfig, iter_chunks
from manymodels_assets_tests.dagster_procs import ROOT, daemon, env_for, instance_at, make_home, wait_for, webserver
from manymodels_assets_tests.graphql import DagsterUI
from manymodels_assets_tests.servers import azurite, free_port, postgres_server

pytestmark = pytest.mark.integration

SENSORS = ("landing_zone_sensor", "retrain_on_new_sales", "promote_after_training", "score_after_promotion")
CYCLE = ("ingest_pipeline", "training_pipeline", "promotion_pipeline", "batch_scoring_pipeline")
TEAM_CANDIDATES = ["naive", "seasonal_naive", "tsb"]
KEYS = sorted(encode_key(f"S{s:04d}", f"I{i:05d}") for s in (1, 2) for i in (1, 2, 3))


def sales() -> pd.DataFrame:
    return pd.concat(iter_chunks(GeneratorConfig(stores=2, items=3, days=100, seed=9, start="2025-01-01")),
                     ignore_index=True)


class Platform:
    """A webserver and a daemon over one Dagster instance, a lake and a landing zone."""

    def __init__(self, env, instance, ui, landing_fs, landing_root):
        self.env, self.instance, self.ui = env, instance, ui
        self.landing_fs, self.landing_root = landing_fs, landing_root.rstrip("/")

    def runs(self, job: str, status=None) -> list:
        runs = self.instance.get_runs(filters=dg.RunsFilter(job_name=job))
        return [r for r in runs if status is None or r.status == status]

    def drop(self, drop: str, name: str, content: bytes) -> None:
        folder = f"{self.landing_root}/sales/{drop}"
        self.landing_fs.makedirs(folder, exist_ok=True)
        self.landing_fs.pipe_file(f"{folder}/{name}", content)

    def wait_for_cycle(self, scored_before: int, timeout: float = 600) -> None:
        """Until a scoring run succeeds after ``scored_before`` had; fails as soon as any run fails."""
        def done():
            failed = self.instance.get_runs(filters=dg.RunsFilter(statuses=[dg.DagsterRunStatus.FAILURE]))
            assert not failed, [(r.job_name, r.run_id) for r in failed]
            return len(self.runs("batch_scoring_pipeline", dg.DagsterRunStatus.SUCCESS)) > scored_before
        wait_for(done, timeout, "the whole cycle of runs", every=2)

    def idle(self) -> bool:
        return not self.instance.get_runs(filters=dg.RunsFilter(statuses=[
            dg.DagsterRunStatus.QUEUED, dg.DagsterRunStatus.STARTING, dg.DagsterRunStatus.STARTED]))

    def warehouse(self) -> pd.DataFrame:
        db = os.path.join(self.env["MANYMODELS_HOME"], "warehouse", "forecasts.db")
        return WarehouseResource(connection_string=f"Driver={{SQLite3}};Database={db}").query(
            "SELECT store_id, item_id, forecast_date, yhat, model_set FROM forecasts")

    def trained(self, run) -> dict:
        [record] = [r for r in self.instance.get_records_for_run(
            run.run_id, of_type=dg.DagsterEventType.ASSET_MATERIALIZATION).records
            if r.asset_materialization.asset_key == dg.AssetKey("trained_models")][-1:]
        return {k: v.value for k, v in record.asset_materialization.metadata.items()}


def _start(tmp, env, home, landing_fs, landing_root):
    port = free_port()
    with instance_at(home) as inst, daemon(env, tmp / "daemon.log"), webserver(env, port, tmp / "webserver.log"):
        ui = DagsterUI(port)
        ui.wait_until_loaded()
        platform = Platform(env, inst, ui, landing_fs, landing_root)
        platform.drop("20250401T000000Z", "sales.parquet", sales().to_parquet(index=False))
        for sensor in SENSORS:
            ui.start_sensor(sensor)
        platform.wait_for_cycle(scored_before=0)
        yield platform


@pytest.fixture(scope="module")
def local(tmp_path_factory, spark_remote):
    import fsspec

    tmp = tmp_path_factory.mktemp("local")
    home = make_home(tmp / "dagster", run_queue={"max_concurrent_runs": 1})
    # the team's own defaults (MANYMODELS_RUN_CONFIG), which the sensor-started runs must use
    (tmp / "run_config.yaml").write_text(f"ops:\n  trained_models:\n    config:\n      candidates: {TEAM_CANDIDATES}\n")
    env = env_for(home, str(tmp / "mm"), MANYMODELS_SENSOR_INTERVAL_SECONDS="2", MANYMODELS_SPARK_REMOTE=spark_remote,
                  MANYMODELS_RUN_CONFIG=str(tmp / "run_config.yaml"))
    yield from _start(tmp, env, home, fsspec.filesystem("file"), str(tmp / "mm" / "lake" / "landing"))


def test_a_drop_runs_the_whole_cycle_by_itself(local):
    assert sorted(local.instance.get_dynamic_partitions("store_item")) == KEYS
    for job in CYCLE:
        assert local.runs(job, dg.DagsterRunStatus.SUCCESS), job
    # started by a sensor with no config of its own: trained the deployment's candidates, not the
    # built-in daily ones (seasonal_naive, tsb, regression, pooled)
    training = local.runs("training_pipeline", dg.DagsterRunStatus.SUCCESS)[-1]  # the first
    assert sorted(local.trained(training)["panel_ranking"].split(", ")) == sorted(TEAM_CANDIDATES)
    wh = local.warehouse()
    assert len(wh) == 6 * 28 and wh.groupby(["store_id", "item_id"]).size().eq(28).all()


def test_a_second_drop_touching_three_series_retrains_exactly_those(local):
    scored = len(local.runs("batch_scoring_pipeline", dg.DagsterRunStatus.SUCCESS))
    before = local.warehouse()
    touched = sales()
    touched = touched[touched["item_id"] != "I00003"]  # S0001 and S0002 of I00001, S0001 of I00002
    touched = touched[~((touched["store_id"] == "S0002") & (touched["item_id"] == "I00002"))]
    corrections = touched.groupby(["store_id", "item_id"]).tail(5).assign(units=lambda f: f["units"] + 7)
    local.drop("20250402T000000Z", "corrections.parquet", corrections.to_parquet(index=False))
    local.wait_for_cycle(scored)
    training = local.runs("training_pipeline", dg.DagsterRunStatus.SUCCESS)[0]  # the newest
    md = local.trained(training)
    assert md["series_retrained"] == 3 and md["series_carried_over"] == 3, md
    changed = {encode_key(s, i) for s, i in corrections[["store_id", "item_id"]].drop_duplicates().values}
    after = local.warehouse()
    moved = {encode_key(s, i) for (s, i), g in after.groupby(["store_id", "item_id"])
             if set(g["model_set"]) != set(before[(before.store_id == s) & (before.item_id == i)]["model_set"])}
    assert moved <= changed  # only retrained series can have a new production model


def test_a_malformed_drop_is_quarantined_and_the_sensor_keeps_ticking(local):
    wait_for(local.idle, 300, "the runs to finish")
    ingests = len(local.runs("ingest_pipeline"))
    local.drop("20250403T000000Z", "garbage.parquet", b"this is not parquet")
    wait_for(lambda: len(local.runs("ingest_pipeline", dg.DagsterRunStatus.SUCCESS)) > ingests, 300,
             "an ingest of the malformed drop")
    reason = f"{local.landing_root}/quarantine/sales/20250403T000000Z/garbage.parquet.reason.txt"
    assert "unreadable parquet" in open(reason).read()
    wait_for(local.idle, 600, "the runs after it to finish")
    ticks = local.ui.sensor_ticks("landing_zone_sensor")
    assert len(ticks) > 3 and not any(t["status"] == "FAILURE" for t in ticks)


def test_backfills_from_the_ui_run_one_run_per_range(local):
    wait_for(local.idle, 600, "the runs to finish")
    # Both launched at once: the backfill daemon looks at backfills every 30 s, so one after the
    # other would wait for it twice as often. Their runs queue behind each other.
    few = [KEYS[0], KEYS[3]]
    everything = local.ui.launch_asset_backfill(["store_item_series", "trained_models"], KEYS)
    some = local.ui.launch_asset_backfill(["trained_models"], few)
    wait_for(lambda: all(local.ui.backfill(b)["status"] == "COMPLETED_SUCCESS" for b in (everything, some)), 600,
             "both backfills")
    runs = local.ui.backfill(everything)["runs"]
    assert len(runs) == 1  # one range, one run, one Spark job
    tags = {t["key"]: t["value"] for t in runs[0]["tags"]}
    assert (tags["dagster/asset_partition_range_start"], tags["dagster/asset_partition_range_end"]) == \
        (KEYS[0], KEYS[-1])
    materialized, per_run = set(), {}
    for run in local.ui.backfill(some)["runs"]:  # two runs: the keys are not one contiguous range
        for record in local.instance.get_records_for_run(
                run["runId"], of_type=dg.DagsterEventType.ASSET_MATERIALIZATION).records:
            materialized.add(record.asset_materialization.partition)
            md = record.asset_materialization.metadata
            per_run[run["runId"]] = (md["series_retrained"].value, md["series_carried_over"].value)
    # their data did not change, yet a backfill is a request to recompute: both are retrained
    assert materialized == set(few)
    assert [sum(c) for c in zip(*per_run.values())] == [2, 0], per_run


@pytest.fixture(scope="module")
def on_azure_and_postgres(tmp_path_factory, spark_remote):
    tmp = tmp_path_factory.mktemp("azure")
    with azurite(tmp / "azurite") as blob, postgres_server() as (pg_port, pg_user):
        home = tmp / "dagster"
        home.mkdir()
        with open(os.path.join(ROOT, "deploy", "dagster", "dagster.yaml")) as f:
            config = yaml.safe_load(f)
        config["run_coordinator"]["config"]["max_concurrent_runs"] = 1
        with open(home / "dagster.yaml", "w") as f:
            yaml.safe_dump(config, f)
        env = env_for(str(home), str(tmp / "mm"), MANYMODELS_SENSOR_INTERVAL_SECONDS="2",
                      MANYMODELS_SPARK_REMOTE=spark_remote, MANYMODELS_LANDING_ROOT="abfs://landing/drops",
                      MANYMODELS_LAKE_CONNECTION_STRING=blob, DAGSTER_PG_HOST="127.0.0.1",
                      DAGSTER_PG_PORT=str(pg_port), DAGSTER_PG_DB="postgres", DAGSTER_PG_USER=pg_user,
                      DAGSTER_PG_PASSWORD="")
        import adlfs

        fs = adlfs.AzureBlobFileSystem(connection_string=blob)
        fs.mkdir("landing")
        saved = dict(os.environ)
        os.environ.update({k: v for k, v in env.items() if k.startswith("DAGSTER_PG_")})  # this process reads it too
        try:
            yield from _start(tmp, env, str(home), fs, "abfs://landing/drops")
        finally:
            os.environ.clear()
            os.environ.update(saved)


def test_on_postgres_with_the_landing_zone_on_azure_a_drop_and_a_backfill_run(on_azure_and_postgres):
    platform = on_azure_and_postgres
    assert type(platform.instance.event_log_storage).__name__ == "BatchedPostgresEventLogStorage"
    assert sorted(platform.instance.get_dynamic_partitions("store_item")) == KEYS
    assert len(platform.warehouse()) == 6 * 28
    wait_for(platform.idle, 300, "the runs to finish")
    backfill = platform.ui.launch_asset_backfill(["store_item_series", "trained_models"], KEYS)
    wait_for(lambda: platform.ui.backfill(backfill)["status"] == "COMPLETED_SUCCESS", 600, "the backfill")
    assert len(platform.ui.backfill(backfill)["runs"]) == 1


ARTIFACTS = os.path.join(ROOT, "test-artifacts")


def test_a_person_in_a_browser_sees_the_graph_a_partition_with_its_plot_and_a_run(local):
    """Headless Debian chromium driven by Playwright (no browser download); screenshots are kept
    under test-artifacts/ for a person to look at."""
    from playwright.sync_api import sync_playwright

    os.makedirs(ARTIFACTS, exist_ok=True)
    base = local.ui.url.removesuffix("/graphql")
    run = local.runs("training_pipeline", dg.DagsterRunStatus.SUCCESS)[-1]
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1600, "height": 1000})
        page.goto(base, wait_until="networkidle")
        if page.get_by_role("button", name="Skip").count():  # the community newsletter prompt
            page.get_by_role("button", name="Skip").click()

        page.goto(f"{base}/assets/trained_models?view=lineage&lineageScope=neighbors&lineageDepth=5",
                  wait_until="networkidle")
        for asset in ("raw_sales", "store_item_series", "trained_models", "promoted_models", "batch_forecasts"):
            page.get_by_text(asset, exact=True).first.wait_for(timeout=30000)
        assert page.get_by_text("synap", exact=False).count()  # the graph abbreviates long names
        page.screenshot(path=os.path.join(ARTIFACTS, "asset-graph.png"), full_page=True)

        page.goto(f"{base}/assets/trained_models?view=partitions&partition={KEYS[0]}", wait_until="networkidle")
        page.get_by_text("Materialized", exact=True).first.wait_for(timeout=30000)
        status = page.locator("tr", has_text="series_status").first.inner_text()
        forecaster = page.locator("tr", has_text="forecaster").first.inner_text()
        assert "ok" in status and forecaster.split()[-1] not in ("", "none")
        page.screenshot(path=os.path.join(ARTIFACTS, "partition.png"), full_page=True)
        page.locator("tr", has_text="forecast_plot").first.get_by_text("[Show Markdown]").click()
        plot = page.locator("img[src^='data:image/png']").first
        plot.wait_for(timeout=30000)
        assert plot.bounding_box()["width"] > 300  # a real image, drawn
        page.screenshot(path=os.path.join(ARTIFACTS, "partition-plot.png"))

        page.goto(f"{base}/runs/{run.run_id}", wait_until="networkidle")
        page.get_by_text("Success", exact=False).first.wait_for(timeout=30000)
        assert page.get_by_text("trained_models", exact=False).count()
        page.screenshot(path=os.path.join(ARTIFACTS, "run.png"), full_page=True)
        browser.close()
