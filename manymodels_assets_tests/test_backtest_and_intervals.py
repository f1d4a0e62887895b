import numpy as np
import pandas as pd
import pytest

from manymodels_assets.forecasting.backtest import backtest, fold_windows
from manymodels_assets.forecasting.intervals import conformal_halfwidth, leave_fold_out_coverage


def test_folds_are_contiguous_non_overlapping_and_end_at_the_series_end():
    folds = fold_windows(n_obs=100, horizon=10, n_folds=3, min_train=14)
    assert [(f.train_end, f.test_end) for f in folds] == [(70, 80), (80, 90), (90, 100)]


def test_folds_drop_when_training_would_be_too_short():
    assert len(fold_windows(n_obs=40, horizon=10, n_folds=3, min_train=14)) == 2
    assert fold_windows(n_obs=20, horizon=10, n_folds=3, min_train=14) == []


def test_backtest_compares_each_fold_with_the_following_actuals():
    y = pd.Series(np.arange(60, dtype=float), index=pd.period_range("2024-01-01", periods=60, freq="D"))
    folds = fold_windows(60, 5, 2, 14)
    result = backtest("naive", y, folds, season_length=7)
    # naive repeats the last training value: fold 1 trains on 0..49 -> forecasts 49
    np.testing.assert_array_equal(result.actual[0], np.arange(50, 55))
    np.testing.assert_array_equal(result.forecast[0], np.full(5, 49.0))
    np.testing.assert_array_equal(result.errors[:5], np.arange(1, 6))


def test_conformal_halfwidth_interpolates_the_finite_sample_rank():
    errors = np.arange(1, 20, dtype=float)  # 19 errors: rank 20 * 0.9 = 18
    assert conformal_halfwidth(errors, 0.9) == pytest.approx(18.0)
    assert conformal_halfwidth(np.arange(1, 37, dtype=float), 0.95) == pytest.approx(35.15)  # rank 37 * 0.95
    assert conformal_halfwidth([1.0, 2.0], 0.95) == 2.0  # rank past the largest: the largest
    assert conformal_halfwidth([5.0], 0.5) == 5.0
    assert conformal_halfwidth([], 0.95) == float("inf")


def test_leave_fold_out_coverage_counts_held_out_hits():
    folds = [np.array([1.0, -1.0]), np.array([1.0, 3.0])]
    # fold 0 calibrated on |1|,|3| at 0.5 -> rank ceil(3*.5)=2 -> width 3: both hit
    # fold 1 calibrated on |1|,|-1| -> width 1: one of two hits
    assert leave_fold_out_coverage(folds, 0.5) == pytest.approx(3 / 4)
    assert np.isnan(leave_fold_out_coverage(folds[:1], 0.9))
