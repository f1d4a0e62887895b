"""Cross-sectional hierarchical reconciliation of the quarterly tourism panel, and what it costs.

The panel's 304 series (store "Region, State" x item Purpose) are summed into a hierarchy of
what the product knows: the total, every store, every item and the bottom series
(``--hierarchy states`` adds every state and state x item, the state read after the last ", "
of the store). Every node gets base forecasts from the project's default quarterly candidates
(``forecasting.candidates.fit_predict``), on three backtest folds of the panel with its last
8 quarters dropped first, so nothing here sees them. Printed, on the bottom series (mean MASE):

1. ets, theta and auto_theta as they come and reconciled by WLS with structural weights, by
   WLS with each node's in-sample one-step residual variance, and by MinT with a
   Schafer-Strimmer shrunk residual covariance;
2. the project's learned combination (``forecasting.panel``) with the reconciled candidates
   added or in place of their base ones, scored on the other half of the series and on the
   next fold in time;
3. the combination itself applied at every node and reconciled once (W from its errors on the
   earlier folds, or structural).

``--held-out`` adds the same figures at the held-out origin: a diagnosis, never a decision.
``--scale`` times the closed-form WLS-variance reconciliation of a grouped stores x items
hierarchy at a million bottom series, and the dense MinT solve at sizes it still fits.
CPU seconds are one core's (one BLAS thread). Not a timed test: it prints its tables.

    .venv/bin/python -m benchmarks.reconciliation [--tourism ../shared/data/tourism.rda] \\
        [--hierarchy product|states] [--held-out] [--scale] [--workers 2]

The data's licence (GPL) differs from the project's: the file is read in place, never copied.
"""
from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # before numpy: CPU time must be one core's
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")

import argparse  # noqa: E402
import json  # noqa: E402
import time  # noqa: E402
from multiprocessing import Pool  # noqa: E402

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from scipy.linalg import cho_factor, cho_solve  # noqa: E402

from manymodels_assets.forecasting import metrics  # noqa: E402
from manymodels_assets.forecasting import panel as combination  # noqa: E402
from manymodels_assets.forecasting.backtest import fold_windows  # noqa: E402
from manymodels_assets.forecasting.candidates import fit_predict, get  # noqa: E402
from manymodels_assets.forecasting.config import TrainingConfig  # noqa: E402
from manymodels_assets.forecasting.frequency import period_index  # noqa: E402
from manymodels_assets.forecasting.series import regularize  # noqa: E402

RECONCILED = ("ets", "theta", "auto_theta")
"""The candidates reconciled one by one (the experiments' choice, which these figures reproduce).
Seasonal naive is linear in the data, so its forecasts are coherent already and reconciling them
changes nothing; tsb and auto_ets enter the combination as they are."""
METHODS = {"structural": "WLS structural", "wlsv": "WLS variance", "mint": "MinT shrink"}
"""Reconciliations, by the W they assume for the base forecasts' errors."""
IN_COMBINATION = ("wlsv", "mint")
"""The reconciliations offered to the learned combination (the forecast names' prefixes)."""


# ---------------------------------------------------------------- the reconciliation maths

def summing_matrix(stores, items, states=None) -> tuple[np.ndarray, list[str]]:
    """The summing matrix S (nodes x bottom series) of the bottom series' ``stores`` and
    ``items``, and the nodes' names: the total, each store, each item, then the bottom
    (identity). With ``states`` (one per bottom series) also each state (after the total) and
    each state x item (after the items).

    Only what the keys say is used: the product knows a series' store and item, nothing more,
    so that is the hierarchy it can reconcile; states are what a geography would add."""
    stores, items = np.asarray(stores), np.asarray(items)
    rows, names = [np.ones(stores.size, bool)], ["total"]
    if states is not None:
        states = np.asarray(states)
        rows += [states == s for s in sorted(set(states))]
        names += [f"state:{s}" for s in sorted(set(states))]
    rows += [stores == s for s in sorted(set(stores))] + [items == i for i in sorted(set(items))]
    names += [f"store:{s}" for s in sorted(set(stores))] + [f"item:{i}" for i in sorted(set(items))]
    if states is not None:
        pairs = [(s, i) for s in sorted(set(states)) for i in sorted(set(items))]
        rows += [(states == s) & (items == i) for s, i in pairs]
        names += [f"state x item:{s}|{i}" for s, i in pairs]
    names += [f"{s}|{i}" for s, i in zip(stores, items)]
    return np.vstack([np.array(rows, float), np.eye(stores.size)]), names


def structural_variances(S: np.ndarray) -> np.ndarray:
    """W = diag(bottom series under each node): error variances that grow with the number of
    series summed, the one W that needs no residuals (so it also serves forecasts that have
    none, like a learned combination)."""
    return S.sum(axis=1)


def residual_variances(E: np.ndarray) -> np.ndarray:
    """W = diag(mean squared in-sample one-step residual) of each node (E: periods x nodes):
    a node forecast badly is trusted less, whatever its size."""
    return np.mean(E ** 2, axis=0)


def shrink_covariance(E: np.ndarray) -> tuple[np.ndarray, float]:
    """MinT-shrink's W: the residuals' covariance (uncentred, / T) shrunk toward its diagonal
    with Schafer and Strimmer's intensity, as R's hts::shrink.estim; returns (W, intensity).

    With fewer periods of residuals than nodes the sample covariance is singular; shrinking it
    keeps the correlations the data can support and nothing more."""
    n = E.shape[0]
    cov = E.T @ E / n
    sd = np.sqrt(np.diag(cov))
    xs = E / sd
    cor = cov / np.outer(sd, sd)
    var_cor = (1.0 / (n * (n - 1))) * ((xs ** 2).T @ (xs ** 2) - (xs.T @ xs) ** 2 / n)
    np.fill_diagonal(var_cor, 0.0)
    off = cor ** 2
    np.fill_diagonal(off, 0.0)
    lam = float(np.clip(var_cor.sum() / off.sum(), 0.0, 1.0))
    return lam * np.diag(np.diag(cov)) + (1 - lam) * cov, lam


def reconcile(S: np.ndarray, yhat: np.ndarray, W: np.ndarray) -> np.ndarray:
    """The reconciled bottom forecasts (S' W^-1 S)^-1 S' W^-1 yhat (yhat: nodes x horizons);
    W is a vector (diagonal) or a full matrix. Their sums S @ bottom are coherent node forecasts,
    the ones closest to the base forecasts in the W^-1 norm.

    Dense: n x n at worst, fine for hundreds of nodes; see :func:`grouped_wls` for millions."""
    Winv_S = S / W[:, None] if W.ndim == 1 else np.linalg.solve(W, S)
    return np.linalg.solve(S.T @ Winv_S, Winv_S.T @ yhat)


def grouped_wls(yhat: np.ndarray, variances: np.ndarray, n_stores: int, n_items: int) -> np.ndarray:
    """:func:`reconcile` with a diagonal W for a complete grouped hierarchy (the nodes in
    :func:`summing_matrix` order: total, stores, items, bottom store by store), without forming
    any n x n matrix: the same numbers at any size.

    S'W^-1 S = D + U C U' (D: bottom precisions, U: store/item/total indicators, C: their
    precisions). Woodbury turns its inverse into one system K = C^-1 + U' D^-1 U of size
    stores + items + 1, whose block for the larger grouping is diagonal; eliminating that block
    (Schur) leaves one dense Cholesky of size min(stores, items) + 1. Cost O(S I min(S, I)) flops
    and a few passes over the S I x h bottom, which needs only per-store, per-item and total sums
    of it: a groupBy, a small solve on the driver and a per-row map in Spark."""
    one = yhat.ndim == 1
    yhat = np.asarray(yhat, float)[:, None] if one else np.asarray(yhat, float)
    v = np.asarray(variances, float)
    s, i, h = n_stores, n_items, yhat.shape[1]
    bottom = _grouped_wls(yhat[1 + s + i:].reshape(s, i, h), yhat[1:1 + s], yhat[1 + s:1 + s + i], yhat[0],
                          v[1 + s + i:].reshape(s, i), v[1:1 + s], v[1 + s:1 + s + i], v[0]).reshape(s * i, h)
    return bottom[:, 0] if one else bottom


def _grouped_wls(yb, ys, yi, yt, vb, vs, vi, vt):
    if yb.shape[0] < yb.shape[1]:  # the diagonal block eliminated must be the larger grouping's
        return _grouped_wls(yb.transpose(1, 0, 2), yi, ys, yt, vb.T, vi, vs, vt).transpose(1, 0, 2)
    n_items = yb.shape[1]
    e = vb  # D^-1
    z = e[:, :, None] * (yb / vb[:, :, None] + (ys / vs[:, None])[:, None, :] + (yi / vi[:, None])[None, :, :]
                         + (yt / vt)[None, None, :])  # D^-1 S' W^-1 yhat
    g_store, g_item, g_total = z.sum(1), z.sum(0), z.sum((0, 1))
    rows, cols, total = e.sum(1), e.sum(0), e.sum()
    a = vs + rows  # K's store block: diagonal
    K_rs = np.vstack([e.T, rows[None, :]])  # (items + total) x stores
    K_rr = np.diag(np.r_[vi + cols, vt + total])
    K_rr[:n_items, n_items] = cols
    K_rr[n_items, :n_items] = cols
    scaled = K_rs / np.sqrt(a)[None, :]
    u_rest = cho_solve(cho_factor(K_rr - scaled @ scaled.T),
                       np.vstack([g_item, g_total[None, :]]) - K_rs @ (g_store / a[:, None]))
    u_store = (g_store - K_rs.T @ u_rest) / a[:, None]
    return z - e[:, :, None] * (u_store[:, None, :] + u_rest[None, :n_items, :] + u_rest[n_items][None, None, :])


# ---------------------------------------------------------------- the panel and its base forecasts

def bottom_series(frame: pd.DataFrame, freq: str, fill: str) -> tuple[np.ndarray, list, list, pd.PeriodIndex]:
    """The panel's series as rows of one matrix (sorted by store, item), as the pipeline
    regularises them, with their stores, items and common periods."""
    values, stores, items, index = [], [], [], None
    for (store, item), g in sorted(frame.groupby(["store_id", "item_id"])):
        r = regularize(g, freq, g["date"].max(), fill=fill)
        periods = period_index(r["date"], freq)
        if index is not None and not periods.equals(index):
            raise ValueError(f"series {store}|{item} does not cover the panel's periods: "
                             "a hierarchy needs one calendar")
        index = periods
        values.append(r["units"].to_numpy(float))
        stores.append(store)
        items.append(item)
    return np.array(values), stores, items, index


def _fit_node(args):
    """One node's base forecasts at each origin, with in-sample one-step residuals of the
    candidates that get reconciled (their variance or covariance is W)."""
    j, y, index, origins, candidates, with_residuals, horizon, season = args
    out = {}
    for origin in origins:
        history = pd.Series(y[:origin], index=index[:origin])
        for name in candidates:
            model, forecast = fit_predict(name, history, horizon, season)
            residuals = np.asarray(model.predict_residuals(y=history), float) if name in with_residuals else None
            out[(origin, name)] = (np.asarray(forecast, float), residuals)
    return j, out


def base_forecasts(workers: int, Y, index, origins, candidates, with_residuals, horizon, season) -> dict:
    """{node: {(origin, candidate): (forecast, residuals)}}. Every node gets every candidate:
    the combination applied at every node needs them all."""
    # the workers get each series up to its last origin only: what follows is never theirs to see
    tasks = [(j, Y[j, :max(origins)], index[:max(origins)], origins, candidates, with_residuals, horizon, season)
             for j in range(len(Y))]
    if workers <= 1:
        return dict(map(_fit_node, tasks))
    with Pool(workers) as pool:
        return dict(pool.map(_fit_node, tasks, chunksize=4))


def folds_of(n: int, horizon: int, n_folds: int) -> dict[int, tuple[int, int]]:
    """{fold: (train end, test end)}: the pipeline's backtest folds of ``n`` periods, numbered oldest first."""
    return {f: (w.train_end, w.test_end) for f, w in enumerate(fold_windows(n, horizon, n_folds, min_train=0), 1)}


def mase(forecast: np.ndarray, actual: np.ndarray, scales: np.ndarray) -> float:
    """Mean over series (rows) of their MASE; a series with no scale (constant history) has none."""
    ok = np.isfinite(scales)
    return float(np.mean(np.mean(np.abs(actual[ok] - forecast[ok]), axis=1) / scales[ok]))


def reconcile_candidates(S, base, origin, reconciled, season) -> tuple[dict, dict, dict]:
    """Per (method, candidate), the reconciled bottom forecasts at ``origin``; the MinT
    shrinkage intensity per candidate; and the CPU seconds per (method, candidate)."""
    out, lams, cpu = {}, {}, {}
    for name in reconciled:
        yhat = np.array([base[j][(origin, name)][0] for j in range(len(S))])
        # the first season's residuals are the fit finding its seasonal state, not its errors
        E = np.array([base[j][(origin, name)][1][season:] for j in range(len(S))]).T
        if not (np.isfinite(E).all() and np.isfinite(yhat).all()):
            raise FloatingPointError(f"{name}: non-finite base forecasts or residuals at origin {origin}")
        for method in METHODS:
            started = time.process_time()
            if method == "mint":
                W, lams[name] = shrink_covariance(E)
            else:
                W = structural_variances(S) if method == "structural" else residual_variances(E)
            out[(method, name)] = reconcile(S, yhat, W)
            cpu[(method, name)] = time.process_time() - started
    return out, lams, cpu


# ---------------------------------------------------------------- the learned combination

def _subset(p: dict, folds=None, names=None) -> dict:
    """A series' backtest payload cut to some folds and candidates (the JSON learn_prior reads)."""
    keep = [k for k, f in enumerate(p["fold"]) if folds is None or f in folds]
    return {"actual": [p["actual"][k] for k in keep], "scale": [p["scale"][k] for k in keep],
            "features": [p["features"][k] for k in keep],
            "forecast": {n: [v[k] for k in keep] for n, v in p["forecast"].items() if names is None or n in names}}


def _learn(payloads: list[dict]) -> dict | None:
    """The combination model learn_prior fits on these backtests (None: too few to learn from)."""
    return combination.learn_prior([json.dumps(p) for p in payloads], []).meta


def _score(meta, payloads: list[dict], names) -> float:
    """Mean MASE of the learned combination over the payloads' (series, fold) rows."""
    return combination.combination_error(meta, combination._fold_rows(payloads, list(names))) if meta else float("nan")


def protocols(payloads: dict, keys: list, names, later: list, learn=_learn) -> tuple[float, dict[int, float],
                                                                                    dict[int, dict]]:
    """The two backtest protocols for the combination learned over ``names``: (mean MASE on
    series halves, {target fold: MASE time forward}, {target fold: the combination learned on the
    folds before it}). Series halves: learned on half of the series (all folds), scored on the
    other half, both ways round; time forward: learned on the earlier folds, scored on the next.
    ``learn``: payloads -> combination model (learn_prior as the product runs it, by default)."""
    # series ordered by a hash of their key, as sample_keys orders them: halves that do not
    # depend on the order the panel came in
    order = sorted(keys, key=combination._digest)
    ps = [_subset(payloads[k], names=names) for k in order]
    halves = [ps[0::2], ps[1::2]]
    by_halves = float(np.mean([_score(learn(halves[i]), halves[1 - i], names) for i in (0, 1)]))
    metas = {t: learn([_subset(payloads[k], set(range(1, t)), names) for k in order]) for t in later}
    forward = {t: _score(metas[t], [_subset(payloads[k], {t}, names) for k in order], names) for t in later}
    return by_halves, forward, metas


def candidate_sets(defaults, reconciled) -> dict[str, tuple]:
    sets = {"defaults": tuple(defaults)}
    for m in IN_COMBINATION:
        sets[f"+{m}_*"] = tuple(defaults) + tuple(f"{m}_{c}" for c in reconciled)
        sets[f"{m}_* in place"] = tuple(f"{m}_{c}" if c in reconciled else c for c in defaults)
    return sets


def _combine_at_nodes(meta, Y, base, origin, defaults, season) -> np.ndarray:
    """The learned combination at every node: each node's own features and base forecasts."""
    if not meta:
        raise ValueError("no combination was learned: learn_prior needs 20 (series, fold) rows with a MASE scale")
    out = []
    for j in range(len(Y)):
        forecasts = {c: base[j][(origin, c)][0] for c in defaults}
        out.append(combination.combined_forecast(meta, combination.series_features(Y[j, :origin], season), forecasts))
    return np.array(out)


def _node_mse(meta, Y, base, windows, defaults, season) -> np.ndarray:
    """Each node's mean squared error of the combination over the backtest ``windows`` (train
    end, test end): the diagonal W of the combination reconciled once."""
    errors = [(Y[:, a:b] - _combine_at_nodes(meta, Y, base, a, defaults, season)) ** 2 for a, b in windows]
    return np.mean(np.concatenate(errors, axis=1), axis=1)


def _pct(value: float, reference: float) -> str:
    return f"{100 * (value / reference - 1):+.2f}%"


# ---------------------------------------------------------------- the benchmark

def run(frame: pd.DataFrame, freq: str, fill: str, hierarchy: str = "product", held_out: bool = False,
        workers: int = 2, candidates: tuple[str, ...] | None = None, out=print) -> dict[str, pd.DataFrame]:
    """Every table of the benchmark for a panel (store_id, item_id, date, units), printed with
    ``out`` and returned by name. ``candidates``: the frequency's defaults unless given."""
    config = TrainingConfig()
    horizon, season = config.resolved(freq)
    # the per-series defaults: a pooled candidate fit at an aggregate node would be a group of one
    defaults = tuple(candidates or [c for c in config.candidates_for(freq) if not get(c).pooled])
    reconciled = tuple(c for c in RECONCILED if c in defaults)
    B, stores, items, index = bottom_series(frame, freq, fill)
    states = [s.split(", ")[-1] for s in stores] if hierarchy == "states" else None
    S, names = summing_matrix(stores, items, states)
    n_bottom, n_agg = S.shape[1], S.shape[0] - S.shape[1]
    keys = names[n_agg:]
    Y_all = S @ B
    Y = Y_all[:, :-horizon]  # the held-out periods: never seen by the backtest
    folds = folds_of(Y.shape[1], horizon, config.n_folds)
    later = [f for f in folds if f > 1]  # folds with an earlier one to learn from
    tables = {}
    out(f"# Hierarchical reconciliation: {hierarchy} hierarchy\n\n{S.shape[0]} nodes ({n_agg} aggregates + "
        f"{n_bottom} bottom series), {Y.shape[1]} periods before the held-out {horizon}; folds (train end, test end) "
        f"{folds}; candidates {', '.join(defaults)} (reconciled: {', '.join(reconciled)})")
    started = time.time()
    base = base_forecasts(workers, Y, index, [tr for tr, _ in folds.values()], defaults, reconciled, horizon, season)
    out(f"base forecasts: {S.shape[0]} nodes x {len(folds)} origins x {len(defaults)} candidates in "
        f"{time.time() - started:.0f} s wall on {workers} worker(s)")

    # ---- 1. the candidates reconciled one by one
    bottom = Y[n_agg:]
    payloads = {k: {"actual": [], "scale": [], "features": [], "forecast": {}, "fold": []} for k in keys}
    table1, lams, cpu = {}, {}, []
    for f, (tr, te) in folds.items():
        scales = np.array([metrics.seasonal_naive_scale(b[:tr], season) for b in bottom])
        actual = bottom[:, tr:te]
        rec, lams[f], seconds = reconcile_candidates(S, base, tr, reconciled, season)
        cpu.append(seconds)
        for c in reconciled + ("seasonal_naive",) * ("seasonal_naive" in defaults):
            table1.setdefault((c, "base"), {})[f"fold {f}"] = mase(
                np.array([base[j][(tr, c)][0] for j in range(n_agg, len(S))]), actual, scales)
        for (m, c), v in rec.items():
            table1.setdefault((c, METHODS[m]), {})[f"fold {f}"] = mase(v, actual, scales)
        # the bottom series' backtests as the pipeline keeps them, plus the reconciled forecasts,
        # unrounded, as in the experiments the figures in docs/accuracy.md come from
        for b, k in enumerate(keys):
            p = payloads[k]
            p["actual"].append(actual[b].tolist())
            p["fold"].append(f)
            p["scale"].append(scales[b] if np.isfinite(scales[b]) else None)
            p["features"].append(combination.series_features(bottom[b, :tr], season))
            for c in defaults:
                p["forecast"].setdefault(c, []).append(base[n_agg + b][(tr, c)][0].tolist())
            for c in reconciled:
                for m in IN_COMBINATION:
                    p["forecast"].setdefault(f"{m}_{c}", []).append(rec[(m, c)][b].tolist())
    t1 = _order_table1(table1, reconciled)
    tables["table1"] = t1
    out(f"\n## 1. Bottom mean MASE, candidates reconciled one by one ({n_bottom} series)\n\n"
        + t1.to_markdown(index=False, floatfmt=".4f"))
    out("MinT shrinkage intensity per fold: "
        + "; ".join(f"fold {f}: " + ", ".join(f"{c} {v:.4f}" for c, v in d.items()) for f, d in lams.items()))
    if reconciled:
        out("reconciliation CPU per candidate and fold, all nodes, dense: " + ", ".join(
            f"{METHODS[m]} {1e3 * np.mean([c[(m, n)] for c in cpu for n in reconciled]):.1f} ms" for m in METHODS))
    if hierarchy == "product" and reconciled and n_bottom == len(set(stores)) * len(set(items)):
        # the closed form the --scale timings are of gives the dense solve's numbers on this panel
        tr = folds[1][0]
        yhat = np.array([base[j][(tr, reconciled[0])][0] for j in range(len(S))])
        w = residual_variances(np.array([base[j][(tr, reconciled[0])][1][season:] for j in range(len(S))]).T)
        dense = reconcile(S, yhat, w)
        err = np.max(np.abs(grouped_wls(yhat, w, len(set(stores)), len(set(items))) - dense)) / np.max(np.abs(dense))
        out(f"closed-form grouped WLS vs the dense solve here ({reconciled[0]}, fold 1, WLS variance): "
            f"max relative difference {err:.1e}")

    # ---- 2. the learned combination with the reconciled candidates
    order = sorted(keys, key=combination._digest)  # the held-out figures learn in the same order
    sets = candidate_sets(defaults, reconciled)
    metas, rows = {}, []
    for label, names_ in sets.items():
        by_halves, forward, learned = protocols(payloads, keys, names_, later)
        metas.update({(label, target): meta for target, meta in learned.items()})
        rows.append({"candidates": label, "series halves": by_halves, "time forward": np.mean(list(forward.values())),
                     **{f"fold {t}": v for t, v in forward.items()}})
    t2 = pd.DataFrame(rows)
    t2["halves vs defaults"] = [_pct(v, t2["series halves"][0]) for v in t2["series halves"]]
    t2["time forward vs defaults"] = [_pct(v, t2["time forward"][0]) for v in t2["time forward"]]
    tables["table2"] = t2
    out("\n## 2. Bottom mean MASE of the learned combination (forecasting.panel)\n\n"
        "series halves: learned on half of the series (all folds), scored on the other half, both ways round; "
        "time forward: learned on the earlier folds, scored on the next\n\n"
        + t2.to_markdown(index=False, floatfmt=".4f"))

    # ---- 3. the combination applied at every node, reconciled once
    t3 = {}
    for target in later:
        tr, te = folds[target]
        meta = metas[("defaults", target)]
        combined = _combine_at_nodes(meta, Y, base, tr, defaults, season)
        # W: each node's errors of the same combination on the folds before the target, the
        # only ones it may see (the hierarchy couples every series, so there are no halves here)
        mse = _node_mse(meta, Y, base, [w for g, w in folds.items() if g < target], defaults, season)
        scales = np.array([metrics.seasonal_naive_scale(b[:tr], season) for b in bottom])
        actual = bottom[:, tr:te]
        for label, fc in (("combination", combined[n_agg:]),
                          ("reconciled, W = diag MSE on earlier folds", reconcile(S, combined, mse)),
                          ("reconciled, W = structural", reconcile(S, combined, structural_variances(S)))):
            t3.setdefault(label, {})[f"fold {target}"] = mase(fc, actual, scales)
    t3 = pd.DataFrame([{"forecast": k, **v} for k, v in t3.items()])
    t3["mean"] = t3[[f"fold {t}" for t in later]].mean(axis=1)
    t3["vs combination"] = [_pct(v, t3["mean"][0]) for v in t3["mean"]]
    tables["table3"] = t3
    out(f"\n## 3. The learned combination (defaults) at all {S.shape[0]} nodes, reconciled once; time forward\n\n"
        + t3.to_markdown(index=False, floatfmt=".4f"))

    if held_out:  # only now, the backtest's tables printed: nothing above depends on it
        held = base_forecasts(workers, Y_all, index, [Y_all.shape[1] - horizon], defaults, reconciled, horizon,
                              season)
        tables.update(_held_out(S, Y_all, base, held, folds, payloads, order, sets, defaults, reconciled,
                                horizon, season, n_agg, out))
    return tables


def _order_table1(table1: dict, reconciled) -> pd.DataFrame:
    rows = [{"candidate": c, "method": m, **table1[(c, m)]}
            for c in reconciled for m in ("base",) + tuple(METHODS.values())]
    if ("seasonal_naive", "base") in table1:
        rows.append({"candidate": "seasonal_naive", "method": "base (reference)",
                     **table1[("seasonal_naive", "base")]})
    t = pd.DataFrame(rows)
    t["mean"] = t[[c for c in t.columns if c.startswith("fold ")]].mean(axis=1)
    return t


def _held_out(S, Y_all, base, held, folds, payloads, order, sets, defaults, reconciled, horizon, season, n_agg, out):
    """The backtest's figures at the held-out origin: each choice as the backtest made it
    (combinations learned on every backtest fold), scored on the periods it never saw."""
    origin = Y_all.shape[1] - horizon
    bottom = Y_all[n_agg:]
    scales = np.array([metrics.seasonal_naive_scale(b[:origin], season) for b in bottom])
    actual = bottom[:, origin:]
    rec, lams, _ = reconcile_candidates(S, held, origin, reconciled, season)
    fcs = {c: np.array([held[j][(origin, c)][0] for j in range(n_agg, len(S))]) for c in defaults}
    fcs.update({f"{m}_{c}": v for (m, c), v in rec.items()})
    rows = [{"candidate": c, "base": mase(fcs[c], actual, scales),
             **{METHODS[m]: mase(rec[(m, c)], actual, scales) for m in METHODS}} for c in reconciled]
    if "seasonal_naive" in defaults:
        rows.append({"candidate": "seasonal_naive (reference)", "base": mase(fcs["seasonal_naive"], actual, scales)})
    h1 = pd.DataFrame(rows)
    h2 = []
    for label, names_ in sets.items():
        meta = _learn([_subset(payloads[k], names=names_) for k in order])
        errors = []
        for b in range(len(bottom)):
            if np.isfinite(scales[b]):
                combined = combination.combined_forecast(meta, combination.series_features(bottom[b, :origin], season),
                                                         {n: fcs[n][b] for n in names_})
                errors.append(np.mean(np.abs(actual[b] - combined)) / scales[b])
        h2.append({"candidates": label, "held-out": float(np.mean(errors))})
    h2 = pd.DataFrame(h2)
    h2["vs defaults"] = [_pct(v, h2["held-out"][0]) for v in h2["held-out"]]
    meta = _learn([_subset(payloads[k], names=defaults) for k in order])
    combined = _combine_at_nodes(meta, Y_all, held, origin, defaults, season)
    mse = _node_mse(meta, Y_all, base, list(folds.values()), defaults, season)
    h3 = pd.DataFrame([{"forecast": label, "held-out": mase(fc, actual, scales)} for label, fc in (
        ("combination", combined[n_agg:]),
        ("reconciled, W = diag MSE on the backtest folds", reconcile(S, combined, mse)),
        ("reconciled, W = structural", reconcile(S, combined, structural_variances(S))))])
    h3["vs combination"] = [_pct(v, h3["held-out"][0]) for v in h3["held-out"]]
    out(f"\n# Held-out origin: a diagnosis, never used to decide\n\nfit on the {origin} periods before the last "
        f"{horizon}, scored on those {horizon}; bottom mean MASE\n\n## 1. Candidates reconciled one by one\n\n"
        + h1.astype(object).where(h1.notna(), None).to_markdown(index=False, floatfmt=".4f", missingval="")
        + "\nMinT shrinkage intensity: "
        + ", ".join(f"{c} {v:.4f}" for c, v in lams.items())
        + "\n\n## 2. The learned combination, learned on every backtest fold\n\n"
        + h2.to_markdown(index=False, floatfmt=".4f")
        + "\n\n## 3. The combination at every node, reconciled once\n\n"
        + h3.to_markdown(index=False, floatfmt=".4f"))
    return {"heldout1": h1, "heldout2": h2, "heldout3": h3}


# ---------------------------------------------------------------- scale

def grouped_problem(n_stores: int, n_items: int, horizons: int, rng) -> tuple[np.ndarray, np.ndarray]:
    """Base forecasts and variances of a synthetic grouped hierarchy (summing_matrix order):
    log-normal levels, incoherent aggregates, variances roughly growing with the level."""
    level = rng.lognormal(3, 1.5, (n_stores, n_items))
    yb = level[:, :, None] * rng.lognormal(0, 0.1, (n_stores, n_items, horizons))
    vb = (0.2 * level) ** 2 * rng.lognormal(0, 0.5, (n_stores, n_items))
    ys = level.sum(1)[:, None] * rng.lognormal(0, 0.05, (n_stores, horizons))
    yi = level.sum(0)[:, None] * rng.lognormal(0, 0.05, (n_items, horizons))
    yt = level.sum() * rng.lognormal(0, 0.03, (1, horizons))
    vs, vi = vb.sum(1) * rng.uniform(0.5, 3, n_stores), vb.sum(0) * rng.uniform(0.5, 3, n_items)
    return (np.vstack([yt, ys, yi, yb.reshape(-1, horizons)]),
            np.r_[2.0 * vb.sum(), vs, vi, vb.ravel()])


def _grid_matrix(n_stores: int, n_items: int) -> np.ndarray:
    stores = np.repeat([f"s{k:05d}" for k in range(n_stores)], n_items)
    items = np.tile([f"i{k:05d}" for k in range(n_items)], n_stores)
    return summing_matrix(stores, items)[0]


def _timed(f, *args, repeats: int = 3):
    best = (np.inf, np.inf)
    for _ in range(repeats):
        cpu, wall = time.process_time(), time.perf_counter()
        result = f(*args)
        best = min(best, (time.process_time() - cpu, time.perf_counter() - wall))
    return result, best


def scale(out=print, closed_sizes=((100, 100), (1000, 1000)), dense_sizes=(20, 30, 45, 64), periods: int = 64):
    """Times the closed-form WLS-variance reconciliation and the dense MinT-shrink one, one core."""
    rng = np.random.default_rng(0)
    checks = []
    for s, i in ((30, 7), (7, 30)):  # both orientations of the Schur elimination
        yhat, v = grouped_problem(s, i, 8, rng)
        dense = reconcile(_grid_matrix(s, i), yhat, v)
        checks.append(f"{s}x{i} {np.max(np.abs(grouped_wls(yhat, v, s, i) - dense)) / np.max(np.abs(dense)):.1e}")
    rows = []
    for s, i in closed_sizes:
        yhat, v = grouped_problem(s, i, 8, rng)
        _, (cpu, wall) = _timed(grouped_wls, yhat, v, s, i)
        rows.append({"stores x items": f"{s} x {i}", "bottom series": f"{s * i:,}", "nodes": f"{len(v):,}",
                     "CPU s": cpu, "wall s": wall})
    closed = pd.DataFrame(rows)
    rows = []
    for k in dense_sizes:
        S = _grid_matrix(k, k)
        E = rng.standard_normal((periods, len(S))) * rng.lognormal(0, 1, len(S))
        yhat = rng.standard_normal((len(S), 8))
        _, (cpu, wall) = _timed(lambda: reconcile(S, yhat, shrink_covariance(E)[0]))
        rows.append({"stores x items": f"{k} x {k}", "bottom series": f"{k * k:,}", "nodes": f"{len(S):,}",
                     "CPU s": cpu, "wall s": wall})
    dense = pd.DataFrame(rows)
    out("\n# Scale, one core\n\nclosed-form grouped WLS vs the dense solve, max relative difference: "
        + ", ".join(checks)
        + "\n\n## WLS variance, closed form (Woodbury + Schur, no n x n matrix), 8 horizons, best of 3\n\n"
        + closed.to_markdown(index=False, floatfmt=".4f")
        + f"\n\n## MinT shrink, dense (shrunk covariance of {periods} periods' residuals + n x n solve), 8 horizons, "
          "best of 3\n\n"
        + dense.to_markdown(index=False, floatfmt=".4f")
        + "\n\nthe dense solve grows as n^3 in time and n^2 in memory (several n x n float64 temporaries): "
          "a million nodes would need 8 TB per n x n matrix")
    return {"closed": closed, "dense": dense}


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--tourism", default="../shared/data/tourism.rda", help="path to tourism.rda")
    p.add_argument("--hierarchy", choices=("product", "states"), default="product",
                   help="product: total, stores, items, bottom; states: also states and state x item")
    p.add_argument("--held-out", action="store_true", help="also the figures at the held-out origin (a diagnosis)")
    p.add_argument("--scale", action="store_true", help="also time the reconciliations at large sizes")
    p.add_argument("--workers", type=int, default=2)
    args = p.parse_args(argv)
    from benchmarks import panels

    started = time.time()
    panel = panels.tourism(args.tourism)
    run(panel.frame, panel.freq, panel.fill, args.hierarchy, args.held_out, args.workers)
    if args.scale:
        scale()
    print(f"\nwall time {time.time() - started:.0f} s")


if __name__ == "__main__":
    main()
