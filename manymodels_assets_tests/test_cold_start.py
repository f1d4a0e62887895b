"""Cold-start intervals calibrated on the panel: established series cut short, forecast as cold
starts, their errors give the interval; checked on other series cut short."""
import numpy as np
import pandas as pd
import pytest

from manymodels_assets.forecasting import metrics
from manymodels_assets.forecasting.cold_start import ColdStartCalibration, calibrate
from manymodels_assets.forecasting.config import TrainingConfig
from manymodels_assets.forecasting.scoring import forecast_series
from manymodels_assets.forecasting.training import train_series

N, H = 140, 28
WEEK = np.array([0.7, 0.8, 0.9, 1.0, 1.2, 1.6, 0.8])
INDEX = pd.period_range("2024-01-01", periods=N, freq="D")


def store(seed: int) -> pd.Series:
    """A store of the item: its own scale, the item's weekly shape, noisy sales."""
    rng = np.random.default_rng(seed)
    scale = rng.uniform(5, 60)
    return pd.Series(rng.poisson(scale * np.resize(WEEK, N) * rng.lognormal(0, 0.25, N)).astype(float), index=INDEX)


def profile_of(stores: list[pd.Series]) -> pd.Series:
    mean = pd.concat(stores, axis=1).mean(axis=1)
    return pd.Series(mean.to_numpy(), index=mean.index.start_time)


def test_calibrated_cold_start_intervals_cover_other_series_cut_short():
    panel = [store(i) for i in range(120)]
    profile = profile_of(panel)
    config = TrainingConfig(candidates=("seasonal_naive",))
    calibration = calibrate([(y, profile) for y in panel[:80]], H, 7, config.min_history("D"), 0.95)
    assert set(calibration.halfwidths) == {"item_profile"} and calibration.counts["item_profile"] > 1000
    # fewer known points, a less certain scale: the interval is wider
    widths = calibration.halfwidths["item_profile"]
    assert widths[1] > widths[32]
    hits, total = 0, 0
    for i, y in enumerate(panel[80:]):
        points = 1 + (i * 7) % (config.min_history("D") - 1)
        short = pd.DataFrame({"date": y.index[N - H - points:N - H].start_time, "units": y.iloc[N - H - points:N - H]})
        cut = profile[profile.index <= short["date"].iloc[-1]]
        row = train_series("S~I", "S", "I", short, "D", config, item_profile=cut, cold_start=calibration)
        assert row["status"] == "cold_start" and row["interval_scale"] == "log"
        assert "calibrated on the panel" in row["reason"]
        fc = forecast_series(row, H)
        actual = y.iloc[N - H:].to_numpy()
        hits += metrics.interval_coverage(actual, fc["yhat_lower"], fc["yhat_upper"]) * H
        total += H
    assert 0.90 <= hits / total <= 0.99


def test_without_a_calibration_the_interval_is_normal_theory_and_calibration_round_trips():
    y = store(1)
    short = pd.DataFrame({"date": y.index[:10].start_time, "units": y.iloc[:10]})
    row = train_series("S~I", "S", "I", short, "D", TrainingConfig())
    assert row["status"] == "cold_start" and row["interval_scale"] == "additive"
    c = ColdStartCalibration(0.95, {"item_profile": {1: 0.9, 4: 0.5}}, {"item_profile": 10})
    again = ColdStartCalibration.from_json(c.to_json())
    assert again.halfwidth("item_profile", 3) == pytest.approx(0.9) and again.halfwidth("item_profile", 9) == 0.5
    assert again.halfwidth("window_mean", 3) is None


def test_a_late_store_new_item_still_forecasts_from_its_items_profile():
    """A late store's series end before the panel's, and so before the item's profile: the profile
    is read up to the series' own last day, not dropped for the last-season mean."""
    from manymodels_assets.forecasting.cold_start import cold_start_forecast

    profile = profile_of([store(s) for s in range(5)])
    new = store(99).iloc[-12:-2]  # ten days, the store's last two not in yet
    name, _, forecast, _ = cold_start_forecast(new, H, 7, profile)
    assert name == "item_profile"
    # in step with the series' own end: the item's busiest day (Saturday) where it falls after it
    start = (new.index[-1] + 1).weekday
    assert np.asarray(forecast)[:7].argmax() == (5 - start) % 7
