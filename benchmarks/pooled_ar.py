"""The pooled autoregression (``pooled_ar``) on the quarterly tourism panel: which settings, and
whether the learned combination gains from it. Decided on backtests only.

The panel's last 8 quarters are dropped first; nothing here sees them unless ``--held-out``.
The per-series quarterly defaults are fit at each of the pipeline's three backtest origins
(``forecasting.candidates.fit_predict``); the pooled autoregression
(``forecasting.pooled_ar``) is fit at the same origins with each of 16 settings: 2 to 5 seasons
of lags, log or level scaling, one model per item (the product's default group) or one over
all series. Printed:

1. each setting alone: mean MASE per fold, and CPU per fit of a whole panel;
2. the learned combination (``forecasting.panel``) of the defaults with each setting added,
   scored on the other half of the series and on the next fold in time, against the
   defaults alone. The rule, fixed before the figures: a setting is worth adding when both
   improve by 0.3% or more.

``--relabel N`` repeats table 2 for the passing settings with the candidates renamed at random,
N times. Until learn_prior drew its penalty's groups by content, names alone moved these
figures (up to 0.76 points of time forward); now every relabelling prints the same.

``--held-out SETTING ...`` adds the combination at the held-out origin, learned on all three
folds, for the named settings (e.g. ``log-5-item``): a diagnosis, never a decision.

    .venv/bin/python -m benchmarks.pooled_ar [--tourism ../shared/data/tourism.rda] \\
        [--held-out log-5-item ...] [--workers 2]

The data's licence (GPL) differs from the project's: the file is read in place, never copied.
"""
from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # before numpy: CPU time must be one core's
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")

import argparse  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from benchmarks.reconciliation import (_learn, _pct, _subset, base_forecasts, bottom_series,  # noqa: E402
                                       folds_of, mase)
from benchmarks.reconciliation import protocols as backtest_protocols  # noqa: E402
from manymodels_assets.forecasting import metrics  # noqa: E402
from manymodels_assets.forecasting import panel as combination  # noqa: E402
from manymodels_assets.forecasting.candidates import get  # noqa: E402
from manymodels_assets.forecasting.config import TrainingConfig  # noqa: E402
from manymodels_assets.forecasting.pooled import GroupSeries  # noqa: E402
from manymodels_assets.forecasting.pooled_ar import ARSettings, fit_predict  # noqa: E402

SETTINGS = {f"{scale}-{seasons}-{group}": (ARSettings(seasons=seasons, scale=scale), group)
            for seasons in (2, 3, 4, 5) for scale in ("level", "log") for group in ("all", "item")}
"""The settings compared: scaling, seasons of lags, groups."""


def pooled_forecasts(Y: np.ndarray, index: pd.PeriodIndex, items: list, origin: int, horizon: int, season: int,
                     settings: ARSettings, group: str) -> np.ndarray:
    """The pooled autoregression's forecasts (series x horizon) from ``origin``, one model per
    group, each fit on the group's periods before the origin only."""
    labels = np.asarray(items) if group == "item" else np.zeros(len(Y), int)
    out = np.zeros((len(Y), horizon))
    for label in np.unique(labels):
        rows = np.flatnonzero(labels == label)
        series = [GroupSeries(str(j), pd.Series(Y[j, :origin], index=index[:origin])) for j in rows]
        out[rows] = fit_predict(series, [origin] * len(rows), horizon, season, settings)
    return out


def _payloads(Y, keys, folds, season, defaults, base, extra) -> dict:
    """Each series' backtests as the pipeline keeps them (forecasts of the defaults and ``extra``)."""
    P = {k: {"actual": [], "scale": [], "features": [], "forecast": {}, "fold": []} for k in keys}
    for f, (tr, te) in folds.items():
        scales = np.array([metrics.seasonal_naive_scale(y[:tr], season) for y in Y])
        for b, k in enumerate(keys):
            p = P[k]
            p["actual"].append(Y[b, tr:te].tolist())
            p["fold"].append(f)
            p["scale"].append(scales[b] if np.isfinite(scales[b]) else None)
            p["features"].append(combination.series_features(Y[b, :tr], season))
            for c in defaults:
                p["forecast"].setdefault(c, []).append(base[b][(tr, c)][0].tolist())
            for name, by_fold in extra.items():
                p["forecast"].setdefault(name, []).append(by_fold[f][b].tolist())
    return P


def relabelled(P: dict, seed: int) -> dict:
    """The same backtests with every candidate renamed at random: nothing a forecast depends on,
    so nothing the learned combination should depend on either."""
    names = sorted(next(iter(P.values()))["forecast"])
    rng = np.random.default_rng(seed)
    new = {n: f"c{rng.integers(1 << 30):09d}_{n}" for n in names}
    return {k: {**p, "forecast": {new[n]: v for n, v in p["forecast"].items()}} for k, p in P.items()}, new


def protocols(P: dict, keys: list, names: list, later: list) -> tuple[float, float]:
    """(series halves, time forward) mean MASE of the combination learned over ``names``."""
    by_halves, forward, _ = backtest_protocols(P, keys, names, later)
    return by_halves, float(np.mean(list(forward.values())))


def run(frame: pd.DataFrame, freq: str, fill: str, held_out: tuple[str, ...] = (), workers: int = 2,
        relabel: int = 0, candidates: tuple[str, ...] | None = None, out=print) -> dict[str, pd.DataFrame]:
    """Every table of the benchmark for a panel (store_id, item_id, date, units), printed with
    ``out`` and returned by name. ``candidates``: the frequency's per-series defaults unless given."""
    config = TrainingConfig()
    horizon, season = config.resolved(freq)
    defaults = tuple(candidates or [c for c in config.candidates_for(freq) if not get(c).pooled])
    B, stores, items, index = bottom_series(frame, freq, fill)
    keys = [f"{s}|{i}" for s, i in zip(stores, items)]
    Y = B[:, :-horizon]  # the held-out periods: never seen by the backtest
    folds = folds_of(Y.shape[1], horizon, config.n_folds)
    later = [f for f in folds if f > 1]
    started = time.time()
    base = base_forecasts(workers, Y, index, [tr for tr, _ in folds.values()], defaults, (), horizon, season)
    out(f"# The pooled autoregression on {len(Y)} quarterly series\n\n{Y.shape[1]} periods before the held-out "
        f"{horizon}; folds (train end, test end) {folds}; defaults {', '.join(defaults)}, fit in "
        f"{time.time() - started:.0f} s wall")
    scales = {f: np.array([metrics.seasonal_naive_scale(y[:tr], season) for y in Y]) for f, (tr, _) in folds.items()}
    extra, rows = {}, []
    for name, (settings, group) in SETTINGS.items():
        cpu = time.process_time()
        extra[name] = {f: pooled_forecasts(Y, index, items, tr, horizon, season, settings, group)
                       for f, (tr, _) in folds.items()}
        cpu = (time.process_time() - cpu) / len(folds)
        alone = {f"fold {f}": mase(extra[name][f], Y[:, tr:te], scales[f]) for f, (tr, te) in folds.items()}
        rows.append({"setting": name, **alone, "all folds": np.mean(list(alone.values())),
                     "CPU ms per panel fit": 1e3 * cpu})
    for c in defaults:
        alone = {f"fold {f}": mase(np.array([base[b][(tr, c)][0] for b in range(len(Y))]), Y[:, tr:te], scales[f])
                 for f, (tr, te) in folds.items()}
        rows.append({"setting": c, **alone, "all folds": np.mean(list(alone.values()))})
    t1 = pd.DataFrame(rows)
    out("\n## 1. Alone: mean MASE per backtest fold\n\n" + t1.to_markdown(index=False, floatfmt=".4f"))

    P = _payloads(Y, keys, folds, season, defaults, base, extra)
    reference = protocols(P, keys, list(defaults), later)
    rows = [{"candidates": "defaults", "series halves": reference[0], "time forward": reference[1]}]
    for name in SETTINGS:
        h, t = protocols(P, keys, list(defaults) + [name], later)
        rows.append({"candidates": f"+ {name}", "series halves": h, "time forward": t,
                     "halves vs defaults": _pct(h, reference[0]), "time forward vs defaults": _pct(t, reference[1]),
                     "both >= 0.3%": h <= 0.997 * reference[0] and t <= 0.997 * reference[1]})
    t2 = pd.DataFrame(rows)
    out("\n## 2. The learned combination with each setting added\n\n"
        "series halves: learned on half of the series (all folds), scored on the other half, both ways round; "
        "time forward: learned on the earlier folds, scored on the next\n\n" + t2.to_markdown(index=False, floatfmt=".4f"))
    tables = {"alone": t1, "combination": t2}
    if relabel:
        tables["relabelled"] = _relabelled(P, keys, defaults, later, t2, relabel, out)
    if held_out:  # only now, the backtest's tables printed: nothing above depends on it
        tables["held_out"] = _held_out(B, index, items, keys, folds, P, base, defaults, held_out, horizon, season,
                                       workers, out)
    return tables


def _relabelled(P, keys, defaults, later, t2, n, out) -> pd.DataFrame:
    """Table 2's passing settings and the defaults again under ``n`` random relabellings."""
    passing = [c[2:] for c, ok in zip(t2["candidates"], t2.get("both >= 0.3%", [])) if ok is True]
    rows = []
    for seed in range(n):
        Q, new = relabelled(P, seed)
        reference = protocols(Q, keys, [new[c] for c in defaults], later)
        row = {"relabelling": seed, "defaults: halves": reference[0], "defaults: time forward": reference[1]}
        for name in passing:
            h, t = protocols(Q, keys, [new[c] for c in (*defaults, name)], later)
            row[f"+ {name}: halves"], row[f"+ {name}: time forward"] = _pct(h, reference[0]), _pct(t, reference[1])
        rows.append(row)
    table = pd.DataFrame(rows)
    out(f"\n## 3. The same backtests under {n} random relabellings of the candidates\n\n"
        "Names are not data: every row should read the same.\n\n"
        + table.to_markdown(index=False, floatfmt=".4f"))
    return table


def _held_out(B, index, items, keys, folds, P, base, defaults, names, horizon, season, workers, out):
    origin = B.shape[1] - horizon
    held = base_forecasts(workers, B, index, [origin], defaults, (), horizon, season)
    scales = np.array([metrics.seasonal_naive_scale(y[:origin], season) for y in B])
    actual = B[:, origin:]
    order = sorted(keys, key=combination._digest)
    rows = [{"forecast": c, "mean MASE": mase(np.array([held[b][(origin, c)][0] for b in range(len(B))]), actual,
                                              scales)} for c in defaults]
    for extra in (None, *names):
        members = list(defaults) + ([extra] if extra else [])
        meta = _learn([_subset(P[k], names=members) for k in order])
        future = pooled_forecasts(B, index, items, origin, horizon, season, *SETTINGS[extra]) if extra else None
        combined = []
        for b in range(len(B)):
            forecasts = {c: held[b][(origin, c)][0] for c in defaults} | ({extra: future[b]} if extra else {})
            combined.append(combination.combined_forecast(meta, combination.series_features(B[b, :origin], season),
                                                          forecasts))
        if extra:
            rows.append({"forecast": f"{extra} alone", "mean MASE": mase(future, actual, scales)})
        rows.append({"forecast": f"combination{' + ' + extra if extra else ''}",
                     "mean MASE": mase(np.array(combined), actual, scales)})
    table = pd.DataFrame(rows)
    out(f"\n## Held-out quarters (a diagnosis, not a decision)\n\n" + table.to_markdown(index=False, floatfmt=".4f"))
    return table


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--tourism", default="../shared/data/tourism.rda", help="path to tourism.rda")
    p.add_argument("--held-out", nargs="*", default=(), choices=sorted(SETTINGS), metavar="SETTING",
                   help="also the combination with these settings at the held-out origin (a diagnosis)")
    p.add_argument("--relabel", type=int, default=0, help="repeat table 2's passing settings under N relabellings")
    p.add_argument("--workers", type=int, default=2)
    args = p.parse_args(argv)
    from benchmarks import panels

    started = time.time()
    panel = panels.tourism(args.tourism)
    run(panel.frame, panel.freq, panel.fill, tuple(args.held_out), args.workers, args.relabel)
    print(f"\nwall time {time.time() - started:.0f} s")


if __name__ == "__main__":
    main()
