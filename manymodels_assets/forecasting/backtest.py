"""Rolling-origin backtest: refit on an expanding window, forecast the next ``horizon`` points.

Folds are laid from the end of the series backwards, one horizon apart and non-overlapping,
so the last fold is the most recent window. Fold test windows never reach past the series.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from manymodels_assets.forecasting import intervals
from manymodels_assets.forecasting import metrics as m
from manymodels_assets.forecasting.candidates import fit_predict, get


@dataclass(frozen=True)
class Fold:
    train_end: int  # exclusive index: train = y[:train_end]
    test_end: int  # exclusive index: test = y[train_end:test_end]


def fold_windows(n_obs: int, horizon: int, n_folds: int, min_train: int) -> list[Fold]:
    """Up to ``n_folds`` folds, oldest first, each with at least ``min_train`` training points."""
    folds = []
    for i in range(n_folds, 0, -1):
        train_end = n_obs - i * horizon
        if train_end >= min_train:
            folds.append(Fold(train_end=train_end, test_end=train_end + horizon))
    return folds


@dataclass
class BacktestResult:
    candidate: str
    folds: list[Fold] = field(default_factory=list)
    actual: list[np.ndarray] = field(default_factory=list)
    forecast: list[np.ndarray] = field(default_factory=list)
    history: list[np.ndarray] = field(default_factory=list)
    season_length: int = 1
    future: np.ndarray | None = None
    """The forecast after the whole history, when it was made with the backtest (pooled
    candidates: one group model forecasts every series of the group at once)."""

    @property
    def errors(self) -> np.ndarray:
        return np.concatenate([a - f for a, f in zip(self.actual, self.forecast)])

    @property
    def fold_errors(self) -> list[np.ndarray]:
        return [a - f for a, f in zip(self.actual, self.forecast)]


def backtest(name: str, y: pd.Series, folds: list[Fold], season_length: int,
             X: pd.DataFrame | None = None) -> BacktestResult:
    """Backtest candidate ``name`` over ``folds``; raises whatever the candidate raises.

    A candidate that uses the calendar sees the actual price and promotion of each test window,
    as a planned calendar would give them.
    """
    values = y.to_numpy(dtype=float)
    uses_calendar = get(name).uses_calendar
    result = BacktestResult(name, season_length=season_length)
    for fold in folds:
        horizon = fold.test_end - fold.train_end
        if uses_calendar:
            _, forecast = fit_predict(name, y.iloc[: fold.train_end], horizon, season_length,
                                      X.iloc[: fold.train_end], X.iloc[fold.train_end: fold.test_end])
        else:
            _, forecast = fit_predict(name, y.iloc[: fold.train_end], horizon, season_length)
        result.folds.append(fold)
        result.actual.append(values[fold.train_end: fold.test_end])
        result.forecast.append(forecast)
        result.history.append(values[: fold.train_end])
    return result


def evaluate(result: BacktestResult, season_length: int, level: float, scale: str) -> dict[str, float]:
    """A backtest's point metrics (MASE per fold, then averaged), its conformal interval
    half-width on ``scale`` and that interval's width and leave-one-fold-out coverage."""
    actual = np.concatenate(result.actual)
    forecast = np.concatenate(result.forecast)
    summary = m.point_metrics(actual, forecast, result.history[-1], season_length)
    fold_mase = [m.mase(a, f, h, season_length) for a, f, h in zip(result.actual, result.forecast, result.history)]
    summary["mase"] = float(np.nanmean(fold_mase)) if np.isfinite(fold_mase).any() else np.nan
    fold_errors = [intervals.transform(a, scale) - intervals.transform(f, scale)
                   for a, f in zip(result.actual, result.forecast)]
    halfwidth = intervals.conformal_halfwidth(np.abs(np.concatenate(fold_errors)), level)
    lower, upper = intervals.bounds(forecast, halfwidth, scale)
    summary["interval_halfwidth"] = halfwidth
    summary["interval_width"] = m.interval_width(lower, upper)
    summary["interval_coverage"] = intervals.leave_fold_out_coverage(fold_errors, level)
    return summary
