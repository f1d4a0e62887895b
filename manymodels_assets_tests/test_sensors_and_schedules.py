"""Sensors and schedules evaluated against a real (sqlite) Dagster instance and a local lake."""
import os
import time

import dagster as dg
import pandas as pd
import pytest

from manymodels_assets.definitions import build_definitions
from manymodels_assets.resources.lake import LakeResource
from manymodels_assets.schedules import daily_rescoring, daily_retraining, weekly_full_retraining
from manymodels_assets.sensors import RANGE_END, RANGE_START, build_sensors

landing_zone_sensor, retrain_on_new_sales, _, _ = build_sensors()
from manymodels_assets.settings import Settings


@pytest.fixture
def instance(tmp_path):
    with dg.instance_for_test(temp_dir=str(tmp_path)) as inst:
        yield inst


def drop(lake_root, feed, drop_name, name, frame):
    folder = os.path.join(lake_root, "landing", feed, drop_name)
    os.makedirs(folder, exist_ok=True)
    frame.to_parquet(os.path.join(folder, name))


def test_landing_sensor_fires_on_new_and_rewritten_files_only(tmp_path, instance):
    lake = LakeResource(root=str(tmp_path / "lake"))
    sales = pd.DataFrame({"store_id": ["1"], "item_id": ["2"], "date": ["2024-01-01"], "units": [3.0]})

    def evaluate(cursor):
        ctx = dg.build_sensor_context(instance=instance, cursor=cursor, resources={"lake": lake})
        return landing_zone_sensor(ctx), ctx.cursor

    result, cursor = evaluate(None)
    assert isinstance(result, dg.SkipReason)
    drop(lake.root, "sales", "20250101T000000Z", "a.parquet", sales)
    result, cursor = evaluate(cursor)
    assert isinstance(result, dg.RunRequest) and result.tags["manymodels/landing_files"] == "1"
    first_key = result.run_key
    assert isinstance(evaluate(cursor)[0], dg.SkipReason)  # nothing new
    drop(lake.root, "calendar", "20250102T000000Z", "plan.parquet", sales.drop(columns="units").assign(price=2.0))
    result, cursor = evaluate(cursor)
    assert isinstance(result, dg.RunRequest) and result.run_key != first_key
    time.sleep(0.01)
    drop(lake.root, "sales", "20250101T000000Z", "a.parquet", sales.assign(units=4.0))  # rewritten in place
    result, cursor = evaluate(cursor)
    assert isinstance(result, dg.RunRequest) and result.tags["manymodels/landing_files"] == "1"


def test_new_sales_retrain_every_store_item_in_one_range_run(tmp_path, instance):
    defs = build_definitions(Settings.from_env({"MANYMODELS_HOME": str(tmp_path)}))
    def evaluate():
        out = list(retrain_on_new_sales(dg.build_sensor_context(instance=instance, definitions=defs)) or [])
        return [r for r in out if isinstance(r, dg.RunRequest)]

    assert evaluate() == []  # raw_sales never materialized
    instance.add_dynamic_partitions("store_item", ["S1~I1", "S1~I2", "S2~I1"])
    instance.report_runless_asset_event(dg.AssetMaterialization("raw_sales"))
    requests = evaluate()
    assert len(requests) == 1
    assert (requests[0].tags[RANGE_START], requests[0].tags[RANGE_END]) == ("S1~I1", "S2~I1")


def test_schedules_request_the_whole_range_or_skip(instance):
    ctx = dg.build_schedule_context(instance=instance)
    assert isinstance(daily_retraining(ctx), dg.SkipReason)
    instance.add_dynamic_partitions("store_item", ["A~1", "B~2"])
    for schedule in (daily_retraining, weekly_full_retraining, daily_rescoring):
        request = schedule(dg.build_schedule_context(instance=instance))
        assert (request.tags[RANGE_START], request.tags[RANGE_END]) == ("A~1", "B~2")
    full = weekly_full_retraining(dg.build_schedule_context(instance=instance))
    assert full.run_config["ops"]["trained_models"]["config"]["retrain"] == "all"


def test_the_sensor_interval_comes_from_the_settings(tmp_path):
    defs = build_definitions(Settings.from_env({"MANYMODELS_HOME": str(tmp_path),
                                                "MANYMODELS_SENSOR_INTERVAL_SECONDS": "5"}))
    assert {s.name: s.minimum_interval_seconds for s in defs.sensors} == {
        "landing_zone_sensor": 5, "retrain_on_new_sales": 5, "promote_after_training": 5, "score_after_promotion": 5}
