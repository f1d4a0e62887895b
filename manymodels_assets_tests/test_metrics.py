import numpy as np
import pytest

from manymodels_assets.forecasting import metrics as m

A = np.array([10.0, 0.0, 5.0, 5.0])
F = np.array([8.0, 1.0, 5.0, 7.0])


def test_hand_computed_point_metrics():
    # errors 2, -1, 0, -2
    assert m.mae(A, F) == pytest.approx(5 / 4)
    assert m.rmse(A, F) == pytest.approx(np.sqrt(9 / 4))
    assert m.wape(A, F) == pytest.approx(5 / 20)
    # MAPE skips the zero actual: (0.2 + 0 + 0.4) / 3
    assert m.mape(A, F) == pytest.approx(0.6 / 3)
    # sMAPE terms: 4/18, 2/1, 0, 4/12
    assert m.smape(A, F) == pytest.approx((4 / 18 + 2 + 0 + 4 / 12) / 4)


def test_smape_counts_zero_over_zero_as_perfect():
    assert m.smape([0, 0], [0, 0]) == 0.0


def test_mape_and_wape_undefined_on_all_zero_actuals():
    assert np.isnan(m.mape([0, 0], [1, 1]))
    assert np.isnan(m.wape([0, 0], [1, 1]))


def test_mase_scale_is_in_sample_seasonal_naive():
    history = np.array([1, 2, 3, 1, 2, 3, 2, 3, 4.0])  # season 3 diffs: 0,0,0,1,1,1 -> mean 0.5
    assert m.seasonal_naive_scale(history, 3) == pytest.approx(0.5)
    assert m.mase([4, 5], [3, 5], history, 3) == pytest.approx(0.5 / 0.5)


def test_mase_falls_back_to_lag_one_on_short_history():
    assert m.seasonal_naive_scale([1, 3, 2], 7) == pytest.approx(1.5)


def test_mase_nan_for_constant_history():
    assert np.isnan(m.mase([1], [2], [5, 5, 5, 5], 1))


def test_nan_pairs_are_ignored():
    assert m.mae([1, np.nan, 3], [2, 5, 3]) == pytest.approx(0.5)


def test_interval_coverage_and_width():
    assert m.interval_coverage([1, 2, 3, 4], [0, 2.5, 2, 0], [2, 3, 4, 3]) == pytest.approx(0.5)
    assert m.interval_width([0, 1], [2, 5]) == pytest.approx(3.0)


def test_shape_mismatch_is_an_error():
    with pytest.raises(ValueError, match="shape"):
        m.mae([1, 2], [1])
