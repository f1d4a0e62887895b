"""What a training run learns across its series and hands to the next run (the panel prior).

Per series, three folds of backtest are weak evidence for choosing among candidates; across
thousands of series they are strong evidence for *how to combine* them. A run keeps, for a
sample of its series, every candidate's backtest forecasts (:func:`backtest_payload`); at its
end :func:`learn_prior` fits, per segment of similar series, the convex combination weights
that minimise the mean absolute scaled error of those backtests (the MASE the selection is
judged by), and ranks the candidates. Only backtests enter: no held-out data, no future.
"""
from __future__ import annotations

import json

import numpy as np
from scipy.optimize import minimize

from manymodels_assets.forecasting import metrics
from manymodels_assets.forecasting.backtest import BacktestResult
from manymodels_assets.forecasting.candidates import ENSEMBLE
from manymodels_assets.forecasting.selection import PanelPrior, panel_ranking

MIN_SERIES = 100
"""Fewest sampled series a segment needs for weights of its own (else it uses the panel's)."""
MIN_WEIGHT = 0.03
"""Smaller weights are dropped (and the rest renormalised): each member costs a refit."""


def backtest_payload(results: dict[str, BacktestResult], segment_name: str) -> str:
    """A series' candidates' backtests, compact JSON: per fold the actuals and the MASE scale of
    its training window, and every candidate's forecasts."""
    first = next(r for name, r in results.items() if name != ENSEMBLE)
    scales = [metrics.seasonal_naive_scale(h, first.season_length) for h in first.history]
    return json.dumps({
        "segment": segment_name,
        "actual": [np.round(a, 4).tolist() for a in first.actual],
        "scale": [s if np.isfinite(s) else None for s in scales],
        "forecast": {name: [np.round(f, 4).tolist() for f in r.forecast]
                     for name, r in results.items() if name != ENSEMBLE and len(r.forecast) == len(first.actual)},
    }, separators=(",", ":"))


def _stack(payloads: list[dict], names: list[str]):
    """(forecasts K x M with NaN where a series lacks a candidate, actuals M, weights M) over every
    backtest point of ``payloads`` whose fold has a scale; each point weighs 1/(scale * points
    in its fold), so each fold contributes its scaled MAE."""
    forecasts, actual, weight = [], [], []
    for p in payloads:
        for i, (a, scale) in enumerate(zip(p["actual"], p["scale"])):
            if not scale or not a:
                continue
            actual.append(np.asarray(a, dtype=float))
            weight.append(np.full(len(a), 1.0 / (scale * len(a))))
            forecasts.append(np.array([p["forecast"][n][i] if n in p["forecast"] else [np.nan] * len(a)
                                       for n in names], dtype=float))
    if not actual:
        return None
    return np.hstack(forecasts), np.concatenate(actual), np.concatenate(weight)


def fit_weights(payloads: list[dict], names: list[str]) -> dict[str, float]:
    """Convex weights over ``names`` minimising the mean absolute scaled backtest error of the
    combination (weights renormalised over the candidates each series has)."""
    stacked = _stack(payloads, names)
    if stacked is None:
        return {}
    F, actual, weight = stacked
    available = np.isfinite(F)
    F = np.where(available, F, 0.0)

    def loss(z):
        w = np.exp(z - z.max())
        w /= w.sum()
        share = w @ available
        combined = (w @ F) / np.where(share > 0, share, 1.0)
        return float(np.sum(weight * np.abs(actual - combined)))

    # start from each candidate's inverse backtest error, a sensible convex combination
    errors = np.array([np.sum(weight * np.abs(actual - F[k]) * available[k]) / max(np.sum(weight * available[k]), 1e-12)
                       for k in range(len(names))])
    start = -np.log(np.maximum(errors, 1e-9))
    fit = minimize(loss, start, method="Nelder-Mead",
                   options={"maxiter": 400 * len(names), "xatol": 1e-4, "fatol": 1e-9})
    w = np.exp(fit.x - fit.x.max())
    w /= w.sum()
    kept = {n: float(v) for n, v in zip(names, w) if v >= MIN_WEIGHT}
    total = sum(kept.values())
    return {n: v / total for n, v in kept.items()}


def learn_prior(payloads: list[str | None], candidate_metrics: list[str], metric: str = "mase") -> PanelPrior:
    """The prior for the next run: the candidates' ranking over every series, and combination
    weights over the sampled series' backtests, for the whole panel (``all``) and for each
    segment with at least :data:`MIN_SERIES` series."""
    ranking = tuple(panel_ranking(candidate_metrics, metric))
    parsed = [json.loads(p) for p in payloads if p]
    names = sorted({n for p in parsed for n in p["forecast"]})
    if len(names) < 2 or not parsed:
        return PanelPrior(ranking)
    weights = {"all": fit_weights(parsed, names)}
    for segment_name in sorted({p["segment"] for p in parsed}):
        members = [p for p in parsed if p["segment"] == segment_name]
        if len(members) >= MIN_SERIES:
            weights[segment_name] = fit_weights(members, names)
    return PanelPrior(ranking, {s: w for s, w in weights.items() if len(w) >= 1})


BACKTEST_SAMPLE = 2000
"""Series per run that keep their candidates' backtests: ample for a handful of weights per
segment, and the model set stays small at 100,000 series."""


def sample_keys(keys: list[str], n: int = BACKTEST_SAMPLE) -> list[str]:
    """Up to ``n`` of ``keys``, chosen by a hash of the key, so a series is in or out run after run."""
    import hashlib

    return sorted(keys, key=lambda k: hashlib.sha1(k.encode()).hexdigest())[:n]
