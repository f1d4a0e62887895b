"""Accuracy report on the real Dominick's orange-juice panel (913 weekly store-brand series).

    python -m benchmarks.accuracy ../shared/data/orangeJuice.rda [--workers 2] [--limit N]

Runs the pipeline's core (``train_series`` / ``forecast_series``) per series with the last
12 weeks held out. The held-out weeks' prices and promotions (deal or feature) are given as
the planned calendar, as a retailer's promotion plan would be. Prints MASE, sMAPE, WAPE and
95% interval coverage for every candidate forced alone, for the per-series selection, and for
naive and seasonal naive, plus the time it took.

Gaps (weeks a store did not report) are filled by interpolating log units: in this panel a
missing week is missing data, not zero sales. The data's licence (GPL) differs from the
project's, so it is read from where it lies and never copied.
"""
from __future__ import annotations

import argparse
import json
import os
import time
from concurrent.futures import ProcessPoolExecutor

import numpy as np
import pandas as pd

from manymodels_assets.forecasting.keys import decode_key, encode_key
from manymodels_assets.forecasting.selection import panel_ranking

HOLDOUT = 12
WEEK1 = pd.Timestamp("1989-09-14")  # Dominick's week 1 starts on this Thursday


def load_panel(path: str) -> pd.DataFrame:
    """store_id, item_id (brand), date, units, price (own price), promo (deal or feature)."""
    import rdata

    oj = rdata.read_rda(path)["orangeJuice"]
    yx = oj["yx"]
    brand = yx["brand"].astype(int)
    own_price = yx[[f"price{i}" for i in range(1, 12)]].to_numpy()[np.arange(len(yx)), brand.to_numpy() - 1]
    return pd.DataFrame({
        "store_id": yx["store"].astype(int).astype(str),
        "item_id": "brand" + brand.astype(str).str.zfill(2),
        "date": WEEK1 + pd.to_timedelta(7 * (yx["week"].astype(int) - 1), unit="D"),
        "units": np.exp(yx["logmove"].to_numpy()),
        "price": own_price,
        "promo": np.maximum(yx["deal"].to_numpy(), yx["feat"].to_numpy() > 0).astype(int),
    })


def evaluate(args):
    """All numbers of one series: per candidate alone, and the selection."""
    key, frame, candidates, freq, settings, prior, selection_only = args
    from manymodels_assets.forecasting import metrics as m
    from manymodels_assets.forecasting.scoring import forecast_series
    from manymodels_assets.forecasting.series import regularize
    from manymodels_assets.forecasting.config import TrainingConfig
    from manymodels_assets.forecasting.training import train_series

    series = regularize(frame, freq, frame["date"].max(), fill="interpolate")
    train, test = series.iloc[:-HOLDOUT], series.iloc[-HOLDOUT:]
    actual = test["units"].to_numpy()
    calendar = test[["date", "price", "promo"]]
    out = []
    t = time.perf_counter()
    row = train_series(key, *decode_key(key), train[["date", "units", "price", "promo"]], freq,
                       TrainingConfig(candidates=tuple(candidates), horizon=HOLDOUT, **settings), calendar=calendar,
                       prior=prior)
    selection_seconds = time.perf_counter() - t
    season = row["season_length"]

    def scores(name, fc, seconds):
        return {"key": key, "method": name, "seconds": seconds,
                "mase": m.mase(actual, fc["yhat"], train["units"], season),
                "smape": m.smape(actual, fc["yhat"]), "wape": m.wape(actual, fc["yhat"]),
                "abs_error": float(np.abs(actual - fc["yhat"]).sum()), "abs_actual": float(np.abs(actual).sum()),
                "coverage": m.interval_coverage(actual, fc["yhat_lower"], fc["yhat_upper"]),
                "width": m.interval_width(fc["yhat_lower"], fc["yhat_upper"])}

    out.append({**scores("selection", forecast_series(row, HOLDOUT), selection_seconds), "chosen": row["forecaster"],
                "candidate_metrics": row["candidate_metrics"]})
    if selection_only:  # first pass of --prior: only the backtests are needed
        return out
    for name in dict.fromkeys(["naive", "seasonal_naive", *candidates]):
        t = time.perf_counter()
        alone = train_series(key, *decode_key(key), train[["date", "units", "price", "promo"]], freq,
                             TrainingConfig(candidates=(name,), horizon=HOLDOUT,
                                            **{**settings, "combine_top": 0}), calendar=calendar)
        seconds = time.perf_counter() - t
        if alone["forecaster"] != name:  # the candidate could not run on this series
            out.append({"key": key, "method": name, "skipped": json.loads(alone["candidate_metrics"] or "{}")})
            continue
        out.append(scores(name, forecast_series(alone, HOLDOUT), seconds))
    return out


def report(rows: pd.DataFrame, elapsed: float, n_series: int, workers: int) -> str:
    ok = rows[rows["mase"].notna()] if "mase" in rows else rows
    agg = ok.groupby("method").agg(series=("key", "nunique"), mase=("mase", "mean"), smape=("smape", "mean"),
                                   abs_error=("abs_error", "sum"), abs_actual=("abs_actual", "sum"),
                                   coverage=("coverage", "mean"), width=("width", "mean"),
                                   seconds=("seconds", "sum"))
    agg["wape"] = agg["abs_error"] / agg["abs_actual"]
    agg = agg.drop(columns=["abs_error", "abs_actual"]).sort_values("mase")
    snaive = agg.loc["seasonal_naive", "mase"] if "seasonal_naive" in agg.index else np.nan
    best_single = agg.drop(index="selection", errors="ignore")["mase"].idxmin()
    sel = agg.loc["selection", "mase"]
    chosen = rows.loc[rows["method"] == "selection", "chosen"].value_counts()
    per_series = ok.pivot_table(index="key", columns="method", values="mase")
    singles = per_series.drop(columns=["selection"], errors="ignore")
    oracle = singles.min(axis=1).mean()
    picked = rows.loc[rows["method"] == "selection"].set_index("key")["chosen"]
    away = picked[picked != best_single].index.intersection(per_series.index)
    lines = [f"# Accuracy on Dominick's orange juice: {n_series} weekly store-brand series, "
             f"last {HOLDOUT} weeks held out",
             "", agg.to_markdown(floatfmt=".3f"), "",
             f"- selection vs seasonal naive (aggregate MASE): {sel:.3f} vs {snaive:.3f} = "
             f"{100 * (1 - sel / snaive):.1f}% better (target >= 10%)",
             f"- selection vs best single candidate ({best_single}, {agg.loc[best_single, 'mase']:.3f}): "
             f"{100 * (1 - sel / agg.loc[best_single, 'mase']):.1f}% better (target > 0%)",
             f"- 95% interval coverage of the selection: {agg.loc['selection', 'coverage']:.3f} (target 0.90-0.98)",
             "- chosen per series: " + ", ".join(f"{k} {v}" for k, v in chosen.items()),
             f"- oracle (the best single candidate of each series on the held-out weeks): MASE {oracle:.3f}",
             f"- on the {len(away)} series where the selection chose something other than {best_single}: "
             f"selection MASE {per_series.loc[away, 'selection'].mean():.3f} vs {best_single} "
             f"{per_series.loc[away, best_single].mean():.3f}; the selection was better on "
             f"{int((per_series.loc[away, 'selection'] < per_series.loc[away, best_single]).sum())} of them",
             f"- wall time {elapsed:.0f}s with {workers} worker processes "
             f"(selection alone: {agg.loc['selection', 'seconds'] / n_series * 1000:.0f} ms per series, one core)"]
    return "\n".join(lines)


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("rda", help="path to orangeJuice.rda")
    p.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    p.add_argument("--limit", type=int, default=None, help="first N series only (quick look)")
    p.add_argument("--candidates", default="seasonal_naive,ets,theta,tsb,regression")
    p.add_argument("--freq", default="W-WED", help="weeks start on Thursdays")
    p.add_argument("--folds", type=int, default=3, help="backtest folds for the selection")
    p.add_argument("--combine-top", type=int, default=2, help="also try the mean of the best N (0: off)")
    p.add_argument("--metric", default="mase")
    p.add_argument("--prior", action="store_true",
                   help="two passes: rank candidates by backtest across the panel (training weeks only), then "
                        "select with that panel prior")
    p.add_argument("--out", default=None, help="also write the report (markdown) here")
    args = p.parse_args(argv)
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    panel = load_panel(args.rda)
    groups = [(encode_key(s, i), g) for (s, i), g in panel.groupby(["store_id", "item_id"], sort=True)]
    groups = groups[: args.limit] if args.limit else groups
    candidates = [c for c in args.candidates.split(",") if c]
    t = time.perf_counter()
    with ProcessPoolExecutor(args.workers) as pool:
        settings = {"n_folds": args.folds, "combine_top": args.combine_top, "metric": args.metric}
        prior = None
        if args.prior:
            first = pool.map(evaluate, [(k, g, candidates, args.freq, settings, None, True) for k, g in groups],
                             chunksize=8)
            prior = panel_ranking([rs[0]["candidate_metrics"] for rs in first], args.metric)
            print(f"panel prior (backtest {args.metric}, best first): {prior}")
        results = list(pool.map(evaluate, [(k, g, candidates, args.freq, settings, prior, False) for k, g in groups],
                                chunksize=8))
    elapsed = time.perf_counter() - t
    rows = pd.DataFrame([r for rs in results for r in rs]).drop(columns=["candidate_metrics"], errors="ignore")
    text = report(rows, elapsed, len(groups), args.workers)
    print(text)
    if args.out:
        with open(args.out, "w") as f:
            f.write(text + "\n")


if __name__ == "__main__":
    main()
