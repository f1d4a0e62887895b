"""The pooled (global) candidates and the panel prior (combination weights learned across series)."""
import json

import numpy as np
import pandas as pd
import pytest

from manymodels_assets.forecasting.backtest import fold_windows
from manymodels_assets.forecasting.config import TrainingConfig
from manymodels_assets.forecasting.panel import FEATURES, PENALTIES, combination_weights, learn_prior, sample_keys
from manymodels_assets.forecasting.pooled import (LEARNERS, POOLED_AR, GroupSeries, backtest_group, from_payload,
                                                  group_payloads, to_payload, unpack)
from manymodels_assets.forecasting.scoring import forecast_series
from manymodels_assets.forecasting.selection import PanelPrior
from manymodels_assets.forecasting.training import train_series

WEEK = np.array([0.6, 0.7, 0.8, 1.0, 1.3, 1.7, 0.9])


def group(n_series=6, n=400, seed=0):
    """Series of different sizes sharing one weekly pattern (what a pooled model can learn)."""
    rng = np.random.default_rng(seed)
    index = pd.period_range("2023-01-01", periods=n, freq="D")
    return [GroupSeries(f"S{i}~I1", pd.Series(rng.poisson(level * np.resize(WEEK, n)).astype(float), index=index))
            for i, level in enumerate(rng.uniform(5, 50, n_series))]


@pytest.mark.parametrize("learner", LEARNERS)
def test_pooled_backtest_uses_the_same_folds_as_every_candidate_and_forecasts_after_the_history(learner):
    series = group()
    results = backtest_group(series, horizon=28, season_length=7, n_folds=3, min_train=56, learner=learner)
    for s in series:
        r = results[s.key]
        assert r.candidate == learner and r.folds == fold_windows(len(s.y), 28, 3, 56)
        assert all(f.shape == (28,) and np.isfinite(f).all() and (f >= 0).all() for f in r.forecast)
        assert r.future.shape == (28,)
    # the shared weekly pattern is learned: the group's forecasts, each on its own level, peak
    # where the pattern does (one noisy small series may not, on a linear model's own)
    weekdays = [np.roll(results[s.key].future[:7] / results[s.key].future[:7].mean(), len(s.y) % 7) for s in series]
    assert int(np.argmax(np.mean(weekdays, axis=0))) == int(np.argmax(WEEK))
    assert np.corrcoef(np.mean(weekdays, axis=0), WEEK)[0, 1] > 0.9


@pytest.mark.parametrize("learner", LEARNERS)
def test_a_fold_never_sees_data_after_the_group_origin(learner):
    series = group()
    before = backtest_group(series, 28, 7, 2, 56, learner=learner)
    changed = [GroupSeries(s.key, s.y.where(np.arange(len(s.y)) < len(s.y) - 28, s.y * 10)) for s in series]
    after = backtest_group(changed, 28, 7, 2, 56, learner=learner)
    for s in series:  # the older fold ends before the changed periods: same forecasts
        np.testing.assert_allclose(before[s.key].forecast[0], after[s.key].forecast[0])
        assert not np.allclose(before[s.key].future, after[s.key].future)


def test_pooled_payload_round_trip_and_train_series_uses_it():
    series = group()
    results = backtest_group(series, 28, 7, 3, 56)
    s = series[0]
    again = from_payload(to_payload(results[s.key]), s.y, 7)
    np.testing.assert_allclose(again.future, results[s.key].future, atol=1e-5)
    history = pd.DataFrame({"date": s.y.index.start_time, "units": s.y.to_numpy()})
    row = train_series(s.key, "S0", "I1", history, "D", TrainingConfig(candidates=("pooled",), combine_top=0),
                       pooled={"pooled": to_payload(results[s.key])})
    assert row["status"] == "ok" and row["forecaster"] == "pooled"
    np.testing.assert_allclose(forecast_series(row, 28)["yhat"], np.clip(results[s.key].future, 0, None), atol=1e-5)
    # a direct model has nothing beyond its trained horizon: a longer ask stops there instead of raising
    longer = forecast_series(row, 56)
    assert list(longer["step"]) == list(range(1, 29))
    np.testing.assert_allclose(longer["yhat"], forecast_series(row, 28)["yhat"])


def test_a_group_that_cannot_be_fit_fails_the_candidate_not_the_series():
    rows = pd.DataFrame({"key": "S~I", "date": pd.date_range("2024-01-01", periods=20), "units": 1.0,
                         "price": np.nan, "promo": 0, "is_calendar": False})
    payload = group_payloads(rows, TrainingConfig(horizon=28), "D")["pooled"].iloc[0]
    assert "error" in json.loads(payload)["pooled"]
    history = rows[["date", "units"]]
    row = train_series("S~I", "S", "I", pd.concat([history] * 6, ignore_index=True).assign(
        date=pd.date_range("2024-01-01", periods=120)), "D",
        TrainingConfig(candidates=("pooled", "seasonal_naive"), combine_top=0), pooled=unpack(payload))
    assert row["status"] == "ok" and row["forecaster"] == "seasonal_naive"
    assert "pooled group model" in json.loads(row["candidate_metrics"])["pooled"]["error"]


def quarterly_group(n_series=12, n=60, seed=1):
    """Quarterly series of one item across stores: a shared season on levels from 5 to 500, and
    a store whose history began two years ago (shorter than the autoregression's window)."""
    rng = np.random.default_rng(seed)
    season = np.array([1.3, 0.8, 0.7, 1.2])
    rows = []
    for i, level in enumerate(rng.uniform(5, 500, n_series)):
        dates = pd.period_range("2008Q1", periods=n, freq="Q-DEC").start_time
        units = rng.gamma(20, level * np.resize(season, n) / 20)
        keep = slice(n - 8, n) if i == 0 else slice(0, n)
        rows.append(pd.DataFrame({"key": f"S{i:02d}~I1", "date": dates[keep], "units": units[keep], "price": np.nan,
                                  "promo": 0, "is_calendar": False}))
    return pd.concat(rows, ignore_index=True)


def test_the_pooled_autoregression_learns_a_shared_season_and_forecasts_a_short_series_from_it():
    rows = quarterly_group()
    config = TrainingConfig(candidates=("seasonal_naive", "pooled", "pooled_ar"))
    payloads = group_payloads(rows, config, "QS").set_index("key")["pooled"]
    by_candidate = unpack(payloads["S01~I1"])
    assert set(by_candidate) == {"pooled", "pooled_ar"}  # one group pass for both, each its own payload
    short = json.loads(unpack(payloads["S00~I1"])[POOLED_AR])
    # eight quarters, fewer than the model's 20 lags (as a young series' early backtest folds
    # are): the window is padded with its own level and the group's season carries it
    future = np.asarray(short["future"])
    own = rows[rows["key"] == "S00~I1"]["units"].to_numpy()
    assert future.shape == (8,) and np.argmax(future[:4]) == 0 and np.argmin(future[:4]) == 2
    assert 0.5 < future.mean() / own.mean() < 2
    history = rows[rows["key"] == "S01~I1"][["date", "units"]]
    row = train_series("S01~I1", "S01", "I1", history, "QS", TrainingConfig(candidates=("pooled_ar",), combine_top=0),
                       pooled=by_candidate)
    metrics = json.loads(row["candidate_metrics"])
    assert row["forecaster"] == "pooled_ar" and metrics["pooled_ar"]["mase"] < 1.0, metrics
    np.testing.assert_allclose(forecast_series(row, 8)["yhat"], json.loads(by_candidate[POOLED_AR])["future"],
                               rtol=1e-5)


def test_the_quarterly_defaults_run_both_autoregression_and_the_per_series_families():
    assert "pooled_ar" in TrainingConfig().candidates_for("QS")
    assert "pooled_ar" not in TrainingConfig().candidates_for("D")


def payload(seed: int, intermittent: bool) -> str:
    """A series' backtest payload: candidate 'croston' is good on intermittent series and
    'ets' on smooth ones (errors of 0.2 against 2 scaled units)."""
    rng = np.random.default_rng(seed)
    folds = [rng.uniform(10, 20, 7) for _ in range(3)]
    zero_share = rng.uniform(0.6, 0.9) if intermittent else rng.uniform(0.0, 0.1)
    features = [[2.0, 1.0, zero_share, 0.0, 0.0, 5.0]] * 3
    small, large = (0.2, 2.0) if intermittent else (2.0, 0.2)
    return json.dumps({"actual": [a.tolist() for a in folds], "scale": [1.0] * 3, "features": features,
                       "forecast": {"croston": [(a + small).tolist() for a in folds],
                                    "ets": [(a - large).tolist() for a in folds]}})


def test_the_error_model_learns_which_candidate_suits_which_series():
    payloads = [payload(i, intermittent=i % 2 == 0) for i in range(60)]
    metrics = [json.dumps({"croston": {"mase": 1.1}, "ets": {"mase": 1.0}})] * 60
    prior = learn_prior(payloads + [None], metrics)
    assert prior.ranking == ("ets", "croston") and prior.meta["penalty"] in PENALTIES
    intermittent = combination_weights(prior.meta, [2.0, 1.0, 0.8, 0.0, 0.0, 5.0], ["croston", "ets"])
    smooth = combination_weights(prior.meta, [2.0, 1.0, 0.05, 0.0, 0.0, 5.0], ["croston", "ets"])
    assert intermittent.get("croston", 0) > 0.8 and smooth.get("ets", 0) > 0.8
    assert combination_weights(prior.meta, [2.0, 1.0, 0.05, 0.0, 0.0, 5.0], ["croston"]) == {"croston": 1.0}
    again = PanelPrior.from_json(prior.to_json())
    assert again.ranking == prior.ranking and again.meta["candidates"] == ["croston", "ets"]
    assert learn_prior([], metrics).meta == {}  # nothing sampled: a ranking alone
    # the order the engine returns the series in does not change what is learned
    shuffled = [payloads[i] for i in np.random.default_rng(3).permutation(len(payloads))]
    assert learn_prior(shuffled + [None], metrics).meta == prior.meta
    # an error model of the older form keeps its ranking and is relearned, not misread
    older = PanelPrior.from_json(json.dumps({"ranking": ["ets"], "meta": {"coef": [[0.0]], "temperature": 0.1}}))
    assert older.ranking == ("ets",) and older.meta == {}


def test_what_is_learned_does_not_depend_on_the_candidates_names():
    """The penalty's groups of series come from the backtests' content: with two halves drawn
    by a hash of the payload text, renaming the candidates alone moved the penalty here."""
    rng = np.random.default_rng(0)
    series = []
    for _ in range(80):
        actual = [rng.uniform(10, 20, 7) for _ in range(3)]
        zero_share = rng.uniform(0, 0.9)
        series.append((actual, zero_share, [a + rng.normal(0, 3 - 2 * zero_share, 7) for a in actual],
                       [a + rng.normal(0, 1 + 2 * zero_share, 7) for a in actual]))

    def learned(first: str, second: str) -> tuple[float, dict]:
        payloads = [json.dumps({"actual": [a.tolist() for a in actual], "scale": [1.0] * 3,
                                "features": [[2.0, 1.0, z, 0.0, 0.0, 5.0]] * 3,
                                "forecast": {first: [f.tolist() for f in one], second: [f.tolist() for f in two]}})
                    for actual, z, one, two in series]
        meta = learn_prior(payloads, []).meta
        by_role = {role: (meta["weights"][meta["candidates"].index(name)], meta["bias"][meta["candidates"].index(name)])
                   for role, name in (("first", first), ("second", second))}
        return meta["penalty"], by_role

    reference = learned("croston", "ets")
    for names in [("c2", "e2"), ("m", "n"), ("ets", "croston"), ("aa", "ab")]:
        penalty, by_role = learned(*names)
        assert penalty == reference[0], names
        for role, (w, b) in by_role.items():
            np.testing.assert_allclose(w, reference[1][role][0], atol=1e-5)
            np.testing.assert_allclose(b, reference[1][role][1], atol=1e-5)


def test_series_with_the_same_history_do_not_let_the_input_order_decide():
    """Two stores with the same sales history can still have different forecasts (a pooled
    candidate fits each store's group): the order the engine returns them in must not matter."""
    rng = np.random.default_rng(1)
    payloads = []
    for _ in range(40):
        actual = [rng.uniform(10, 20, 7) for _ in range(3)]
        features = [[2.0, 1.0, float(rng.uniform(0, 0.9)), 0.0, 0.0, 5.0]] * 3
        for _twin in range(2):
            payloads.append(json.dumps({
                "actual": [a.tolist() for a in actual], "scale": [1.0] * 3, "features": features,
                "forecast": {"ets": [(a + rng.normal(0, 2, 7)).tolist() for a in actual],
                             "pooled": [(a + rng.normal(0, 2, 7)).tolist() for a in actual]}}))
    learned = learn_prior(payloads, []).meta
    for seed in range(4):
        shuffled = [payloads[i] for i in np.random.default_rng(seed).permutation(len(payloads))]
        assert learn_prior(shuffled, []).meta == learned


def test_series_without_a_scored_fold_do_not_decide_the_penalty():
    """A series whose folds have no MASE scale (a constant history, say) has nothing to score:
    dealt into the penalty's groups anyway, it could leave a group empty, every penalty rated
    infinite and the first one chosen by default."""
    rng = np.random.default_rng(208)
    scored, unscored = [], []
    for i in range(200):
        actual = [rng.uniform(10, 20, 7) for _ in range(3)]
        zero_share = rng.uniform(0, 0.9)
        text = json.dumps({"actual": [a.tolist() for a in actual], "scale": [1.0 if i < 34 else None] * 3,
                           "features": [[2.0, 1.0, zero_share, 0.0, 0.0, 5.0]] * 3,
                           "forecast": {"a": [(a + rng.normal(0, 3 - 2 * zero_share, 7)).tolist() for a in actual],
                                        "b": [(a + rng.normal(0, 1 + 2 * zero_share, 7)).tolist() for a in actual]}})
        (scored if i < 34 else unscored).append(text)
    assert learn_prior(scored + unscored, []).meta == learn_prior(scored, []).meta


def test_the_ui_shows_the_learned_combination_per_candidate_and_feature():
    from manymodels_assets.assets.models import _meta_table

    payloads = [payload(i, intermittent=i % 2 == 0) for i in range(60)]
    prior = learn_prior(payloads, [json.dumps({"croston": {"mase": 1.1}, "ets": {"mase": 1.0}})] * 60)
    text = _meta_table(prior).value
    header = text.splitlines()[0]
    assert f"candidate (penalty {prior.meta['penalty']})" in header and "baseline" in header
    assert all(f in header for f in FEATURES) and "| croston" in text and "| ets" in text
    assert "none" in _meta_table(None).value


def test_a_series_uses_the_panel_combination_of_the_candidates_it_could_run():
    rng = np.random.default_rng(1)
    history = pd.DataFrame({"date": pd.date_range("2024-01-01", periods=200),
                            "units": rng.poisson(10 * np.resize(WEEK, 200)).astype(float)})
    # logits 0, -1 and 5 whatever the features
    meta = {"candidates": ["seasonal_naive", "naive", "regression"], "features": list(FEATURES), "mu": [0.0] * 6,
            "sd": [1.0] * 6, "weights": [[0.0] * 6] * 3, "bias": [0.0, -1.0, 5.0], "penalty": 1e-3}
    cfg = TrainingConfig(candidates=("seasonal_naive", "naive", "regression"))
    row = train_series("S~I", "S", "I", history, "D", cfg, prior=PanelPrior(("seasonal_naive",), meta))
    w = np.exp([0.0, -1.0]) / np.exp([0.0, -1.0]).sum()  # no plan: no regression
    members = json.loads(row["candidate_metrics"])["ensemble"]["members"]
    assert row["forecaster"] == "ensemble" and members == f"seasonal_naive:{w[0]:.2f}+naive:{w[1]:.2f}"
    assert "panel combination" in row["reason"]
    alone = {n: train_series("S~I", "S", "I", history, "D", TrainingConfig(candidates=(n,), combine_top=0))
             for n in ("seasonal_naive", "naive")}
    expected = w[0] * forecast_series(alone["seasonal_naive"], 28)["yhat"] + w[1] * forecast_series(alone["naive"], 28)["yhat"]
    np.testing.assert_allclose(forecast_series(row, 28)["yhat"], expected)


def test_backtests_are_kept_for_the_sampled_series_only():
    history = pd.DataFrame({"date": pd.date_range("2024-01-01", periods=120), "units": np.arange(120.0) % 7})
    cfg = TrainingConfig(candidates=("seasonal_naive", "naive"))
    kept = train_series("S~I", "S", "I", history, "D", cfg, keep_backtests=True)
    kept_payload = json.loads(kept["candidate_backtests"])
    assert set(kept_payload["forecast"]) == {"seasonal_naive", "naive"}
    assert len(kept_payload["features"]) == len(kept_payload["actual"]) == kept["n_folds"]
    assert train_series("S~I", "S", "I", history, "D", cfg)["candidate_backtests"] is None
    keys = [f"S{i}~I" for i in range(50)]
    assert sample_keys(keys, 10) == sample_keys(list(reversed(keys)), 10) and len(sample_keys(keys, 10)) == 10


def test_long_daily_series_train_on_their_latest_three_years_pooled_candidate_included():
    rng = np.random.default_rng(3)
    n = 2000
    dates = pd.date_range("2019-01-01", periods=n)
    rows = pd.concat([pd.DataFrame({"key": f"S{i}~I1", "date": dates, "price": np.nan, "promo": 0, "is_calendar": False,
                                    "units": rng.poisson(20 * np.resize(WEEK, n)).astype(float)}) for i in range(4)])
    config = TrainingConfig(candidates=("seasonal_naive", "pooled"), combine_top=0)
    assert config.history_window("D") == 1096 and config.history_window("W") == 0
    payloads = group_payloads(rows, config, "D").set_index("key")["pooled"]
    history = rows[rows["key"] == "S0~I1"][["date", "units"]]
    row = train_series("S0~I1", "S0", "I1", history, "D", config, pooled=unpack(payloads["S0~I1"]))
    whole = train_series("S0~I1", "S0", "I1", history, "D", TrainingConfig(candidates=("seasonal_naive",),
                                                                           combine_top=0, max_history=0))
    assert row["n_obs"] == 1096 and row["first_date"] == dates[-1096].date() and whole["n_obs"] == n
    # the pooled backtest was cut to the same window: its folds line up with the series' own
    metrics = json.loads(row["candidate_metrics"])
    assert "error" not in metrics["pooled"] and metrics["pooled"]["mase"] < 1.5, metrics
    # the data version is the whole history's: an unchanged series is not retrained for the cut
    assert row["data_version"] == whole["data_version"]
    given = train_series("S0~I1", "S0", "I1", history.iloc[-1100:], "D", config, data_version="v-whole",
                         pooled=unpack(payloads["S0~I1"]))
    assert given["data_version"] == "v-whole" and given["n_obs"] == 1096


def test_the_pooled_autoregression_forecasts_nothing_for_no_sales_and_one_broken_model_spares_the_other(monkeypatch):
    rows = quarterly_group(n_series=6)
    dead = rows["key"] == "S01~I1"
    rows.loc[dead & (rows["date"] >= rows["date"].max() - pd.DateOffset(years=5)), "units"] = 0.0
    for scale in ("log", "level"):
        from manymodels_assets.forecasting.pooled_ar import ARSettings, fit_predict
        series = [GroupSeries(k, pd.Series(g["units"].to_numpy(), index=pd.PeriodIndex(g["date"], freq="Q-DEC")))
                  for k, g in rows.groupby("key")]
        forecasts = dict(zip([s.key for s in series],
                             fit_predict(series, [len(s.y) for s in series], 8, 4, ARSettings(scale=scale))))
        assert forecasts["S01~I1"].max() < 0.05, (scale, forecasts["S01~I1"])  # five years of no sales
        assert all(np.isfinite(f).all() and f.mean() > 1 for k, f in forecasts.items() if k != "S01~I1")
    # the group's LightGBM breaks in a way nobody planned for: its series record why, and the
    # autoregression fit in the same task is kept
    from manymodels_assets.forecasting import pooled

    def broken(*args, **kwargs):
        raise RuntimeError("LightGBM ran out of something")

    monkeypatch.setattr(pooled, "_fit_predict_fold", broken)
    out = group_payloads(rows, TrainingConfig(candidates=("pooled", "pooled_ar")), "QS")
    for payload in map(unpack, out["pooled"]):
        assert "LightGBM ran out of something" in json.loads(payload["pooled"])["error"]
        assert "error" not in json.loads(payload["pooled_ar"])
