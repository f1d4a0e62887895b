"""The pooled autoregression (candidate ``pooled_ar``): one linear model over the series of a group.

The last seasons of each series' sales, on the window's own level (log sales minus their mean),
map to the ``horizon`` values after them: one least-squares map per step ahead, fit on every
window of every series of the group. Montero-Manso & Hyndman (2021) show such global linear
models with long memory forecasting groups of short series (tourism among them) as well as
local ETS and ARIMA; here it adds a view the per-series ETS/Theta family lacks, and the learned
combination uses it (docs/accuracy.md). :func:`forecasting.pooled.backtest_group` runs it per
fold like the group's LightGBM.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from manymodels_assets.forecasting.pooled import GroupSeries


@dataclass(frozen=True)
class ARSettings:
    """Five seasons of memory (20 lags on quarterly data) on log sales: decided on tourism's
    backtests among 2 to 5 seasons, log or level scaling, per item or all series together
    (``benchmarks/pooled_ar.py``, docs/accuracy.md)."""
    seasons: int = 5
    max_lags: int = 60  # weekly data would otherwise ask for 260 lags of a two-year history
    ridge: float = 1e-3  # per training window, on the lag weights only
    windows_per_weight: int = 10  # fewer lags when the group's histories give fewer windows than this per weight
    scale: str = "log"  # "log": log1p sales minus the window's mean; "level": sales over the window's mean



def fit_predict(series: list[GroupSeries], origins: list[int], horizon: int, season_length: int,
                settings: ARSettings) -> list[np.ndarray]:
    """Fit one linear map from a window of sales, on its own level (log sales minus their mean,
    or sales over their mean), to the ``horizon`` values after it, on every window of every
    series that ends by the group's earliest origin date; forecast each series from its own
    origin. A series shorter than the window is padded on the left with its own level, which is
    what the scaling assumes of unseen periods."""
    cut = min(s.y.index[o - 1].end_time for s, o in zip(series, origins))
    ends = [int(np.searchsorted(s.y.index[:o].end_time, cut, side="right")) for s, o in zip(series, origins)]
    if settings.scale not in ("log", "level"):
        raise ValueError(f"scale must be 'log' or 'level', not {settings.scale!r}")
    log = settings.scale == "log"
    values = [np.clip(s.y.to_numpy(dtype=float)[:end], 0, None) for s, end in zip(series, ends)]

    def training_windows(lags: int) -> tuple[np.ndarray, np.ndarray]:
        """(inputs, targets) of every whole window on the scale the model works in."""
        X, Y = [], []
        for v in values:
            if v.size < lags + horizon:
                continue
            w = np.lib.stride_tricks.sliding_window_view(np.log1p(v) if log else v, lags + horizon)
            w = w[np.isfinite(w).all(axis=1)]  # a gap the caller left unfilled says nothing
            level = w[:, :lags].mean(axis=1, keepdims=True)
            if log:
                X.append(w[:, :lags] - level)
                Y.append(w[:, lags:] - level)
            else:  # windows with no sales say nothing about proportions
                some = level[:, 0] > 0
                X.append(w[some, :lags] / level[some])
                Y.append(w[some, lags:] / level[some])
        return (np.vstack(X), np.vstack(Y)) if X else (np.empty((0, lags)), np.empty((0, horizon)))

    # short histories (a young group, an early backtest fold) get fewer lags rather than a
    # model with more weights than windows to fit them on
    lags = min(settings.seasons * max(season_length, 1), settings.max_lags)
    X, Y = training_windows(lags)
    while lags > 1 and len(X) < settings.windows_per_weight * (lags + 1):
        lags -= 1
        X, Y = training_windows(lags)
    if len(X) < 1:
        raise ValueError(f"no series of the group has {horizon + 1} periods with sales to learn from")
    X1 = np.hstack([X, np.ones((len(X), 1))])
    penalty = settings.ridge * len(X) * np.diag(np.r_[np.ones(lags), 0.0])  # the intercept is not shrunk
    coef = np.linalg.solve(X1.T @ X1 + penalty, X1.T @ Y)
    forecasts = []
    for s, origin in zip(series, origins):
        recent = np.clip(s.y.to_numpy(dtype=float)[max(0, origin - lags):origin], 0, None)
        if log:
            level = np.log1p(recent).mean()
            window = np.r_[np.zeros(lags - len(recent)), np.log1p(recent) - level, 1.0]
            forecasts.append(np.clip(np.expm1(window @ coef + level), 0, None))
        elif recent.mean() > 0:
            level = recent.mean()
            window = np.r_[np.ones(lags - len(recent)), recent / level, 1.0]
            forecasts.append(np.clip(window @ coef, 0, None) * level)
        else:  # no sales in the window: proportions of nothing are nothing
            forecasts.append(np.zeros(horizon))
    return forecasts
