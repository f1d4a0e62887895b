"""The whole asset graph through real Spark local[2], real MLflow (sqlite), the real SQLite3
ODBC driver and a persistent Dagster instance."""
import dataclasses
import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from types import SimpleNamespace

import dagster as dg
import pandas as pd
import pytest

from manymodels_assets.demo import run_all
from manymodels_assets.jobs import PARTITIONED_JOBS
from manymodels_assets.summary import summary
from manymodels_assets.definitions import build_definitions
from manymodels_assets.forecasting.keys import encode_key
from manymodels_assets.sales_generator import GeneratorConfig, generate
from manymodels_assets.sensors import RANGE_END, RANGE_START, score
from manymodels_assets.settings import Settings
from manymodels_assets_tests.dagster_procs import instance_at, make_home
from manymodels_assets_tests.servers import free_port

pytestmark = pytest.mark.integration

PARTITIONED = ["store_item_series", "trained_models", "promoted_models", "batch_forecasts", "synapse_predictions"]
FIRST_DROP, SECOND_DROP = "20250101T000000Z", "20250102T000000Z"


def write_landing(landing):
    # also writes landing/calendar/<drop>/: the planned price and promotion of the next 28 days
    generate(GeneratorConfig(stores=5, items=5, days=730, seed=11, series_per_part=10), landing, drop=FIRST_DROP)
    second = os.path.join(landing, "sales", SECOND_DROP)
    os.makedirs(second)
    # A restatement of one day: the later drop must win.
    pd.DataFrame({"store_id": ["S0001"], "item_id": ["I00001"], "date": ["2024-12-30"], "units": [999]}).to_csv(
        os.path.join(second, "restatement.csv"), index=False)
    # New store-items with 10 days of history: too short to backtest -> cold start, still forecast.
    # I00001 sells in other stores (item profile); I99999 sells nowhere else (last-season mean).
    pd.DataFrame({"store_id": "S0099", "item_id": ["I99999"] * 10 + ["I00001"] * 10, "units": 3.0,
                  "date": list(pd.date_range("2024-12-21", periods=10).date.astype(str)) * 2}).to_parquet(
        os.path.join(second, "new_items.parquet"))
    # Bad files: a missing column, and a negative quantity on its third row.
    pd.DataFrame({"store_id": ["S0001"], "item_id": ["I00002"], "date": ["2024-12-30"]}).to_parquet(
        os.path.join(second, "no_units.parquet"))
    pd.DataFrame({"store_id": ["S0002"] * 3, "item_id": ["I00002"] * 3, "date": ["2024-12-28", "2024-12-29",
                  "2024-12-30"], "units": [1, 2, -5]}).to_csv(os.path.join(second, "negative.csv"), index=False)


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory):
    home = tmp_path_factory.mktemp("manymodels")
    settings = Settings.from_env({"MANYMODELS_HOME": str(home), "MANYMODELS_SPARK_MASTER": "local[2]",
                                  "MANYMODELS_SPARK_DRIVER_MEMORY": "2g"})
    write_landing(os.path.join(settings.lake_root, "landing"))
    defs = build_definitions(settings)
    # the shipped dagster.yaml: its event log storage and run launcher are part of what is tested
    with instance_at(make_home(home / "dagster")) as instance:
        run_all(defs, instance)
        yield defs, instance, settings


def keys_of(instance):
    return instance.get_dynamic_partitions("store_item")


def test_partitions_are_one_per_store_item(pipeline):
    _, instance, _ = pipeline
    keys = keys_of(instance)
    assert len(keys) == 27
    assert encode_key("S0099", "I99999") in keys and encode_key("S0001", "I00001") in keys


def test_each_partitioned_job_ran_once_over_the_whole_range(pipeline):
    _, instance, _ = pipeline
    for job in PARTITIONED_JOBS:
        runs = instance.get_runs(filters=dg.RunsFilter(job_name=job))
        assert len(runs) == 1 and runs[0].status == dg.DagsterRunStatus.SUCCESS
        # bookkeeping in bulk: one planned event per asset of the job, not one per store-item
        planned = instance.get_records_for_run(runs[0].run_id,
                                               of_type=dg.DagsterEventType.ASSET_MATERIALIZATION_PLANNED).records
        assert len(planned) == {"training_pipeline": 2, "promotion_pipeline": 1, "batch_scoring_pipeline": 2}[job]


def test_one_materialization_per_partition(pipeline):
    _, instance, _ = pipeline
    keys = set(keys_of(instance))
    for asset in PARTITIONED:
        records = instance.fetch_materializations(dg.AssetKey(asset), limit=1000).records
        per_key = pd.Series([r.partition_key for r in records]).value_counts()
        assert set(per_key.index) == keys, asset
        assert (per_key == 1).all(), asset


def test_bad_files_are_quarantined_and_bad_rows_rejected_with_their_reason(pipeline):
    defs, instance, settings = pipeline
    q = os.path.join(settings.lake_root, "landing", "quarantine", "sales", SECOND_DROP)
    # a file that cannot be read as sales is moved aside, with why
    assert "missing required column(s) ['units']" in open(os.path.join(q, "no_units.parquet.reason.txt")).read()
    assert not os.path.exists(os.path.join(settings.lake_root, "landing", "sales", SECOND_DROP, "no_units.parquet"))
    # a file with one bad row stays; the row is listed with its row number, values and problem
    assert os.path.exists(os.path.join(settings.lake_root, "landing", "sales", SECOND_DROP, "negative.csv"))
    [rejected] = [f for f in os.listdir(q) if f.startswith("negative.csv.") and f.endswith(".rejected.csv")]
    rows = pd.read_csv(os.path.join(q, rejected))
    assert rows[["row", "units", "problem"]].values.tolist() == [[3, -5, "units is negative"]]
    reason = open(os.path.join(q, rejected + ".reason.txt")).read()
    assert "sales/" + SECOND_DROP + "/negative.csv: 1 of 3 row(s)" in reason and "row 3" in reason
    md = instance.get_latest_materialization_event(dg.AssetKey("raw_sales")).asset_materialization.metadata
    assert md["files_quarantined"].value == 1 and md["rows_rejected"].value == 1
    lake = defs.resources["lake"]
    raw = pd.read_parquet(lake.uri("raw/sales", lake.current_version("raw/sales")))
    day = pd.Timestamp("2024-12-30").date()
    latest = raw[(raw.store_id == "S0001") & (raw.item_id == "I00001") & (raw.date == day)]
    assert list(latest["units"]) == [999.0] and list(latest["drop"]) == [SECOND_DROP]
    # the good rows of the CSV with a bad row arrive (the later drop wins for their dates)
    s2 = raw[(raw.store_id == "S0002") & (raw.item_id == "I00002")].set_index("date")
    assert s2.loc[pd.Timestamp("2024-12-28").date(), "units"] == 1 and s2.loc[pd.Timestamp("2024-12-29").date(), "drop"] == SECOND_DROP
    assert pd.Timestamp("2024-12-30").date() in s2.index and s2.loc[pd.Timestamp("2024-12-30").date(), "drop"] == FIRST_DROP
    assert md["duplicates_dropped"].value == 3  # the restatement and the two good CSV rows replaced earlier ones


def test_model_set_and_registries(pipeline):
    defs, instance, _ = pipeline
    training, production = defs.resources["training_registry"], defs.resources["production_registry"]
    versions = training.client.search_model_versions(f"name='{training.model_name}'")
    assert len(versions) == 1
    tags = versions[0].tags
    assert tags["series_count"] == "27" and tags["model_set"].startswith("ms-") and len(tags["data_version"]) == 16
    assert tags["partition_range"].endswith("(27 keys)")
    run = training.client.get_run(versions[0].run_id)
    assert run.data.tags["dagster_run_id"] and run.data.metrics["series"] == 27
    assert [str(v.version) for v in production.client.search_model_versions(f"name='{production.model_name}'")] == ["1"]
    assert str(production.version_by_alias("production").version) == "1"
    lake = defs.resources["lake"]
    models = pd.read_parquet(lake.uri("models", tags["model_set"]))
    assert len(models) == 27 and models["key"].is_unique
    by_key = models.set_index("key")
    alone = by_key.loc[encode_key("S0099", "I99999")]
    assert alone["status"] == "cold_start" and alone["forecaster"] == "window_mean"
    profiled = by_key.loc[encode_key("S0099", "I00001")]
    assert profiled["status"] == "cold_start" and profiled["forecaster"] == "item_profile"
    assert "item's profile across stores" in profiled["reason"]
    assert set(models["status"]) <= {"ok", "cold_start"}
    # the planned calendar reached training: the regression candidate was backtested, not skipped
    regression = [json.loads(c)["regression"] for c in models.loc[models["status"] == "ok", "candidate_metrics"]]
    assert all("skipped" not in r and "error" not in r for r in regression)


def test_warehouse_has_series_times_horizon_rows_and_reruns_do_not_duplicate(pipeline):
    defs, instance, _ = pipeline
    warehouse = defs.resources["warehouse"]

    def check():
        n = warehouse.query("SELECT COUNT(*) AS n FROM forecasts")["n"][0]
        dup = warehouse.query("SELECT store_id, item_id, forecast_date, COUNT(*) AS c FROM forecasts "
                              "GROUP BY store_id, item_id, forecast_date HAVING COUNT(*) > 1")
        return int(n), len(dup)

    assert check() == (27 * 28, 0)
    cold = warehouse.query("SELECT store_id, item_id, COUNT(*) AS c FROM forecasts WHERE status = 'cold_start' "
                           "GROUP BY store_id, item_id ORDER BY item_id")
    assert list(zip(cold["store_id"], cold["item_id"], cold["c"])) == [("S0099", "I00001", 28), ("S0099", "I99999", 28)]
    assert set(warehouse.query("SELECT DISTINCT production_version AS v FROM forecasts")["v"]) == {"1"}
    keys = keys_of(instance)
    defs.resolve_job_def("batch_scoring_pipeline").execute_in_process(
        instance=instance, tags={RANGE_START: keys[0], RANGE_END: keys[-1]})
    assert check() == (27 * 28, 0)
    one = warehouse.query("SELECT MIN(step) AS lo, MAX(step) AS hi, COUNT(DISTINCT scored_at) AS runs FROM forecasts")
    assert (one["lo"][0], one["hi"][0], one["runs"][0]) == (1, 28, 1)


def test_retraining_carries_unchanged_series_over_and_a_full_retrain_moves_the_aliases(pipeline):
    defs, instance, _ = pipeline
    keys = keys_of(instance)
    tags = {RANGE_START: keys[0], RANGE_END: keys[-1]}
    training, production = defs.resources["training_registry"], defs.resources["production_registry"]

    def run(job, **config):
        run_config = {"ops": {asset: {"config": c} for asset, c in config.items()}}
        defs.resolve_job_def(job).execute_in_process(instance=instance, tags=tags, run_config=run_config)

    run("training_pipeline")  # nothing changed: every model is carried over by reference
    md = instance.get_latest_materialization_event(dg.AssetKey("trained_models")).asset_materialization.metadata
    assert (md["series_retrained"].value, md["series_carried_over"].value) == (0, 27)
    run("promotion_pipeline")
    assert str(production.version_by_alias("production").version) == "1"  # already in production

    # same data, same configuration: only the models' age can retrain them
    run("training_pipeline", trained_models={"max_model_age_days": 0.0})
    md = instance.get_latest_materialization_event(dg.AssetKey("trained_models")).asset_materialization.metadata
    assert (md["series_retrained"].value, md["series_carried_over"].value) == (27, 0)

    run("training_pipeline", trained_models={"retrain": "all"})
    md = instance.get_latest_materialization_event(dg.AssetKey("trained_models")).asset_materialization.metadata
    assert md["series_retrained"].value == 27
    # refit with the combination the first run learned across the panel, some models beat production
    run("promotion_pipeline")
    versions = sorted(training.client.search_model_versions(f"name='{training.model_name}'"),
                      key=lambda v: int(v.version))
    assert len(versions) == 4
    # each run selected with what the run before it learned across the panel
    ranking = versions[0].tags["panel_ranking"]
    assert ranking and training.client.get_run(versions[1].run_id).data.params["prior"] == ranking
    assert training.client.get_run(versions[0].run_id).data.params["prior"] == "none"
    md = instance.get_latest_materialization_event(dg.AssetKey("promoted_models")).asset_materialization.metadata
    assert md["promoted"].value > 0
    assert str(production.version_by_alias("production").version) == "2"
    assert str(production.version_by_alias("previous").version) == "1"
    text = summary(defs, instance)
    assert "27 store-items" in text and f"{27 * 28:,} forecast rows for 27 series" in text
    assert "points, frequency D" in text and "config defaults    built in" in text


def test_promoting_again_without_new_models_registers_nothing(pipeline):
    defs, instance, _ = pipeline
    production = defs.resources["production_registry"]
    live = production.version_by_alias("production").version
    keys = keys_of(instance)
    defs.resolve_job_def("promotion_pipeline").execute_in_process(
        instance=instance, tags={RANGE_START: keys[0], RANGE_END: keys[-1]})
    assert production.version_by_alias("production").version == live
    assert len(production.client.search_model_versions(f"name='{production.model_name}'")) == int(live)
    md = instance.get_latest_materialization_event(dg.AssetKey("promoted_models")).asset_materialization.metadata
    assert md["production_version"].value.endswith(f"v{live}")


def test_the_summary_command_with_a_warehouse_connection_string_in_the_environment(pipeline):
    """The connection string is a secret: it is resolved like in a run and never printed."""
    _, instance, settings = pipeline
    odbc = f"Driver={{SQLite3}};Database={settings.home}/warehouse/forecasts.db;Pwd=not-to-be-shown"
    env = {**os.environ, "MANYMODELS_HOME": settings.home, "DAGSTER_HOME": instance.root_directory,
           "MANYMODELS_WAREHOUSE_ODBC": odbc}
    out = subprocess.run([sys.executable, "-m", "manymodels_assets.cli", "summary"], env=env, capture_output=True,
                         text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "for 27 series" in out.stdout and "not-to-be-shown" not in out.stdout + out.stderr


def test_each_partition_carries_its_own_numbers_and_some_a_plot(pipeline):
    _, instance, _ = pipeline
    records = instance.fetch_materializations(dg.AssetKey("trained_models"), limit=1000).records
    first_run = {r.partition_key: r.asset_materialization.metadata for r in records
                 if r.run_id == records[-1].run_id}
    assert len(first_run) == 27
    plotted = sorted(k for k, md in first_run.items() if "forecast_plot" in md)
    assert plotted == sorted(first_run)[:12]  # bounded: see report.per_series_metadata
    assert all(first_run[k]["series_status"].value in ("ok", "cold_start") for k in plotted)
    assert "data:image/png;base64," in first_run[plotted[0]]["forecast_plot"].value
    # the run's tables and plots sit on its last partition; every partition has the numbers
    last = keys_of(instance)[-1]
    assert "forecaster_mix" in first_run[last] and "mase_histogram" in first_run[last]
    assert all("model_set" in md and "forecaster_mix" not in md for k, md in first_run.items() if k != last)


def test_the_web_ui_shows_the_runs_and_partitions(pipeline):
    """What `make ui` shows: the webserver on the same DAGSTER_HOME lists every run and partition."""
    _, instance, settings = pipeline
    port = free_port()
    env = {**os.environ, "DAGSTER_HOME": instance.root_directory, "MANYMODELS_HOME": settings.home}
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    proc = subprocess.Popen([os.path.join(os.path.dirname(sys.executable), "dagster-webserver"), "-w",
                             "workspace.yaml", "-h", "127.0.0.1", "-p", str(port)], cwd=root, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        query = ('{ runsOrError { ... on Runs { results { jobName status } } } '
                 'assetNodeOrError(assetKey: {path: ["trained_models"]}) { ... on AssetNode { '
                 'partitionStats { numMaterialized numPartitions } } } }')
        deadline, answer = time.time() + 120, None
        while answer is None:
            assert proc.poll() is None, "dagster-webserver exited"
            assert time.time() < deadline, "dagster-webserver did not answer in 120 s"
            try:
                req = urllib.request.Request(f"http://127.0.0.1:{port}/graphql", json.dumps({"query": query}).encode(),
                                             {"Content-Type": "application/json"})
                answer = json.load(urllib.request.urlopen(req, timeout=10))["data"]
            except (OSError, KeyError):
                time.sleep(1)
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    jobs = {(r["jobName"], r["status"]) for r in answer["runsOrError"]["results"]}
    assert {(j, "SUCCESS") for j in ("ingest_pipeline", *PARTITIONED_JOBS)} <= jobs
    assert answer["assetNodeOrError"]["partitionStats"] == {"numMaterialized": 27, "numPartitions": 27}


def test_a_first_promotion_that_deploys_nothing_registers_nothing_and_is_not_scored(pipeline, tmp_path):
    defs, instance, settings = pipeline
    # the same trained models, promoted into an empty production registry of their own
    fresh = build_definitions(dataclasses.replace(
        settings, production_tracking_uri=f"sqlite:///{tmp_path}/production.db"))
    keys = keys_of(instance)[:2]
    strict = {"ops": {"promoted_models": {"config": {"deploy_first_model": False, "max_mase": 1e-9}}}}
    promoted = fresh.resolve_job_def("promotion_pipeline").execute_in_process(
        instance=instance, tags={RANGE_START: keys[0], RANGE_END: keys[-1]}, run_config=strict)
    production = fresh.resources["production_registry"]
    assert production.version_by_alias("production") is None
    assert production.client.search_registered_models() == []  # no empty production set
    md = instance.get_latest_materialization_event(dg.AssetKey("promoted_models")).asset_materialization.metadata
    assert md["rejected"].value == 2 and md["production_version"].value == "none"
    skip = score(SimpleNamespace(dagster_run=instance.get_run_by_id(promoted.run_id)))
    assert isinstance(skip, dg.SkipReason) and "deployed no model" in skip.skip_message
    scored = fresh.resolve_job_def("batch_scoring_pipeline").execute_in_process(
        instance=instance, tags={RANGE_START: keys[0], RANGE_END: keys[-1]}, raise_on_error=False)
    [failure] = [e for e in scored.all_events if e.event_type == dg.DagsterEventType.STEP_FAILURE]
    assert "it deployed nothing" in failure.event_specific_data.error.message
