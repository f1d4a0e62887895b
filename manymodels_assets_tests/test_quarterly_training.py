"""Quarterly training through the engine on real Spark: the frequency's defaults, the pooled
autoregression among them, fit per item in one Spark task and handed to each series' own
training like any candidate's backtest."""
import json

import numpy as np
import pandas as pd
import pytest

from manymodels_assets import layout
from manymodels_assets.engine.modelsets import read_model_set
from manymodels_assets.engine.series import update_series
from manymodels_assets.engine.tables import stage_version
from manymodels_assets.engine.training import Retraining, train_model_set
from manymodels_assets.forecasting.config import TrainingConfig
from manymodels_assets.forecasting.keys import encode_key
from manymodels_assets.resources.lake import LakeResource
from manymodels_assets_tests.servers import spark_session

pytestmark = pytest.mark.integration

RAW = "store_id string, item_id string, date date, units double, price double, promo int, drop string"


def test_quarterly_defaults_train_the_pooled_autoregression_per_item_in_spark(tmp_path):
    spark, lake = spark_session(), LakeResource(root=str(tmp_path / "lake"))
    rng = np.random.default_rng(4)
    quarters = pd.period_range("2008Q1", periods=48, freq="Q-DEC").start_time
    season = {"I1": np.array([1.3, 0.8, 0.7, 1.2]), "I2": np.array([0.7, 1.2, 1.4, 0.7])}
    rows = [(f"S{s}", item, d.date(), float(u), np.nan, 0, "r1")
            for item in season for s in range(5)
            for d, u in zip(quarters, rng.gamma(20, rng.uniform(10, 200) * np.resize(season[item], 48) / 20))]
    raw = pd.DataFrame(rows, columns=RAW.replace(",", "").split()[::2])
    lake.publish(layout.RAW_SALES, stage_version(lake, layout.RAW_SALES, spark.createDataFrame(raw, RAW), "r1",
                                                 partition_by=("store_id",), sort_by=("store_id",)))
    pairs = raw[["store_id", "item_id"]].drop_duplicates().reset_index(drop=True)
    pairs.insert(0, "key", [encode_key(s, i) for s, i in zip(pairs["store_id"], pairs["item_id"])])
    update_series(spark, lake, pairs, "auto", "zero", "r1")
    config = TrainingConfig()
    assert "pooled_ar" in config.candidates_for("Q-DEC")
    train_model_set(spark, lake, pairs, config, "ms1", None, Retraining({}, None, config.fingerprint()))

    models = read_model_set(spark, lake, "ms1").toPandas()
    assert len(models) == 10 and set(models["status"]) == {"ok"} and set(models["freq"]) == {"Q-DEC"}
    metrics = [json.loads(m) for m in models["candidate_metrics"]]
    # every series got its group's backtest, not an error
    assert all("error" not in m["pooled_ar"] and np.isfinite(m["pooled_ar"]["mase"]) for m in metrics), metrics
    # the group's shared season is learned: over the series it backtests better than last year's value
    assert np.mean([m["pooled_ar"]["mase"] for m in metrics]) < 0.9 * np.mean([m["seasonal_naive"]["mase"]
                                                                                for m in metrics])
