"""What a late store feed costs when its missing days are taken for zero sales.

The generated daily panel (200 store-items, 3 years), the last 28 days held out. Each series is
trained three ways: on time; with its store's last ``--lag`` days not in yet and taken as zero
sales (what the series build did before late stores ended at their own last date); and ended at
its own last date, forecasting ``lag`` more steps. Scored by MASE on the held-out days every
variant reaches (the first 28 - lag), for the default candidates and for naive and seasonal
naive alone. Not a timed test: it prints its table.

    .venv/bin/python -m benchmarks.late_feeds --lag 2
"""
from __future__ import annotations

import argparse
from multiprocessing import Pool

import numpy as np
import pandas as pd

from benchmarks import panels
from manymodels_assets.forecasting import metrics
from manymodels_assets.forecasting.config import TrainingConfig
from manymodels_assets.forecasting.scoring import forecast_series
from manymodels_assets.forecasting.series import regularize
from manymodels_assets.forecasting.training import train_series

HORIZON, SEASON = 28, 7
CONFIGS = {"defaults": TrainingConfig(), "naive": TrainingConfig(candidates=("naive",)),
           "seasonal_naive": TrainingConfig(candidates=("seasonal_naive",))}


def _one(args) -> dict | None:
    key, frame, lag = args
    series = regularize(frame, "D", frame["date"].max(), fill="zero")[["date", "units"]]
    train, test = series.iloc[:-HORIZON], series["units"].to_numpy()[-HORIZON:]
    scale = metrics.seasonal_naive_scale(train["units"].to_numpy(), SEASON)
    if not np.isfinite(scale) or scale == 0:
        return None
    zero_filled = train.copy()
    zero_filled.loc[zero_filled.index[-lag:], "units"] = 0.0
    out = {}
    for name, config in CONFIGS.items():
        for variant, history, first in (("on time", train, 0), ("zero-filled", zero_filled, 0),
                                        ("own last date", train.iloc[:-lag], lag)):
            row = train_series(key, "store", "item", history, "D", config)
            forecast = forecast_series(row, HORIZON)["yhat"].to_numpy()[first:first + HORIZON - lag]
            out[(name, variant)] = float(np.mean(np.abs(test[:HORIZON - lag] - forecast)) / scale)
    return out


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lag", type=int, default=2, help="days of the store's feed not in yet")
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args(argv)
    panel = panels.generated_daily()
    jobs = [(f"{s}~{i}", g, args.lag) for (s, i), g in panel.frame.groupby(["store_id", "item_id"])]
    with Pool(args.workers) as pool:
        rows = [r for r in pool.map(_one, jobs, chunksize=8) if r]
    table = pd.DataFrame(rows)
    table.columns = pd.MultiIndex.from_tuples(table.columns)
    means = table.mean().unstack()[["on time", "zero-filled", "own last date"]]
    print(f"{len(table)} daily series, the store's last {args.lag} days not in yet; "
          f"mean MASE over the first {HORIZON - args.lag} held-out days")
    print(means.round(3).to_string())
    ratio = means["zero-filled"] / means["own last date"]
    print("zero-filled / own last date: " + ", ".join(f"{k} {v:.2f}x" for k, v in ratio.items()))


if __name__ == "__main__":
    main()
