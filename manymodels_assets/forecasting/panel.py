"""What a training run learns across its series and hands to the next run (the panel prior).

Per series, three folds of backtest are weak evidence for choosing among candidates; across
thousands of series they are strong evidence for *which candidate does well on which kind of
series*. A run keeps, for a sample of its series, every candidate's backtest forecasts and a few
features of the history at each fold's origin (:func:`backtest_payload`). At its end
:func:`learn_prior` fits, per candidate, a ridge regression of its log fold MASE on those
features (FFORMA-like, with a linear learner), and chooses on the backtests a temperature for
turning predicted errors into combination weights. The next run weighs each series'
candidates by what its own features predict (:func:`combination_weights`). Only backtests
enter: no held-out data, no future.
"""
from __future__ import annotations

import json

import numpy as np

from manymodels_assets.forecasting import metrics
from manymodels_assets.forecasting.backtest import BacktestResult
from manymodels_assets.forecasting.candidates import ENSEMBLE
from manymodels_assets.forecasting.selection import PanelPrior, panel_ranking

TEMPERATURES = (0.05, 0.1, 0.2, 0.5, 1.0)
"""Candidate temperatures: low picks the predicted best, high averages evenly."""
MIN_WEIGHT = 0.03
"""Smaller weights are dropped (and the rest renormalised): each member costs a refit."""
FEATURES = ("log_level", "variation", "zero_share", "trend", "growth", "log_length")


def series_features(values: np.ndarray, season_length: int) -> list[float]:
    """What a combination's weights depend on: level, variation, intermittency, trend over the
    last two seasons, growth of the last season over the one before, and history length."""
    y = np.asarray(values, dtype=float)
    sp = max(int(season_length), 1)
    mean = float(y.mean()) + 1e-9
    recent = y[-2 * sp:]
    slope = float(np.polyfit(np.arange(recent.size), recent, 1)[0]) * sp / mean if recent.size > 2 else 0.0
    previous = y[-2 * sp:-sp] if y.size >= 2 * sp else y[:sp]
    growth = float(y[-sp:].mean() / (previous.mean() + 1e-9) - 1) if previous.size else 0.0
    return [float(np.log1p(max(mean, 0))), float(y.std() / mean), float(np.mean(y == 0)), float(np.clip(slope, -10, 10)),
            float(np.clip(growth, -10, 10)), float(np.log(y.size))]


def backtest_payload(results: dict[str, BacktestResult]) -> str:
    """A series' candidates' backtests, compact JSON: per fold the actuals, the MASE scale and
    the features of its training window, and every candidate's forecasts."""
    first = next(r for name, r in results.items() if name != ENSEMBLE)
    scales = [metrics.seasonal_naive_scale(h, first.season_length) for h in first.history]
    return json.dumps({
        "actual": [np.round(a, 4).tolist() for a in first.actual],
        "scale": [s if np.isfinite(s) else None for s in scales],
        "features": [np.round(series_features(h, first.season_length), 5).tolist() for h in first.history],
        "forecast": {name: [np.round(f, 4).tolist() for f in r.forecast]
                     for name, r in results.items() if name != ENSEMBLE and len(r.forecast) == len(first.actual)},
    }, separators=(",", ":"))


def _fold_rows(payloads: list[dict], names: list[str]):
    """Per (series, fold) with a scale: features, each candidate's log MASE (NaN if absent),
    forecasts and actuals, and whether it is the series' last fold."""
    rows = []
    for p in payloads:
        folds = len(p["actual"])
        for i, (actual, scale) in enumerate(zip(p["actual"], p["scale"])):
            if not scale or not actual:
                continue
            a = np.asarray(actual, dtype=float)
            forecasts = {n: np.asarray(p["forecast"][n][i], dtype=float) for n in names if n in p["forecast"]}
            errors = [np.log(np.mean(np.abs(a - forecasts[n])) / scale + 1e-3) if n in forecasts else np.nan
                      for n in names]
            rows.append((p["features"][i], errors, forecasts, a, scale, i == folds - 1))
    return rows


def _fit(rows, names: list[str], mu, sd, alpha: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """Ridge of each candidate's log MASE on the standardised features: (coef K x F, intercept K)."""
    X = (np.array([r[0] for r in rows]) - mu) / sd
    Y = np.array([r[1] for r in rows])
    coef, intercept = np.zeros((len(names), X.shape[1])), np.zeros(len(names))
    for k in range(len(names)):
        ok = np.isfinite(Y[:, k])
        if ok.sum() < 2:
            intercept[k] = np.inf  # never seen: never weighted
            continue
        x, y = X[ok], Y[ok, k]
        x_mean, y_mean = x.mean(axis=0), y.mean()  # the intercept is not penalised
        xc = x - x_mean
        coef[k] = np.linalg.solve(xc.T @ xc + alpha * np.eye(x.shape[1]), xc.T @ (y - y_mean))
        intercept[k] = y_mean - x_mean @ coef[k]
    return coef, intercept


def weights_from(predicted: dict[str, float], temperature: float) -> dict[str, float]:
    """Softmax of minus the predicted log errors; tiny weights dropped, the rest renormalised."""
    names = [n for n, v in predicted.items() if np.isfinite(v)]
    if not names:
        return {}
    p = np.array([predicted[n] for n in names])
    w = np.exp(-(p - p.min()) / temperature)
    w /= w.sum()
    kept = {n: float(v) for n, v in zip(names, w) if v >= MIN_WEIGHT}
    total = sum(kept.values())
    return {n: v / total for n, v in kept.items()}


def combination_weights(meta: dict, features: list[float], available: list[str]) -> dict[str, float]:
    """The weights of a series' ``available`` candidates under a learned meta-model."""
    x = (np.asarray(features, dtype=float) - np.asarray(meta["mu"])) / np.asarray(meta["sd"])
    predicted = {n: float(np.asarray(meta["coef"][k]) @ x + meta["intercept"][k])
                 for k, n in enumerate(meta["candidates"]) if n in available}
    return weights_from(predicted, meta["temperature"])


def _combination_error(rows, names, coef, intercept, mu, sd, temperature) -> float:
    meta = {"candidates": names, "mu": mu, "sd": sd, "coef": coef, "intercept": intercept, "temperature": temperature}
    errors = []
    for features, _, forecasts, actual, scale, _ in rows:
        w = combination_weights(meta, features, list(forecasts))
        if w:
            errors.append(np.mean(np.abs(actual - sum(v * forecasts[n] for n, v in w.items()))) / scale)
    return float(np.mean(errors)) if errors else np.inf


def learn_prior(payloads: list[str | None], candidate_metrics: list[str], metric: str = "mase") -> PanelPrior:
    """The prior for the next run: the candidates' ranking over every series and, from the
    sampled series' backtests, the meta-model of each candidate's error. The temperature is the
    one whose combination forecasts the series' last folds best when the meta-model is fit on
    their earlier folds; the meta-model kept is then fit on every fold."""
    ranking = tuple(panel_ranking(candidate_metrics, metric))
    parsed = [json.loads(p) for p in payloads if p]
    names = sorted({n for p in parsed for n in p["forecast"]})
    rows = _fold_rows(parsed, names)
    if len(names) < 2 or len(rows) < 20:
        return PanelPrior(ranking)
    features = np.array([r[0] for r in rows])
    mu, sd = features.mean(axis=0), features.std(axis=0)
    sd = np.where(sd > 1e-6, sd, 1.0)  # a feature that does not vary says nothing (and must not divide by 0)
    earlier, last = [r for r in rows if not r[5]], [r for r in rows if r[5]]
    temperature = 0.2
    if len(earlier) >= 20 and last:
        coef, intercept = _fit(earlier, names, mu, sd)
        temperature = min(TEMPERATURES, key=lambda t: _combination_error(last, names, coef, intercept, mu, sd, t))
    coef, intercept = _fit(rows, names, mu, sd)
    meta = {"candidates": names, "features": list(FEATURES), "mu": np.round(mu, 6).tolist(),
            "sd": np.round(sd, 6).tolist(), "coef": np.round(coef, 6).tolist(),
            "intercept": [round(float(v), 6) if np.isfinite(v) else 1e9 for v in intercept],
            "temperature": temperature}
    return PanelPrior(ranking, meta)


BACKTEST_SAMPLE = 2000
"""Series per run that keep their candidates' backtests: ample for a few coefficients per
candidate, and the model set stays small at 100,000 series."""


def sample_keys(keys: list[str], n: int = BACKTEST_SAMPLE) -> list[str]:
    """Up to ``n`` of ``keys``, chosen by a hash of the key, so a series is in or out run after run."""
    import hashlib

    return sorted(keys, key=lambda k: hashlib.sha1(k.encode()).hexdigest())[:n]
