"""What a training run learns across its series and hands to the next run (the panel prior).

Per series, three folds of backtest are weak evidence for choosing among candidates; across
thousands of series they are strong evidence for *which candidate does well on which kind of
series*. A run keeps, for a sample of its series, every candidate's backtest forecasts and a few
features of the history at each fold's origin (:func:`backtest_payload`). At its end
:func:`learn_prior` fits combination weights as a softmax of a linear function of those
features, chosen to minimise the backtest MASE of the weighted forecast itself (FFORMA's
objective, with a linear learner in place of its boosted trees), with a ridge penalty chosen
by cross-validation over the series (fit on four fifths of them, scored on the rest). The next
run weighs each series' candidates by its own features (:func:`combination_weights`). Only
backtests enter: no held-out data, no future.
"""
from __future__ import annotations

import hashlib
import json

import numpy as np

from manymodels_assets.forecasting import metrics
from manymodels_assets.forecasting.backtest import BacktestResult
from manymodels_assets.forecasting.candidates import ENSEMBLE
from manymodels_assets.forecasting.selection import PanelPrior, panel_ranking

PENALTIES = (1e-4, 1e-3, 1e-2)
"""Candidate ridge penalties of the combination model: high stays near one weight set for the
whole panel, low lets the features move the weights more."""
PENALTY_FOLDS = 5
"""Groups of series the penalty is cross-validated over (fewer when a group would score fewer
than 20 rows). Two halves, drawn by a hash that included the candidates' names, let names move
the penalty; five groups by content do not, and on average their combination backtests a little
better (docs/accuracy.md, "How the penalty's groups are drawn")."""
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


def _digest(text: str) -> str:
    return hashlib.sha1(text.encode()).hexdigest()


def _content_digest(payload: dict) -> tuple[str, str]:
    """A series' backtest by what it holds, not by what its candidates are called: renaming or
    adding a candidate must not move the series between the penalty's groups. Series with the
    same history (no sales, say) are told apart by their forecasts' values, names left out, so
    the order they came in never decides either."""
    history = json.dumps([payload["actual"], payload["scale"], payload["features"]])
    return _digest(history), _digest("".join(sorted(json.dumps(f) for f in payload["forecast"].values())))


def _fold_rows(payloads: list[dict], names: list[str]):
    """Per (series, fold) with a scale: its features, the forecasts of those of ``names`` it
    has, its actuals and its MASE scale."""
    rows = []
    for p in payloads:
        for i, (actual, scale) in enumerate(zip(p["actual"], p["scale"])):
            if scale and actual:
                forecasts = {n: np.asarray(p["forecast"][n][i], dtype=float) for n in names if n in p["forecast"]}
                rows.append((p["features"][i], forecasts, np.asarray(actual, dtype=float), scale))
    return rows


def _tensors(rows, names: list[str], mu, sd):
    """The fold rows as arrays: standardised features (N x F), which candidates each row has
    (N x K), their forecasts (N x K x H, zero-padded), actuals (N x H) and per-point weights that
    turn absolute errors into the fold's MASE (N x H: 1 / (horizon x scale), 0 on padding)."""
    X = (np.array([r[0] for r in rows], dtype=float) - mu) / sd
    H, K = max(len(r[2]) for r in rows), len(names)
    has = np.array([[n in r[1] for n in names] for r in rows])
    forecasts, actual, point = np.zeros((len(rows), K, H)), np.zeros((len(rows), H)), np.zeros((len(rows), H))
    for i, (_, fc, a, scale) in enumerate(rows):
        actual[i, :a.size], point[i, :a.size] = a, 1.0 / (a.size * scale)
        for k, n in enumerate(names):
            if n in fc:
                forecasts[i, k, :a.size] = fc[n]
    return X, has, forecasts, actual, point


NEVER = 1e9
"""Minus the logit of a candidate the panel never saw."""


def _softmax(logits: np.ndarray, has: np.ndarray) -> np.ndarray:
    z = np.where(has, logits, -np.inf)
    w = np.exp(z - z.max(axis=-1, keepdims=True))
    return w / w.sum(axis=-1, keepdims=True)


def _fit(rows, names: list[str], mu, sd, penalty: float) -> tuple[np.ndarray, np.ndarray]:
    """Weights ``softmax(W x + b)`` over each row's candidates that minimise the mean fold MASE
    of the weighted forecast, plus ``penalty * |W|^2`` (the biases, the panel-wide preference,
    are not penalised). Starts from equal weights. Returns (W: K x F, b: K)."""
    from scipy.optimize import minimize

    X, has, forecasts, actual, point = _tensors(rows, names, mu, sd)
    n, (K, F) = len(rows), (len(names), X.shape[1])

    def loss_and_gradient(theta):
        W, b = theta[:K * F].reshape(K, F), theta[K * F:]
        w = _softmax(X @ W.T + b, has)
        residual = actual - np.einsum("nk,nkh->nh", w, forecasts)
        loss = np.sum(np.abs(residual) * point) / n + penalty * np.sum(W ** 2)
        d_w = np.einsum("nh,nkh->nk", -np.sign(residual) * point / n, forecasts)
        d_logit = w * (d_w - np.sum(d_w * w, axis=1, keepdims=True))
        return loss, np.concatenate([(d_logit.T @ X + 2 * penalty * W).ravel(), d_logit.sum(axis=0)])

    theta = minimize(loss_and_gradient, np.zeros(K * F + K), jac=True, method="L-BFGS-B",
                     options={"maxiter": 300}).x
    W, b = theta[:K * F].reshape(K, F), theta[K * F:]
    b[has.sum(axis=0) < 2] = -NEVER  # a candidate seen on fewer than two folds is never weighted
    return W, b


def weights_from(logits: dict[str, float]) -> dict[str, float]:
    """Softmax of the candidates' logits; tiny weights dropped, the rest renormalised."""
    names = [n for n, v in logits.items() if np.isfinite(v) and v > -NEVER / 2]
    if not names:
        return {}
    w = _softmax(np.array([logits[n] for n in names]), np.ones(len(names), dtype=bool))
    kept = {n: float(v) for n, v in zip(names, w) if v >= MIN_WEIGHT}
    total = sum(kept.values())
    return {n: v / total for n, v in kept.items()}


def combination_weights(meta: dict, features: list[float], available: list[str]) -> dict[str, float]:
    """The weights of a series' ``available`` candidates under a learned meta-model."""
    x = (np.asarray(features, dtype=float) - np.asarray(meta["mu"])) / np.asarray(meta["sd"])
    return weights_from({n: float(np.asarray(meta["weights"][k]) @ x + meta["bias"][k])
                         for k, n in enumerate(meta["candidates"]) if n in available})


def combined_forecast(meta: dict, features: list[float], forecasts: dict) -> np.ndarray | None:
    """A series' combined forecast: its candidates' ``forecasts`` (name -> values) weighted by the
    meta-model given its ``features``; None when the model weighs none of them."""
    w = combination_weights(meta, features, list(forecasts))
    return sum(v * np.asarray(forecasts[n], dtype=float) for n, v in w.items()) if w else None


def _combination_error(rows, names, W, b, mu, sd) -> float:
    return combination_error({"candidates": names, "mu": mu, "sd": sd, "weights": W, "bias": b}, rows)


def combination_error(meta: dict, rows) -> float:
    """Mean MASE of the combination ``meta`` describes over fold rows (see _fold_rows)."""
    errors = []
    for features, forecasts, actual, scale in rows:
        combined = combined_forecast(meta, features, forecasts)
        if combined is not None:
            errors.append(np.mean(np.abs(actual - combined)) / scale)
    return float(np.mean(errors)) if errors else np.inf


def learn_prior(payloads: list[str | None], candidate_metrics: list[str], metric: str = "mase", *,
                folds: int = PENALTY_FOLDS, order=_content_digest) -> PanelPrior:
    """The prior for the next run: the candidates' ranking over every series and, from the
    sampled series' backtests, the combination model. Its penalty is the one whose models, each
    fit on all but one of ``folds`` groups of series, forecast the left-out groups' folds best;
    the model kept is then fit on every series. ``order`` sorts the parsed payloads before they
    are dealt into groups (benchmarks/penalty_groups.py compares ways of drawing them)."""
    ranking = tuple(panel_ranking(candidate_metrics, metric))
    # a canonical order (by content), so the groups and the fit depend neither on the order the
    # engine happened to return the series in nor on the candidates' names
    parsed = sorted((json.loads(p) for p in payloads if p), key=order)
    names = sorted({n for p in parsed for n in p["forecast"]})
    per_series = [_fold_rows([p], names) for p in parsed]
    rows = [r for series in per_series for r in series]
    if len(names) < 2 or len(rows) < 20:
        return PanelPrior(ranking)
    features = np.array([r[0] for r in rows])
    mu, sd = features.mean(axis=0), features.std(axis=0)
    sd = np.where(sd > 1e-6, sd, 1.0)  # a feature that does not vary says nothing (and must not divide by 0)
    penalty = PENALTIES[1]
    # only series with a scored fold are dealt: a group with nothing to score would rate every
    # penalty infinite and hand the choice to the first
    usable = [series for series in per_series if series]
    for k in range(min(folds, len(usable)), 1, -1):
        held = [[r for series in usable[i::k] for r in series] for i in range(k)]
        if min(len(h) for h in held) < 20:  # too few rows to tell penalties apart: fewer, larger groups
            continue
        splits = [([r for j, h in enumerate(held) if j != i for r in h], held[i]) for i in range(k)]
        penalty = min(PENALTIES, key=lambda lam: sum(
            _combination_error(h, names, *_fit(train, names, mu, sd, lam), mu, sd) for train, h in splits))
        break
    W, b = _fit(rows, names, mu, sd, penalty)
    meta = {"candidates": names, "features": list(FEATURES), "mu": np.round(mu, 6).tolist(),
            "sd": np.round(sd, 6).tolist(), "weights": np.round(W, 6).tolist(), "bias": np.round(b, 6).tolist(),
            "penalty": penalty}
    return PanelPrior(ranking, meta)


BACKTEST_SAMPLE = 2000
"""Series per run that keep their candidates' backtests: ample for a few coefficients per
candidate, and the model set stays small at 100,000 series."""


def sample_keys(keys: list[str], n: int = BACKTEST_SAMPLE) -> list[str]:
    """Up to ``n`` of ``keys``, chosen by a hash of the key, so a series is in or out run after run."""
    return sorted(keys, key=_digest)[:n]
