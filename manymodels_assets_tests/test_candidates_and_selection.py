"""Each candidate, the planned calendar as regressors, the combination, intervals, cold start."""
import json

import numpy as np
import pandas as pd
import pytest

from manymodels_assets.forecasting import intervals
from manymodels_assets.forecasting.candidates import CANDIDATES, fit_predict
from manymodels_assets.forecasting.calendar import has_price_or_promo, regressors
from manymodels_assets.forecasting.scoring import forecast_series
from manymodels_assets.forecasting.config import TrainingConfig
from manymodels_assets.forecasting.selection import PanelPrior
from manymodels_assets.forecasting.training import train_series

N = 364


def panel(n=N, seed=0, price_effect=True, intermittent=False):
    rng = np.random.default_rng(seed)
    dates = pd.date_range("2024-01-01", periods=n + 28, freq="D")
    price = np.where(rng.random(n + 28) < 0.15, 8.0, 10.0)
    promo = (rng.random(n + 28) < 0.08).astype(int)
    weekly = np.resize([0.8, 0.8, 0.9, 1.0, 1.2, 1.5, 1.1], n + 28)
    mean = 20 * weekly * ((price / 10) ** -3 if price_effect else 1) * np.where(promo == 1, 1.8, 1.0)
    units = rng.poisson(mean).astype(float)
    if intermittent:
        units = (rng.random(n + 28) < 0.08) * rng.poisson(2, n + 28).astype(float)
    frame = pd.DataFrame({"date": dates, "units": units, "price": price, "promo": promo})
    return frame.iloc[:n].reset_index(drop=True), frame.iloc[n:].reset_index(drop=True)


@pytest.mark.parametrize("name", sorted(CANDIDATES))
def test_every_candidate_fits_and_forecasts_the_horizon(name):
    hist, future = panel()
    y = pd.Series(hist["units"].to_numpy(), index=pd.PeriodIndex(hist["date"], freq="D"))
    X = regressors(hist, "D") if CANDIDATES[name].uses_calendar else None
    X_calendar = regressors(future, "D", float(hist["price"].median())) if X is not None else None
    fitted, forecast = fit_predict(name, y, 28, 7, X, X_calendar)
    assert forecast.shape == (28,) and np.isfinite(forecast).all()


def test_regression_uses_the_planned_calendar_and_wins_on_price_driven_sales():
    hist, future = panel()
    cfg = TrainingConfig(candidates=("seasonal_naive", "ets", "regression"), combine_top=0)
    row = train_series("S~I", "S", "I", hist, "D", cfg, calendar=future[["date", "price", "promo"]])
    assert row["forecaster"] == "regression" and row["calendar_regressors"]
    fc = forecast_series(row, 28)
    promo_days = future["promo"].to_numpy() == 1
    # the forecast follows the plan: promotion days are forecast higher
    assert fc.loc[promo_days, "yhat"].mean() > 1.3 * fc.loc[~promo_days, "yhat"].mean()


def test_regression_is_skipped_with_its_reason_without_a_full_calendar():
    hist, future = panel()
    cfg = TrainingConfig(candidates=("seasonal_naive", "regression"))
    no_plan = json.loads(train_series("S~I", "S", "I", hist, "D", cfg)["candidate_metrics"])
    assert no_plan["regression"] == {"skipped": "no planned calendar"}
    short = json.loads(train_series("S~I", "S", "I", hist, "D", cfg, calendar=future.iloc[:10])["candidate_metrics"])
    assert short["regression"]["skipped"].startswith("the planned calendar covers 10 of the 28")
    assert "mase" in short["seasonal_naive"]


def test_a_daily_plan_serves_a_weekly_series_one_row_per_week():
    rng = np.random.default_rng(3)
    weeks = pd.date_range("2022-01-02", periods=104, freq="7D")  # Sundays: W-SAT periods
    promo = (rng.random(104) < 0.2).astype(int)
    hist = pd.DataFrame({"date": weeks, "units": rng.poisson(np.where(promo == 1, 60, 20)).astype(float),
                         "price": 2.0, "promo": promo})
    days = pd.date_range(weeks[-1] + pd.Timedelta(days=7), periods=84, freq="D")
    plan = pd.DataFrame({"date": days, "price": 2.0, "promo": ((days.day >= 10) & (days.day < 13)).astype(int)})
    cfg = TrainingConfig(candidates=("naive", "regression"), combine_top=0)
    row = train_series("S~I", "S", "I", hist, "W-SAT", cfg, calendar=plan)
    assert "mase" in json.loads(row["candidate_metrics"])["regression"]  # 84 days are the 12 weeks
    short = json.loads(train_series("S~I", "S", "I", hist, "W-SAT", cfg, calendar=plan.iloc[:14])["candidate_metrics"])
    assert short["regression"]["skipped"].startswith("the planned calendar covers 2 of the 12")
    # a plan of promotions only: the prices stay where the history left them
    hist["price"] = np.where(np.arange(104) % 9 == 0, 1.5, 2.0)
    promotions_only = train_series("S~I", "S", "I", hist, "W-SAT", cfg, calendar=plan.drop(columns="price"))
    assert "mase" in json.loads(promotions_only["candidate_metrics"])["regression"]
    assert set(regressors(plan.assign(units=1.0), "24h")) >= {"dow0", "promo"}  # a day of hours is a day


def test_has_price_or_promo():
    hist, _ = panel()
    assert has_price_or_promo(hist)
    assert not has_price_or_promo(hist.assign(price=np.nan, promo=0))
    assert not has_price_or_promo(hist[["date", "units"]])


def test_intermittent_series_gets_an_intermittent_demand_method_or_better():
    hist, _ = panel(intermittent=True)
    row = train_series("S~I", "S", "I", hist[["date", "units"]], "D",
                       TrainingConfig(candidates=("seasonal_naive", "croston", "tsb"), combine_top=0))
    metrics = json.loads(row["candidate_metrics"])
    assert metrics["croston"]["mae"] < metrics["seasonal_naive"]["mae"]
    assert row["forecaster"] in ("croston", "tsb")


def test_combination_is_the_mean_of_the_best_two_and_can_be_chosen():
    hist, _ = panel(price_effect=False)
    row = train_series("S~I", "S", "I", hist[["date", "units"]], "D",
                       TrainingConfig(candidates=("seasonal_naive", "ets", "theta"), combine_top=2))
    metrics = json.loads(row["candidate_metrics"])
    ranked = sorted(["seasonal_naive", "ets", "theta"], key=lambda c: metrics[c]["mase"])
    assert metrics["ensemble"]["members"] == "+".join(f"{c}:0.50" for c in ranked[:2])
    assert row["forecaster"] == min(metrics, key=lambda c: metrics[c]["mase"])


def test_selection_follows_the_configured_metric():
    hist, _ = panel(price_effect=False)
    for metric in ("mase", "rmse", "smape"):
        row = train_series("S~I", "S", "I", hist[["date", "units"]], "D",
                           TrainingConfig(metric=metric, candidates=("naive", "seasonal_naive", "ets"), combine_top=0))
        scores = {c: v[metric] for c, v in json.loads(row["candidate_metrics"]).items()}
        assert row["forecaster"] == min(scores, key=scores.get)


def test_interval_bounds_on_log_and_additive_scales():
    lower, upper = intervals.bounds([0.0, 9.0], np.log(2), "log")
    np.testing.assert_allclose(lower, [0.0, 4.0])  # exp(log 10 - log 2) - 1
    np.testing.assert_allclose(upper, [1.0, 19.0])
    lower, upper = intervals.bounds([5.0], 2.0, "additive")
    assert (lower[0], upper[0]) == (3.0, 7.0)


def test_backtest_coverage_is_measured_leave_fold_out_and_close_to_nominal_on_iid_noise():
    rng = np.random.default_rng(4)
    hist = pd.DataFrame({"date": pd.date_range("2020-01-01", periods=2000, freq="D"),
                         "units": 50 + rng.normal(0, 3, 2000)})
    row = train_series("S~I", "S", "I", hist, "D", TrainingConfig(candidates=("naive",), n_folds=20, combine_top=0,
                                                                  interval_scale="additive", interval_level=0.9))
    assert row["n_folds"] == 20
    assert 0.82 <= row["interval_coverage"] <= 0.97
    assert row["interval_width"] == pytest.approx(2 * row["interval_halfwidth"])


def test_cold_start_scales_the_item_profile_to_the_store():
    dates = pd.date_range("2024-12-01", periods=56, freq="D")
    profile = pd.Series(np.resize([10.0, 10, 10, 10, 20, 30, 10], 56), index=dates)
    store = pd.DataFrame({"date": dates[-10:], "units": profile.to_numpy()[-10:] * 0.5})  # half the item's average
    row = train_series("S9~I1", "S9", "I1", store, "D", TrainingConfig(), item_profile=profile)
    assert row["status"] == "cold_start" and row["forecaster"] == "item_profile"
    fc = forecast_series(row, 28)
    expected = np.resize([10.0, 10, 10, 10, 20, 30, 10], 84)[56:] * 0.5
    np.testing.assert_allclose(fc["yhat"], expected, rtol=1e-6)
    assert (fc["status"] == "cold_start").all()


def test_cold_start_without_a_usable_profile_uses_the_last_season_mean():
    store = pd.DataFrame({"date": pd.date_range("2024-12-01", periods=10, freq="D"), "units": 4.0})
    stale = pd.Series([5.0, 5.0], index=pd.date_range("2024-01-01", periods=2, freq="D"))
    for profile in (None, stale):
        row = train_series("S9~I1", "S9", "I1", store, "D", TrainingConfig(), item_profile=profile)
        assert row["status"] == "cold_start" and row["forecaster"] == "window_mean"
        assert "mean of the last season" in row["reason"]


def test_panel_ranking_orders_candidates_by_mean_backtest_metric():
    from manymodels_assets.forecasting.selection import panel_ranking

    rows = [json.dumps({"a": {"mase": 1.0}, "b": {"mase": 0.5}, "c": {"skipped": "no plan"}}),
            json.dumps({"a": {"mase": 0.8}, "b": {"mase": 0.9}, "c": {"mase": 2.0}}), None]
    assert panel_ranking(rows) == ["b", "a", "c"]


def test_panel_prior_keeps_the_panel_choice_unless_clearly_beaten():
    hist, _ = panel(price_effect=False)
    cfg = TrainingConfig(candidates=("naive", "seasonal_naive"), combine_top=0, prior_margin=0.1)
    free = train_series("S~I", "S", "I", hist[["date", "units"]], "D", cfg)
    assert free["forecaster"] == "seasonal_naive"  # far better on this weekly-patterned series
    scores = {c: v["mase"] for c, v in json.loads(free["candidate_metrics"]).items()}
    # the panel prefers naive, but seasonal naive is > 10% better here: the series leaves the panel's choice
    assert scores["seasonal_naive"] < 0.9 * scores["naive"]
    assert train_series("S~I", "S", "I", hist[["date", "units"]], "D", cfg,
                        prior=PanelPrior(("naive", "seasonal_naive")))["forecaster"] == "seasonal_naive"
    # with a margin it cannot clear, the series keeps the panel's choice
    strict = TrainingConfig(candidates=("naive", "seasonal_naive"), combine_top=0, prior_margin=0.99)
    assert train_series("S~I", "S", "I", hist[["date", "units"]], "D", strict,
                        prior=PanelPrior(("naive", "seasonal_naive")))["forecaster"] == "naive"
    # a prior naming candidates this series could not run is ignored
    assert train_series("S~I", "S", "I", hist[["date", "units"]], "D", strict,
                        prior=PanelPrior(("regression",)))["forecaster"] == "seasonal_naive"


def test_a_model_older_than_its_series_forecasts_after_the_newest_data_and_a_capped_one_stops_at_its_reach():
    hist, future = panel()
    cfg = TrainingConfig(candidates=("seasonal_naive", "regression"), combine_top=0)
    on_calendar = train_series("S~I", "S", "I", hist, "D", cfg, calendar=future[["date", "price", "promo"]])
    plain = train_series("S~I", "S", "I", hist, "D", TrainingConfig(candidates=("seasonal_naive",)))
    trained = pd.Timestamp(plain["last_date"])
    newest, panel_newest = trained + pd.Timedelta(days=5), trained + pd.Timedelta(days=8)
    # kept by promotion five days ago: from the day after the newest data, the same numbers at the same lead times
    kept = forecast_series(plain, 28, series_end=newest.date())
    assert kept["step"].tolist() == list(range(6, 34))
    assert kept["forecast_date"].iloc[0] == (newest + pd.Timedelta(days=1)).date()
    np.testing.assert_allclose(kept["yhat"], forecast_series(plain, 33)["yhat"].iloc[5:])
    # a late store's series: through the horizon past the panel's newest day, three days more
    late = forecast_series(plain, 28, series_end=newest.date(), panel_end=panel_newest.date())
    assert late["step"].tolist() == list(range(6, 37))
    assert late["forecast_date"].iloc[-1] == (panel_newest + pd.Timedelta(days=28)).date()
    # a model on the planned calendar reaches only as far as its plan: 28 days from its own end
    assert on_calendar["forecaster"] == "regression"
    capped = forecast_series(on_calendar, 28, series_end=newest.date())
    assert capped["step"].tolist() == list(range(6, 29))
    assert forecast_series(on_calendar, 28, series_end=(trained + pd.Timedelta(days=30)).date()).empty


def test_forecast_windows_count_periods_at_every_frequency():
    from manymodels_assets.forecasting.scoring import forecast_windows

    d = pd.Timestamp
    models = pd.DataFrame([
        # freq, the model's last date, the series' newest, its horizon
        ("D", d("2024-03-01"), d("2024-03-04"), 28),  # kept three days: steps 4..31
        ("W-SAT", d("2024-02-25"), d("2024-03-10"), 12),  # two weeks
        ("M", d("2024-01-01"), d("2024-03-01"), 12),  # two months
        ("3M", d("2023-07-01"), d("2024-01-01"), 4),  # two quarters of a 3-month multiple
        ("Q-DEC", d("2024-01-01"), None, 8),  # the series' newest unknown: from the model's end
    ], columns=["freq", "last_date", "series_end", "horizon"])
    windows = forecast_windows(models)
    assert windows.values.tolist() == [[4, 31], [3, 14], [3, 14], [3, 6], [1, 8]]
    # a panel whose newest day is later (a late store): the same last periods for everyone
    late = forecast_windows(models.iloc[:1], horizon=7, panel_end=d("2024-03-06"))
    assert late.values.tolist() == [[4, 12]]


def test_a_model_fitted_for_its_horizon_answers_shorter_and_later_windows_with_its_trained_steps():
    rng = np.random.default_rng(0)
    n = 800  # two years: MSTL with weekly and yearly seasons (it refuses any horizon but the one it was fit for)
    hist = pd.DataFrame({"date": pd.date_range("2022-01-01", periods=n, freq="D"),
                         "units": 10 + np.resize([0, 1, 2, 3, 5, 7, 2.0], n)
                         + 3 * np.sin(np.arange(n) * 2 * np.pi / 365) + rng.normal(size=n)})
    row = train_series("S~I", "S", "I", hist, "D", TrainingConfig(candidates=("mstl",), combine_top=0))
    assert row["forecaster"] == "mstl" and row["horizon"] == 28
    whole = forecast_series(row, 28)
    np.testing.assert_allclose(forecast_series(row, 7)["yhat"], whole["yhat"].iloc[:7])
    kept = forecast_series(row, 28, series_end=(pd.Timestamp(row["last_date"]) + pd.Timedelta(days=3)).date())
    assert kept["step"].tolist() == list(range(4, 29))  # its 28 trained steps, from after the newest data
    np.testing.assert_allclose(kept["yhat"], whole["yhat"].iloc[3:])
