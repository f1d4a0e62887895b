"""Point and interval accuracy metrics, vectorised numpy.

Every metric takes arrays of actuals and forecasts of the same shape and ignores NaN pairs.
Percentage metrics are safe with zeros: MAPE skips zero actuals, sMAPE counts 0/0 as 0.
"""
from __future__ import annotations

import numpy as np

METRICS = ("mase", "wape", "smape", "mae", "rmse", "mape")
"""Every metric a backtest reports; any of them can select (lower is better)."""


def _pairs(actual, forecast) -> tuple[np.ndarray, np.ndarray]:
    a = np.asarray(actual, dtype=float).ravel()
    f = np.asarray(forecast, dtype=float).ravel()
    if a.shape != f.shape:
        raise ValueError(f"actual and forecast differ in shape: {a.shape} vs {f.shape}")
    ok = ~(np.isnan(a) | np.isnan(f))
    return a[ok], f[ok]


def mae(actual, forecast) -> float:
    a, f = _pairs(actual, forecast)
    return float(np.mean(np.abs(a - f))) if a.size else np.nan


def rmse(actual, forecast) -> float:
    a, f = _pairs(actual, forecast)
    return float(np.sqrt(np.mean((a - f) ** 2))) if a.size else np.nan


def mape(actual, forecast) -> float:
    """Mean absolute percentage error over the non-zero actuals (NaN if all are zero)."""
    a, f = _pairs(actual, forecast)
    nz = a != 0
    return float(np.mean(np.abs((a[nz] - f[nz]) / a[nz]))) if nz.any() else np.nan


def smape(actual, forecast) -> float:
    """Symmetric MAPE in [0, 2]; a pair with both values zero counts as a perfect forecast."""
    a, f = _pairs(actual, forecast)
    if not a.size:
        return np.nan
    denom = np.abs(a) + np.abs(f)
    terms = np.divide(2 * np.abs(a - f), denom, out=np.zeros_like(denom), where=denom > 0)
    return float(np.mean(terms))


def wape(actual, forecast) -> float:
    """Weighted absolute percentage error: sum |a - f| / sum |a| (NaN if all actuals are 0)."""
    a, f = _pairs(actual, forecast)
    total = np.sum(np.abs(a))
    return float(np.sum(np.abs(a - f)) / total) if total > 0 else np.nan


def seasonal_naive_scale(history, season_length: int) -> float:
    """In-sample MAE of the seasonal naive forecast: the MASE denominator.

    Falls back to lag 1 when the history is shorter than two seasons, and returns NaN for a
    constant history (no scale to compare against).
    """
    y = np.asarray(history, dtype=float)
    y = y[~np.isnan(y)]
    lag = season_length if season_length > 1 and y.size > 2 * season_length else 1
    if y.size <= lag:
        return np.nan
    scale = float(np.mean(np.abs(y[lag:] - y[:-lag])))
    return scale if scale > 0 else np.nan


def mase(actual, forecast, history, season_length: int) -> float:
    scale = seasonal_naive_scale(history, season_length)
    return mae(actual, forecast) / scale if np.isfinite(scale) else np.nan


def interval_coverage(actual, lower, upper) -> float:
    """Share of actuals inside [lower, upper]."""
    a = np.asarray(actual, dtype=float).ravel()
    lo = np.asarray(lower, dtype=float).ravel()
    hi = np.asarray(upper, dtype=float).ravel()
    ok = ~np.isnan(a)
    return float(np.mean((a[ok] >= lo[ok]) & (a[ok] <= hi[ok]))) if ok.any() else np.nan


def interval_width(lower, upper) -> float:
    return float(np.nanmean(np.asarray(upper, dtype=float) - np.asarray(lower, dtype=float)))


def point_metrics(actual, forecast, history, season_length: int) -> dict[str, float]:
    """All point metrics of one forecast window, keyed by name."""
    return {
        "mae": mae(actual, forecast),
        "rmse": rmse(actual, forecast),
        "mape": mape(actual, forecast),
        "smape": smape(actual, forecast),
        "wape": wape(actual, forecast),
        "mase": mase(actual, forecast, history, season_length),
    }
