"""What a model set says as a whole: its accuracy distribution, forecaster mix and data version."""
from __future__ import annotations

import hashlib

import numpy as np
import pandas as pd

from manymodels_assets.forecasting import status


def aggregate_metrics(summary: pd.DataFrame) -> dict[str, float]:
    """Run-level numbers of a model set (one row per series: status, metrics, fit_seconds)."""
    ok = summary[summary["status"] == status.OK]
    by_status = summary["status"].value_counts()
    out = {"series": float(len(summary)), **{f"series_{s}": float(n) for s, n in by_status.items()},
           "fit_seconds_total": float(summary["fit_seconds"].sum())}
    # A statistic no series has is left out, not NaN: a set of flat series has no MASE (its
    # seasonal-naive scale is zero) and no backtested coverage.
    for stat, columns in (("median", ("mase", "wape", "smape", "mae", "interval_coverage")), ("mean", ("mase", "wape"))):
        for m in columns:
            values = pd.to_numeric(ok[m], errors="coerce").dropna()
            if len(values):
                out[f"{stat}_{m}"] = float(getattr(values, stat)())
    return out


def accuracy_quantiles(summary: pd.DataFrame) -> pd.DataFrame:
    ok = summary[summary["status"] == status.OK]
    return ok[["mase", "wape", "smape"]].quantile([0.1, 0.25, 0.5, 0.75, 0.9]).rename_axis("quantile").reset_index()


def accuracy_by_forecaster(summary: pd.DataFrame) -> pd.DataFrame:
    return summary.groupby("forecaster").agg(
        series=("key", "size"), median_mase=("mase", "median"), median_wape=("wape", "median"),
        median_interval_coverage=("interval_coverage", "median")).reset_index()


def combined_data_version(summary: pd.DataFrame) -> str:
    """One hash over the data versions of every series in the set."""
    joined = "|".join(summary.sort_values("key")["data_version"].fillna("").tolist())
    return hashlib.sha256(joined.encode()).hexdigest()[:16]


def finite(value) -> float:
    return float(value) if value is not None and np.isfinite(value) else float("nan")
