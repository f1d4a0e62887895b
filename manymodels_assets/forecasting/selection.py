"""Choosing a series' forecaster: rank its candidates' backtests, the panel prior, the ensemble."""
from __future__ import annotations

import json

import numpy as np

from manymodels_assets.forecasting.backtest import BacktestResult
from manymodels_assets.forecasting.candidates import ENSEMBLE


def rank_value(summary: dict[str, float], metric: str) -> tuple[float, float]:
    """Sort key of a candidate's backtest, lower is better; a NaN metric (e.g. MASE of a
    constant history) ranks by MAE instead."""
    primary = summary.get(metric, np.nan)
    return (primary if np.isfinite(primary) else np.inf, summary.get("mae", np.inf))


def ranked(summaries: dict[str, dict], metric: str) -> list[str]:
    """Backtested candidates, best first."""
    return sorted(summaries, key=lambda n: rank_value(summaries[n], metric))


def selection_order(summaries: dict[str, dict], metric: str, prior: list[str] | None, margin: float) -> list[str]:
    """The order in which to try refitting the backtested candidates.

    With a panel ``prior`` (candidates ranked across many series, best first), its best
    backtested candidate goes first unless the series' own best beats it by ``margin``: three
    folds of one series are weak evidence against what thousands of series show.
    """
    order = ranked(summaries, metric)
    default = next((p for p in prior or () if p in summaries), None)
    if default is None or not order or order[0] == default:
        return order
    best, panel = rank_value(summaries[order[0]], metric)[0], rank_value(summaries[default], metric)[0]
    if np.isfinite(panel) and best > (1 - margin) * panel:
        order.remove(default)
        order.insert(0, default)
    return order


def ensemble_backtest(results: dict[str, BacktestResult], members: list[str]) -> BacktestResult:
    """Backtest of the members' mean, from the members' own out-of-sample fold forecasts."""
    first = results[members[0]]
    return BacktestResult(ENSEMBLE, folds=first.folds, actual=first.actual, history=first.history,
                          forecast=[np.mean(f, axis=0) for f in zip(*(results[m].forecast for m in members))])


def panel_ranking(candidate_metrics: list[str], metric: str = "mase") -> list[str]:
    """Candidates ordered by their mean backtest ``metric`` across many series (best first),
    from the model set's ``candidate_metrics`` column; the prior for the next training."""
    scores: dict[str, list[float]] = {}
    for payload in candidate_metrics:
        for name, values in json.loads(payload or "{}").items():
            value = values.get(metric)
            if isinstance(value, (int, float)) and np.isfinite(value):
                scores.setdefault(name, []).append(float(value))
    return sorted(scores, key=lambda n: float(np.mean(scores[n])))
