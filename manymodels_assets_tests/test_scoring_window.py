"""Which periods batch scoring forecasts: every series from after its own newest data through the
horizon past the panel's newest, whatever its production model's age. The engine's steps are
called directly on real Spark and a local lake."""
import datetime as dt

import numpy as np
import pandas as pd
import pytest

from manymodels_assets import layout
from manymodels_assets.engine.modelsets import read_model_set
from manymodels_assets.engine.scoring import update_forecasts
from manymodels_assets.engine.series import update_series
from manymodels_assets.engine.tables import stage_version
from manymodels_assets.engine.training import Retraining, train_model_set
from manymodels_assets.forecasting.config import TrainingConfig
from manymodels_assets.forecasting.keys import encode_key
from manymodels_assets.forecasting.scoring import forecast_series
from manymodels_assets.resources.lake import LakeResource
from manymodels_assets_tests.servers import spark_session

pytestmark = pytest.mark.integration

RAW = "store_id string, item_id string, date date, units double, price double, promo int, drop string"


def test_an_old_production_model_and_a_late_store_are_forecast_through_the_panels_horizon(tmp_path):
    """The production models were trained five days ago (promotion kept them since); store S1's
    feed is also three days late. Forecasts from the models' own training ends would start in
    days whose sales are in and end five (S1: eight) days short of the others'."""
    spark, lake = spark_session(), LakeResource(root=str(tmp_path / "lake"))
    weekly = np.resize([5.0, 6, 7, 8, 12, 15, 9], 130)
    days = pd.date_range("2024-01-01", periods=130, freq="D")

    def land(end: str, run: str) -> None:
        raw = pd.DataFrame([(s, "I1", d.date(), u, 2.0, 0, run) for s, late in (("S0", 0), ("S1", 3))
                            for d, u in zip(days, weekly) if d <= pd.Timestamp(end) - pd.Timedelta(days=late)],
                           columns=RAW.replace(",", "").split()[::2])
        lake.publish(layout.RAW_SALES, stage_version(lake, layout.RAW_SALES, spark.createDataFrame(raw, RAW), run,
                                                     partition_by=("store_id",), sort_by=("store_id",)))
        update_series(spark, lake, pairs, "auto", "zero", run)

    pairs = pd.DataFrame({"key": [encode_key(s, "I1") for s in ("S0", "S1")], "store_id": ["S0", "S1"],
                          "item_id": "I1"})
    keys = pairs["key"].tolist()
    config = TrainingConfig(candidates=("seasonal_naive",))
    land("2024-04-20", "r1")
    train_model_set(spark, lake, pairs, config, "ms1", None, Retraining({}, None, config.fingerprint()))
    land("2024-04-25", "r2")  # five more days of sales; the models stay

    scored = update_forecasts(spark, lake, keys, "ms1", "1", None, "f1")
    rows = spark.read.parquet(lake.spark_uri(layout.FORECASTS, scored.version)).toPandas()
    by_store = rows.sort_values("step").groupby("store_id")
    first, last = by_store["forecast_date"].min().astype(str), by_store["forecast_date"].max().astype(str)
    assert first.to_dict() == {"S0": "2024-04-26", "S1": "2024-04-23"}  # after each series' newest day
    assert last.to_dict() == {"S0": "2024-05-23", "S1": "2024-05-23"}  # 28 days past the panel's newest
    assert by_store["step"].agg(["min", "max"]).values.tolist() == [[6, 33], [6, 36]]  # lead times from training
    models = read_model_set(spark, lake, "ms1").toPandas()
    for store, own in rows.groupby("store_id"):
        model = models[models["store_id"] == store].iloc[0].to_dict()
        whole = forecast_series(model, 40)["yhat"]  # from the model's own end: the same numbers, lead by lead
        np.testing.assert_allclose(own.sort_values("step")["yhat"], whole.iloc[5:len(own) + 5])
    assert scored.steps.set_index("key")["steps"].tolist() == scored.steps.set_index("key")["wanted"].tolist()
    # the same models and data again: the rows are kept; a shorter horizon moves the windows
    again = update_forecasts(spark, lake, keys, "ms1", "2", None, "f2")
    assert (again.unchanged, again.rescored) == (2, 0)
    shorter = update_forecasts(spark, lake, keys, "ms1", "3", 7, "f3")
    assert (shorter.unchanged, shorter.rescored) == (0, 2)
    assert sorted(shorter.steps["steps"]) == [7, 10]
    # a day of new sales moves every window: rescored
    land("2024-04-26", "r3")
    moved = update_forecasts(spark, lake, keys, "ms1", "4", 7, "f4")
    assert (moved.unchanged, moved.rescored) == (0, 2)
    rows = spark.read.parquet(lake.spark_uri(layout.FORECASTS, moved.version)).toPandas()
    assert rows.groupby("store_id")["forecast_date"].min().astype(str).to_dict() == {"S0": "2024-04-27",
                                                                                      "S1": "2024-04-24"}
    assert dt.date(2024, 5, 3) == rows["forecast_date"].max()
