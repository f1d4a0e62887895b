"""Accuracy and cost of every candidate and of the selection, on real and generated panels.

    python -m benchmarks.accuracy --oj ../shared/data/orangeJuice.rda --tourism ../shared/data/tourism.rda \\
        [--daily 200] [--workers 2] [--limit N] [--out docs/accuracy-run.md]

Per panel, the last horizon of every series is held out (12 weeks, 8 quarters, 28 days: the
project's default horizon for the frequency); when the panel has prices and promotions, the
held-out periods' own are the planned calendar. Everything runs through the pipeline's core
with the project's defaults for the frequency:

1. the pooled candidates' group models (one per item, as engine.pooled runs them);
2. a first training run (no panel prior) on a sample of the series, keeping their backtests
   like the pipeline does;
3. the prior learned from those backtests (training periods only), and a second run of every
   series with it: the steady state of a deployment that retrains;
4. every candidate alone, and statsforecast's AutoETS run directly on the panel;
5. cold starts: every series cut to a few points before the held-out periods, forecast from
   its item's profile across the other stores, intervals calibrated on the panel.

Costs are CPU seconds of the worker process (one BLAS thread), so they read as one core.
The data's licences (GPL) differ from the project's: the files are read in place, never copied.
"""
from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # before numpy: CPU time must be one core's
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")

import argparse  # noqa: E402
import json  # noqa: E402
import time  # noqa: E402
from concurrent.futures import ProcessPoolExecutor  # noqa: E402

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from benchmarks import panels as P  # noqa: E402
from benchmarks.evaluate import cold_start_rows, first_run, prepare, score, selection_rows, single_rows  # noqa: E402
from benchmarks.report import render  # noqa: E402
from manymodels_assets.forecasting.candidates import ENSEMBLE  # noqa: E402
from manymodels_assets.forecasting.config import TrainingConfig  # noqa: E402
from manymodels_assets.forecasting.panel import learn_prior, sample_keys  # noqa: E402
from manymodels_assets.forecasting.selection import panel_scores  # noqa: E402

TABLE_CANDIDATES = ("naive", "seasonal_naive", "ets", "theta", "croston", "tsb", "regression", "regression_ar",
                    "dynamic_regression", "auto_ets", "auto_theta", "auto_arima", "mstl", "pooled", "pooled_ar")
"""Every candidate gets a row; the costly ones (see COSTLY) on a sample of series."""
COSTLY = {"D": ("auto_ets", "auto_arima", "mstl", "dynamic_regression"), "W": ("auto_arima", "mstl"),
          "Q": ("auto_arima",)}


def _map(pool, fn, items, chunksize=4):
    return list(pool.map(fn, items, chunksize=chunksize)) if pool else [fn(i) for i in items]


def autoets_direct(series: list, sp: int, horizon: int) -> pd.DataFrame:
    """statsforecast's AutoETS run directly on the whole panel (its own API, one core)."""
    from statsforecast import StatsForecast
    from statsforecast.models import AutoETS

    df = pd.concat([pd.DataFrame({"unique_id": s.key, "ds": np.arange(len(s.train)), "y": s.train["units"].to_numpy()})
                    for s in series], ignore_index=True)
    started = time.process_time()
    fc = StatsForecast(models=[AutoETS(season_length=sp)], freq=1, n_jobs=1).forecast(df=df, h=horizon)
    seconds = (time.process_time() - started) / len(series)
    rows = []
    for s in series:
        yhat = fc.loc[fc["unique_id"] == s.key, "AutoETS"].to_numpy()
        rows.append({**score(s, yhat, None, None), "method": "statsforecast AutoETS (direct)", "seconds": seconds})
    return pd.DataFrame(rows)


def run_panel(panel: P.Panel, pool, limit: int | None, costly_sample: int, log, prior_sample: int = 300) -> dict:
    started = time.time()
    config = TrainingConfig()
    defaults = config.candidates_for(panel.freq)
    series, pooled, pooled_seconds = prepare(panel, config, limit, pool)
    log(f"{panel.name}: {len(series)} series; pooled group models "
        + ", ".join(f"{name} {sec * 1000:.1f} ms" for name, sec in pooled_seconds.items()) + " per series")
    # the first run (no prior yet) on a sample, as many series as a pipeline run keeps backtests of
    # at 100k series would be wasteful here: the prior needs a few hundred
    first = first_run(series, config, pooled, pool, prior_sample)
    prior = learn_prior([r["row"]["candidate_backtests"] for r in first],
                        [r["row"]["candidate_metrics"] for r in first], config.metric)
    log(f"{panel.name}: prior learned from the first run's backtests: {prior.to_json()}")
    # the one model a team would deploy for every series from the backtests alone
    ranking = panel_scores([r["row"]["candidate_metrics"] for r in first], config.metric)
    second = _map(pool, selection_rows, [(s, config, prior, pooled.get(s.key), False) for s in series])
    costly = COSTLY.get(series[0].freq_base, ())
    sampled = set(sample_keys([s.key for s in series], costly_sample))
    jobs = [(s, name, pooled.get(s.key)) for name in TABLE_CANDIDATES for s in series
            if name not in costly or s.key in sampled]
    singles = pd.DataFrame(_map(pool, single_rows, jobs))
    log(f"{panel.name}: {len(jobs)} single-candidate runs done")
    cold = pd.DataFrame(_map(pool, cold_start_rows, [(s, config, None) for s in series], chunksize=8))
    direct = autoets_direct(series, series[0].season_length, panel.holdout)
    selection = pd.concat([pd.DataFrame([r["metrics"] | {"method": "selection (first run)"} for r in first]),
                           pd.DataFrame([r["metrics"] | {"method": "selection"} for r in second])], ignore_index=True)
    for name, sec in pooled_seconds.items():  # a group model's cost is shared by the series of the group
        if name in defaults:
            selection["seconds"] += sec
        singles.loc[singles["method"] == name, "seconds"] += sec
    return {"panel": panel, "rows": pd.concat([selection, singles, direct], ignore_index=True), "cold": cold,
            "mean_weights": _mean_weights([r["row"] for r in second]),
            "prior": prior, "backtest_ranking": ranking,
            "chosen": pd.Series([r["row"]["forecaster"] for r in second]).value_counts(),
            "costly": costly, "costly_sample": sorted(sampled), "defaults": defaults, "wall": time.time() - started,
            "series": len(series), "three_years": {s.key for s in series if len(s.train) >= 3 * 365 - panel.holdout}}


def _mean_weights(rows: list[dict]) -> dict[str, float]:
    """Each candidate's mean weight in the series' forecasts (a single candidate: weight 1)."""
    totals: dict[str, float] = {}
    for row in rows:
        members = json.loads(row["candidate_metrics"] or "{}").get(ENSEMBLE, {}).get("members")
        if row["forecaster"] == ENSEMBLE and members:
            for part in members.split("+"):
                name, weight = part.rsplit(":", 1)
                totals[name] = totals.get(name, 0.0) + float(weight)
        elif row["forecaster"]:
            totals[row["forecaster"]] = totals.get(row["forecaster"], 0.0) + 1.0
    return {k: round(v / max(len(rows), 1), 3) for k, v in sorted(totals.items(), key=lambda kv: -kv[1])}


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    P.add_panel_arguments(p)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--limit", type=int, default=None, help="first N series of each panel only (a quick look)")
    p.add_argument("--prior-sample", type=int, default=300,
                   help="series of the first training run, whose backtests the panel combination is learned from")
    p.add_argument("--costly-sample", type=int, default=60,
                   help="series per panel on which the costly candidates are run (their cost is per series)")
    p.add_argument("--out", default=None, help="also write the report (markdown) here")
    args = p.parse_args(argv)
    results = []
    with ProcessPoolExecutor(args.workers) if args.workers > 1 else _NoPool() as pool:
        for panel in P.requested(args):
            results.append(run_panel(panel, pool if args.workers > 1 else None, args.limit, args.costly_sample,
                                     lambda m: print(m, flush=True), args.prior_sample))
    text = render(results, args.workers)
    print(text)
    if args.out:
        with open(args.out, "w") as f:
            f.write(text + "\n")


class _NoPool:
    def __enter__(self):
        return None

    def __exit__(self, *exc):
        return False


if __name__ == "__main__":
    main()
