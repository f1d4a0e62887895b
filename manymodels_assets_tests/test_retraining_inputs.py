"""What reaches production when a series' inputs change without new sales: a new planned calendar
retrains the series and its model replaces the production one (there are no new periods to
compare the two on). The engine's steps are called directly on real Spark and a local lake."""
import datetime as dt

import numpy as np
import pandas as pd
import pytest

from manymodels_assets import layout
from manymodels_assets.engine.promotion import decide, write_production_set
from manymodels_assets.engine.scoring import update_forecasts
from manymodels_assets.engine.series import update_series
from manymodels_assets.engine.tables import stage_version
from manymodels_assets.engine.training import Retraining, train_model_set, with_input_versions
from manymodels_assets.forecasting.config import TrainingConfig
from manymodels_assets.forecasting.keys import encode_key
from manymodels_assets.forecasting.promotion import PromotionRule
from manymodels_assets.resources.lake import LakeResource
from manymodels_assets_tests.servers import spark_session

pytestmark = pytest.mark.integration

RAW = "store_id string, item_id string, date date, units double, price double, promo int, drop string"
PLAN = "store_id string, item_id string, date date, price double, promo int, drop string"


def test_a_new_plan_without_new_sales_retrains_and_reaches_the_forecasts(tmp_path):
    spark, lake = spark_session(), LakeResource(root=str(tmp_path / "lake"))
    days = pd.date_range("2024-01-01", periods=150, freq="D")
    promo = (np.arange(len(days)) % 10 < 3).astype(int)  # sales jump on promotion days
    units = np.random.default_rng(5).poisson(3 + 12 * promo).astype(float)
    sales = pd.DataFrame({"store_id": "S0", "item_id": "I1", "date": days.date, "units": units,
                          "price": np.where(promo == 1, 1.5, 2.0), "promo": promo, "drop": "d1"})
    lake.publish(layout.RAW_SALES, stage_version(lake, layout.RAW_SALES, spark.createDataFrame(sales, RAW), "r0",
                                                 partition_by=("store_id",), sort_by=("store_id",)))
    coming = pd.date_range(days[-1] + pd.Timedelta(days=1), periods=40, freq="D").date

    def plan(on_promotion: bool, run: str, also=()) -> None:
        rows = pd.DataFrame({"store_id": "S0", "item_id": "I1", "date": [*coming, *also],
                             "price": 1.5 if on_promotion else 2.0, "promo": int(on_promotion), "drop": run})
        lake.publish(layout.RAW_CALENDAR, stage_version(lake, layout.RAW_CALENDAR, spark.createDataFrame(rows, PLAN),
                                                        run, partition_by=("store_id",), sort_by=("store_id",)))

    pairs = pd.DataFrame({"key": [encode_key("S0", "I1")], "store_id": ["S0"], "item_id": ["I1"]})
    keys = pairs["key"].tolist()
    config = TrainingConfig(candidates=("seasonal_naive", "regression"))

    def cycle(model_set: str, previous: dict, production: str | None, run: str):
        trained = train_model_set(spark, lake, pairs, config, model_set, None,
                                  Retraining(previous, dt.timedelta(days=30), config.fingerprint()))
        decision = decide(spark, lake, {model_set: keys}, production, PromotionRule())
        if not decision.unchanged:
            write_production_set(spark, lake, {model_set: keys}, production, decision.deploy, f"prod-{run}")
            production = f"prod-{run}"
        update_forecasts(spark, lake, keys, production, run, None, run)
        forecasts = spark.read.parquet(lake.spark_uri(layout.FORECASTS, lake.current_version(layout.FORECASTS)))
        return trained, decision, production, forecasts.toPandas()["yhat"].mean()

    plan(False, "c1")
    update_series(spark, lake, pairs, "auto", "zero", "s1")
    first, _, production, plain = cycle("ms1", {}, None, "1")
    assert first.summary["forecaster"].tolist() == ["regression"]
    # the same inputs again: carried over and kept
    again, decision, production, same = cycle("ms2", {"ms1": keys}, production, "2")
    assert again.retraining["reason"].tolist() == ["unchanged: model carried over"] and decision.unchanged
    assert same == pytest.approx(plain)
    # a promotion planned on every coming day, and no new sales
    plan(True, "c2")
    update_series(spark, lake, pairs, "auto", "zero", "s2")
    changed, decision, production, promoted = cycle("ms3", {"ms1": keys}, production, "3")
    assert changed.retraining["reason"].tolist() == ["its data changed (sales, prices or planned calendar)"]
    assert decision.decisions["decision"].tolist() == ["promoted"]
    assert decision.decisions["reason"].iloc[0].startswith("its inputs changed with no new periods to compare on")
    assert promoted > 3 * plain  # the forecasts follow the new plan
    # a plan row beyond the 28-day horizon is read by no model: nothing retrains
    plan(True, "c3", also=[coming[-1] + dt.timedelta(days=21)])
    update_series(spark, lake, pairs, "auto", "zero", "s3")
    beyond, decision, production, _ = cycle("ms4", {"ms3": keys}, production, "4")
    assert beyond.retraining["reason"].tolist() == ["unchanged: model carried over"] and decision.unchanged
    # a day of sales under the same plan: the plan's window moves with the series' end, and the
    # new model is compared with the production one on that day as usual
    more = sales.iloc[-1:].assign(date=days[-1].date() + dt.timedelta(days=1), units=18.0, promo=1, price=1.5)
    lake.publish(layout.RAW_SALES, stage_version(lake, layout.RAW_SALES, spark.createDataFrame(
        pd.concat([sales, more]), RAW), "r1", partition_by=("store_id",), sort_by=("store_id",)))
    update_series(spark, lake, pairs, "auto", "zero", "s4")
    newer, decision, production, _ = cycle("ms5", {"ms3": keys}, production, "5")
    assert newer.retraining["reason"].tolist() == ["its data changed (sales, prices or planned calendar)"]
    assert decision.decisions["points"].tolist() == [1]  # compared on the new day, not replaced unseen
    assert decision.decisions["failed_check"].iloc[0] in ("", "challenger")


def test_which_plan_changes_move_a_series_data_version():
    """with_input_versions on its own: a constant-price series ignores the plan; a store more days
    behind than the late tolerance (7) still has the plan after its own end counted; a plan row
    past a series' horizon counts for nothing."""
    spark = spark_session()
    end, horizon = dt.date(2024, 5, 29), 28
    own_end = {"steady": end, "priced": end, "late": end - dt.timedelta(days=12)}
    history = pd.concat([pd.DataFrame({
        "key": key, "date": pd.date_range(last - dt.timedelta(days=59), last).date, "units": 3.0,
        "price": 2.0 if key == "steady" else np.tile([2.0, 1.5], 30), "promo": 0, "data_version": f"v-{key}"})
        for key, last in own_end.items()], ignore_index=True)
    selected = spark.createDataFrame(history, "key string, date date, units double, price double, promo int, "
                                              "data_version string")

    def versions(changed_day: int | None) -> dict[str, str]:
        """The data versions under a plan whose ``changed_day``-th day after each series' end is a promotion."""
        plan = pd.concat([pd.DataFrame({"key": key, "date": pd.date_range(last + dt.timedelta(days=1), periods=40).date,
                                        "price": 2.0, "promo": [int(d == changed_day) for d in range(1, 41)]})
                          for key, last in own_end.items()], ignore_index=True)
        calendar = spark.createDataFrame(plan, "key string, date date, price double, promo int")
        out = with_input_versions(spark, selected, calendar, "D", end, horizon)
        return dict(out.select("key", "data_version").distinct().toPandas().values)

    base, near, beyond = versions(None), versions(5), versions(horizon + 5)
    assert base["steady"] == near["steady"] == "v-steady"  # nothing to learn from a constant price
    assert base["priced"] != "v-priced" and near["priced"] != base["priced"]
    assert near["late"] != base["late"]  # 12 days late: its plan still counts
    assert beyond == base
