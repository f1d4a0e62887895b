import json

import numpy as np
import pandas as pd
import pytest

from manymodels_assets.forecasting import candidates
from manymodels_assets.forecasting.scoring import forecast_series
from manymodels_assets.forecasting.serialization import dump_model, load_model
from manymodels_assets.forecasting.config import TrainingConfig
from manymodels_assets.forecasting.training import train_series
from manymodels_assets.schemas import MODEL_SET


def history(n=365, seed=0, weekly=True, noise=1.0):
    rng = np.random.default_rng(seed)
    pattern = np.array([5, 6, 7, 8, 12, 15, 9.0])
    base = np.resize(pattern, n) if weekly else np.full(n, 10.0)
    return pd.DataFrame({"date": pd.date_range("2024-01-01", periods=n, freq="D"),
                         "units": base + noise * rng.normal(size=n)})


def test_row_has_exactly_the_model_set_columns_and_a_usable_model():
    row = train_series("S~I", "S", "I", history(), "D", TrainingConfig())
    assert set(row) == set(MODEL_SET.names)
    assert row["status"] == "ok" and row["n_folds"] == 3 and row["horizon"] == 28
    metrics = json.loads(row["candidate_metrics"])
    assert metrics.keys() == {"seasonal_naive", "tsb", "regression", "pooled", "ensemble"}  # the daily defaults
    assert metrics["regression"] == {"skipped": "no price or promotion data in the history"}
    assert row["forecaster"] in metrics


def test_selection_takes_the_candidate_with_the_lowest_metric():
    row = train_series("S~I", "S", "I", history(noise=0.5), "D", TrainingConfig(metric="wape"))
    scores = {c: v["wape"] for c, v in json.loads(row["candidate_metrics"]).items() if "wape" in v}
    assert row["forecaster"] == min(scores, key=scores.get)
    assert row["wape"] == pytest.approx(scores[row["forecaster"]])


def test_seasonal_series_beats_naive_and_picks_a_seasonal_model():
    cfg = TrainingConfig(candidates=("naive", "seasonal_naive"))
    row = train_series("S~I", "S", "I", history(noise=0.1), "D", cfg)
    assert row["forecaster"] == "seasonal_naive"
    metrics = json.loads(row["candidate_metrics"])
    assert metrics["seasonal_naive"]["mae"] < metrics["naive"]["mae"] / 5


def test_short_series_gets_the_cold_start_model_and_is_flagged():
    row = train_series("S~I", "S", "I", history(n=20), "D", TrainingConfig())
    assert row["status"] == "cold_start" and row["forecaster"] == "window_mean"
    assert "fewer than" in row["reason"] and row["error"] is None
    fc = forecast_series(row, 28)
    assert len(fc) == 28 and (fc["yhat_upper"] >= fc["yhat"]).all()


def test_a_series_whose_every_candidate_was_skipped_says_so():
    weekly = pd.DataFrame({"date": pd.date_range("2020-01-05", periods=60, freq="7D"), "units": np.arange(1, 61.0)})
    row = train_series("S~I", "S", "I", weekly, "W-SAT", TrainingConfig(candidates=("regression",), combine_top=0,
                                                                       use_panel_prior=False))
    assert row["status"] == "fallback" and row["reason"].startswith("every candidate failed or was skipped")
    assert row["error"] == "regression skipped: no price or promotion data in the history"


def test_empty_series_fails_without_raising():
    row = train_series("S~I", "S", "I", history(n=0), "D", TrainingConfig())
    assert row["status"] == "failed" and row["model"] is None


def test_a_failing_candidate_does_not_fail_the_series(monkeypatch):
    def broken(spec):
        raise RuntimeError("boom")

    monkeypatch.setitem(candidates.CANDIDATES, "broken", candidates.Candidate(broken))
    row = train_series("S~I", "S", "I", history(), "D", TrainingConfig(candidates=("broken", "seasonal_naive")))
    assert row["status"] == "ok" and row["forecaster"] == "seasonal_naive"
    assert "boom" in json.loads(row["candidate_metrics"])["broken"]["error"]


def test_series_with_zeros_trains_every_candidate():
    h = history()
    h.loc[h.index % 3 == 0, "units"] = 0.0
    row = train_series("S~I", "S", "I", h, "D", TrainingConfig())
    assert all("error" not in v for v in json.loads(row["candidate_metrics"]).values())


def test_defaults_per_frequency():
    cfg = TrainingConfig()
    assert cfg.resolved("W-WED") == (12, 52) and cfg.resolved("D") == (28, 7) and cfg.resolved("Q-DEC") == (8, 4)
    assert "pooled" in cfg.candidates_for("D") and "auto_ets" in cfg.candidates_for("QS")
    assert TrainingConfig(candidates=("naive",)).candidates_for("D") == ("naive",)


def test_config_rejects_unknown_names():
    with pytest.raises(ValueError, match="unknown candidates"):
        TrainingConfig(candidates=("prophet",))
    with pytest.raises(ValueError, match="metric"):
        TrainingConfig(metric="r2")


def test_serialization_round_trip_predicts_the_same():
    fitted, _ = candidates.fit_predict("ets", pd.Series(history()["units"].to_numpy(),
                                       index=pd.period_range("2024-01-01", periods=365, freq="D")), 28, 7)
    again = load_model(dump_model(fitted))
    np.testing.assert_allclose(np.asarray(again.predict(fh=np.arange(1, 29))),
                               np.asarray(fitted.predict(fh=np.arange(1, 29))))


def test_forecast_dates_follow_the_last_date_and_are_non_negative():
    h = history(noise=3)
    row = train_series("S~I", "S", "I", h, "D", TrainingConfig())
    fc = forecast_series(row, 28)
    assert fc["forecast_date"].iloc[0] == (h["date"].iloc[-1] + pd.Timedelta(days=1)).date()
    assert list(fc["step"]) == list(range(1, 29))
    assert (fc[["yhat", "yhat_lower", "yhat_upper"]] >= 0).all().all()
    assert (fc["yhat_lower"] <= fc["yhat"]).all() and (fc["yhat"] <= fc["yhat_upper"]).all()


def test_hourly_forecasts_and_the_champions_window_keep_the_hour():
    from manymodels_assets.forecasting.challenge import challenge

    hours = pd.date_range("2024-01-01 00:00", periods=100, freq="h")
    cycle = 10 * (np.arange(100) % 24) + 1 + np.random.default_rng(0).uniform(0, 1, 100)
    full = pd.DataFrame({"date": hours, "units": cycle})
    config = TrainingConfig(candidates=("seasonal_naive",), horizon=3, n_folds=1, combine_top=0,
                            use_panel_prior=False)
    champion = train_series("S~I", "S", "I", full.iloc[:80], "h", config)  # trained to 07:00 on the 4th
    assert champion["last_date"] == hours[79].to_pydatetime()
    assert list(forecast_series(champion, 3)["forecast_date"]) == [d.to_pydatetime() for d in hours[80:83]]
    # the same model on both sides scores alike once the champion's forecasts are lined up by the hour
    result = challenge(full, champion, train_series("S~I", "S", "I", full, "h", config))
    assert result["champion_score"] == pytest.approx(result["challenger_score"], rel=1e-3)


def test_a_series_that_stopped_selling_is_inactive_with_a_flagged_zero_forecast():
    h = history(n=500)
    h.loc[h.index >= 400, "units"] = 0.0  # 100 days without a sale > 13 weeks (the daily default)
    row = train_series("S~I", "S", "I", h, "D", TrainingConfig())
    assert row["status"] == "inactive" and row["forecaster"] == "zero"
    assert "no sales in the last 91 periods" in row["reason"]
    assert json.loads(row["candidate_metrics"]) == {}  # no candidate was fit on its zeros
    fc = forecast_series(row, 28)
    assert (fc[["yhat", "yhat_lower", "yhat_upper"]] == 0).all().all() and (fc["status"] == "inactive").all()
    # sales return: it trains again
    h.loc[h.index >= 480, "units"] = 5.0
    assert train_series("S~I", "S", "I", h, "D", TrainingConfig())["status"] == "ok"
    # the rule is configurable, 0 switches it off
    h.loc[h.index >= 480, "units"] = 0.0
    assert train_series("S~I", "S", "I", h, "D", TrainingConfig(inactive_seasons=0))["status"] == "ok"
    assert train_series("S~I", "S", "I", h, "D", TrainingConfig(inactive_seasons=20))["status"] == "ok"


def test_the_inactive_rule_counts_calendar_seasons_and_sees_past_a_short_history_window():
    h = history(n=500)
    h.loc[h.index >= 300, "units"] = 0.0  # 200 quiet days
    # a short max_history must not hide the quiet days from the rule (the window covers its 91 days)
    config = TrainingConfig(candidates=("naive",), max_history=60)
    assert config.history_window("D") >= config.inactive_periods("D") == 91
    assert train_series("S~I", "S", "I", h, "D", config)["status"] == "inactive"
    # season_length=1 switches seasonality off, not the rule: one quiet week is not a stopped series
    weeks = pd.DataFrame({"date": pd.date_range("2018-01-06", periods=121, freq="7D"), "units": np.r_[np.ones(120), 0.0]})
    no_season = TrainingConfig(candidates=("naive",), season_length=1)
    assert no_season.inactive_periods("W-FRI") == 52
    assert train_series("S~I", "S", "I", weeks, "W-FRI", no_season)["status"] == "ok"


@pytest.mark.parametrize("setting", ["horizon", "season_length", "min_train"])
def test_a_length_below_one_is_refused(setting):
    with pytest.raises(ValueError, match=f"{setting} must be >= 1"):
        TrainingConfig(**{setting: 0})


def test_the_training_configuration_has_one_fingerprint_and_flat_tracking_parameters(monkeypatch):
    from manymodels_assets.forecasting import config
    from manymodels_assets.forecasting.config import TrainingConfig
    from manymodels_assets.forecasting.selection import PanelPrior

    base = TrainingConfig()
    assert base.fingerprint() == TrainingConfig().fingerprint() != TrainingConfig(n_folds=4).fingerprint()
    assert TrainingConfig(max_history=0).fingerprint() != base.fingerprint()
    # a release that changes a frequency's default candidates retrains what the old ones trained
    before, chosen = base.fingerprint(), TrainingConfig(candidates=("tsb",)).fingerprint()
    monkeypatch.setitem(config.DEFAULT_CANDIDATES, "Q", ("seasonal_naive", "ets"))
    assert TrainingConfig().fingerprint() != before
    assert TrainingConfig(candidates=("tsb",)).fingerprint() == chosen  # candidates chosen by hand: no change
    params = base.params()
    assert params["candidates"] == "frequency defaults" and params["n_folds"] == 3
    assert TrainingConfig(candidates=("tsb", "naive")).params()["candidates"] == "tsb,naive"
    assert PanelPrior.params(None) == {"prior": "none", "prior_penalty": "none"}
    assert PanelPrior.params(PanelPrior(("tsb", "naive"), {"penalty": 0.001})) == {
        "prior": "tsb,naive", "prior_penalty": "0.001"}


@pytest.mark.parametrize("freq, label, first", [
    ("W-WED", "2024-05-16/2024-05-22", "2024-05-16"), ("M", "2024-05", "2024-05-01"),
    ("Q-DEC", "2024Q2", "2024-04-01"), ("D", "2024-05-16", "2024-05-16")])
def test_backtest_plots_start_each_fold_on_its_first_periods_day(freq, label, first):
    from manymodels_assets.assets.report import backtest_dates

    assert str(pd.Period(first, freq)) == label  # how the model row's backtest labels a fold
    dates = backtest_dates(label, 3, {"W-WED": "W-THU", "M": "MS", "Q-DEC": "QS-JAN", "D": "D"}[freq])
    assert dates[0] == pd.Timestamp(first) and len(dates) == 3
    assert backtest_dates(label, 3, "D", freq)[0] == pd.Timestamp(first)  # with the series' own periods too


def test_backtest_plots_start_a_fiscal_period_where_it_starts():
    from manymodels_assets.assets.report import backtest_dates

    assert backtest_dates("2024Q2", 2, "QS-MAR", "Q-NOV")[0] == pd.Timestamp("2024-03-01")
    assert backtest_dates("2024", 2, "YS-JUL", "Y-JUN")[0] == pd.Timestamp("2023-07-01")


def test_a_panel_prior_learned_at_another_frequency_is_not_applied():
    from manymodels_assets.forecasting.selection import PanelPrior

    weeks = pd.DataFrame({"date": pd.date_range("2020-01-05", periods=120, freq="W-SUN"),
                          "units": 20 + 5 * np.sin(np.arange(120) / 8.3) + np.random.default_rng(3).normal(size=120)})
    meta = {"candidates": ["naive", "seasonal_naive"], "features": [], "mu": [0.0] * 6, "sd": [1.0] * 6,
            "weights": [[0.0] * 6, [0.0] * 6], "bias": [5.0, 0.0], "penalty": 0.001}
    config = TrainingConfig(candidates=("naive", "seasonal_naive"))

    def reason(freq):
        prior = PanelPrior(("naive", "seasonal_naive"), meta, freq)
        assert PanelPrior.from_json(prior.to_json()) == prior
        return train_series("S~I", "S", "I", weeks, "W-SAT", config, prior=prior)["reason"] or ""

    assert "panel combination" in reason("W-SAT") and "panel combination" in reason(None)  # None: an older prior
    assert "panel combination" not in reason("D")  # learned on the same series as days
