"""The report's "selection vs best single candidate" repeated on earlier windows of each panel,
from backtests alone: is one held-out window's verdict the panel's, or that window's?

The accuracy report compares the selection with the best single candidate on one window, the
held-out periods, the best candidate being picked on that window itself. Here the pipeline's
first run (no prior yet) trains each panel's sampled series (up to 300) with ``--folds``
backtest folds (6 by default: the defaults' 3 and the 3 before them); the held-out periods are
cut off before. Then, for every fold but the first, as a deployment retraining at that fold's
origin would:

- the panel combination is learned (``learn_prior``, as the product runs it) from up to
  ``--learn-from`` folds before it only (3 by default, as the report's combination is learned
  from the 3 folds before the held-out periods; folds 2 and 3 have only 1 and 2 before them,
  where a run at their origin would cut 3 shorter ones), and applied to each series' candidates
  at that fold;
- each default candidate alone on that fold (the first run's backtests hold the defaults only);
  the best of them on the fold itself (what the report compares with), and the one those
  earlier folds rank best (what a team deploying one model for every series would have picked
  then).

Printed per panel and fold: mean MASE of the combination and of both single candidates, the
gains over each with a 90% paired bootstrap over the series. A diagnosis: nothing here is
decided on, and nothing sees the held-out periods. With the default 6 folds, folds 4 to 6 are
the backtests the product's own choices were decided on (the report's first run's 3 folds);
folds 1 to 3 were never looked at before. Folds are numbered back from each
series' own last period: a series that ends a few periods before the panel's others has its
folds that much earlier.

    .venv/bin/python -m benchmarks.windows [--oj ../shared/data/orangeJuice.rda] \\
        [--tourism ../shared/data/tourism.rda] [--daily 200] [--folds 6] [--workers 2]

The data's licences differ from the project's: the files are read in place, never copied.
"""
from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # before numpy
os.environ.setdefault("OMP_NUM_THREADS", "1")

import argparse  # noqa: E402
import time  # noqa: E402
from concurrent.futures import ProcessPoolExecutor  # noqa: E402

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from benchmarks import panels as P  # noqa: E402
from benchmarks.evaluate import first_run_backtests  # noqa: E402
from benchmarks.reconciliation import _learn, _subset  # noqa: E402
from benchmarks.report import bootstrap_gain  # noqa: E402
from manymodels_assets.forecasting import panel as combination  # noqa: E402
from manymodels_assets.forecasting.config import TrainingConfig  # noqa: E402


def fold_errors(payloads: dict[str, dict], fold: int, meta: dict | None) -> pd.DataFrame:
    """Per series scored on ``fold`` (rows): the MASE of each candidate, and of the combination
    ``meta`` when given (column ``combination``). Only series with every candidate there (and,
    with ``meta``, a weight for one of them), so that every column scores the same series."""
    names = sorted({n for p in payloads.values() for n in p["forecast"]})
    rows = {}
    for key, p in payloads.items():
        if fold not in p["fold"]:
            continue
        i = p["fold"].index(fold)
        actual, scale = np.asarray(p["actual"][i], float), p["scale"][i]
        forecasts = {n: np.asarray(p["forecast"][n][i], float) for n in names if n in p["forecast"]}
        if not scale or not actual.size or len(forecasts) < len(names):
            continue
        row = {n: float(np.mean(np.abs(actual - f)) / scale) for n, f in forecasts.items()}
        if meta:
            combined = combination.combined_forecast(meta, p["features"][i], forecasts)
            if combined is None:  # no candidate the combination knows: the product would refit a single one
                continue
            row["combination"] = float(np.mean(np.abs(actual - combined)) / scale)
        rows[key] = row
    return pd.DataFrame.from_dict(rows, orient="index")


def compare(payloads: dict[str, dict], learn_from: int = TrainingConfig().n_folds) -> pd.DataFrame:
    """One row per fold after the first: the combination learned on (up to) the ``learn_from``
    folds before it, against the fold's best default candidate and the one those folds rank best."""
    folds = sorted({f for p in payloads.values() for f in p["fold"]})
    alone = {f: fold_errors(payloads, f, None) for f in folds}  # the candidates' own errors, once per fold
    rows = []
    for target in folds[1:]:
        earlier = {f for f in folds if target - learn_from <= f < target}
        meta = _learn([_subset(p, earlier) for p in payloads.values()])
        errors = fold_errors(payloads, target, meta)
        if not meta or errors.empty:
            continue
        singles = errors.drop(columns="combination").mean()
        best = singles.idxmin()
        before = pd.concat([alone[f] for f in sorted(earlier)]).mean()
        ranked = before.idxmin()
        mean = errors["combination"].mean()
        low, high = bootstrap_gain(errors["combination"].to_numpy(), errors[best].to_numpy())
        low_r, high_r = bootstrap_gain(errors["combination"].to_numpy(), errors[ranked].to_numpy())
        rows.append({"fold": target, "series": len(errors), "combination": mean,
                     "best on the fold": f"{best} {singles[best]:.4f}", "gain": 1 - mean / singles[best],
                     "90% bootstrap": f"{low:+.1%} to {high:+.1%}", "learned on": ", ".join(map(str, sorted(earlier))),
                     "best on the earlier folds": f"{ranked} {singles[ranked]:.4f}",
                     "gain over it": 1 - mean / singles[ranked], "its 90% bootstrap": f"{low_r:+.1%} to {high_r:+.1%}"})
    return pd.DataFrame(rows)


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    P.add_panel_arguments(p)
    p.add_argument("--folds", type=int, default=6, help="backtest folds of the first run")
    p.add_argument("--learn-from", type=int, default=TrainingConfig().n_folds,
                   help="folds before each scored one the combination is learned from (the product's backtest folds)")
    p.add_argument("--workers", type=int, default=2)
    args = p.parse_args(argv)
    started = time.time()
    config = TrainingConfig(n_folds=args.folds)
    with ProcessPoolExecutor(args.workers) as pool:
        for panel in P.requested(args):
            payloads = first_run_backtests(panel, pool, config=config)
            table = compare(payloads, args.learn_from)
            if table.empty:
                print(f"\n## {panel.name}: no fold after the first to score (too few series or folds)", flush=True)
                continue
            shown = table.assign(**{c: table[c].map("{:+.2%}".format) for c in ("gain", "gain over it")})
            print(f"\n## {panel.name}: {len(payloads)} series' backtests, {args.folds} folds (1 the oldest)\n\n"
                  + shown.to_markdown(index=False, floatfmt=".4f")
                  + f"\n\nthe combination ahead of the fold's best default candidate on {int((table['gain'] > 0).sum())}"
                  f" of {len(table)} folds; mean gain {table['gain'].mean():+.2%}", flush=True)
    print(f"\nwall time {time.time() - started:.0f} s")


if __name__ == "__main__":
    main()
