"""Train one series: backtest the candidates, pick the best by a metric, refit it, serialise it.

:func:`train_series` is the one entry point. It never raises for a bad series: a series with
too little history gets the cold-start forecaster (status ``cold_start``), and one where
everything fails comes back with status ``failed`` and the reason, so its siblings go on.
"""
from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from manymodels_assets.forecasting import metrics as m
from manymodels_assets.forecasting.backtest import BacktestResult, backtest, fold_windows
from manymodels_assets.forecasting.candidates import CANDIDATES, COLD_START, describe, fit_predict
from manymodels_assets.forecasting.intervals import conformal_halfwidth, leave_fold_out_coverage
from manymodels_assets.forecasting.serialization import FORMAT, dump_model

SELECTION_METRICS = ("mase", "wape", "smape", "mae", "rmse", "mape")
DEFAULT_SEASON_LENGTH = {"D": 7, "W": 52, "M": 12, "MS": 12, "Q": 4, "H": 24, "h": 24}

STATUS_OK = "ok"
STATUS_COLD_START = "cold_start"
STATUS_FAILED = "failed"


def default_horizon(freq: str) -> int:
    """28 days for daily data, 12 periods otherwise (12 weeks, 12 months, ...)."""
    return 28 if freq.upper().startswith("D") else 12


def default_season_length(freq: str) -> int:
    base = freq.split("-")[0]
    return DEFAULT_SEASON_LENGTH.get(base, DEFAULT_SEASON_LENGTH.get(base.upper(), 1))


@dataclass(frozen=True)
class TrainingConfig:
    candidates: tuple[str, ...] = ("seasonal_naive", "ets", "theta")
    metric: str = "mase"
    n_folds: int = 3
    horizon: int | None = None  # None: default_horizon(freq)
    season_length: int | None = None  # None: default_season_length(freq)
    interval_level: float = 0.95
    min_train_seasons: int = 2  # a fold needs this many seasons (and one horizon) of training

    def __post_init__(self):
        unknown = [c for c in self.candidates if c not in CANDIDATES]
        if unknown:
            raise ValueError(f"unknown candidates {unknown}; known: {sorted(CANDIDATES)}")
        if not self.candidates:
            raise ValueError("at least one candidate is needed")
        if self.metric not in SELECTION_METRICS:
            raise ValueError(f"metric {self.metric!r} not in {SELECTION_METRICS}")
        if self.n_folds < 1:
            raise ValueError("n_folds must be >= 1")
        if not 0 < self.interval_level < 1:
            raise ValueError("interval_level must be in (0, 1)")

    def resolved(self, freq: str) -> tuple[int, int]:
        """(horizon, season_length) for data of frequency ``freq``."""
        return (self.horizon or default_horizon(freq), self.season_length or default_season_length(freq))


MODEL_COLUMNS: dict[str, str] = {
    # column -> Spark DDL type; the model set's schema. ``model`` is the serialised forecaster.
    "key": "string",
    "store_id": "string",
    "item_id": "string",
    "status": "string",
    "forecaster": "string",
    "params": "string",
    "n_obs": "int",
    "n_folds": "int",
    "first_date": "date",
    "last_date": "date",
    "freq": "string",
    "season_length": "int",
    "horizon": "int",
    "mae": "double",
    "rmse": "double",
    "mape": "double",
    "smape": "double",
    "wape": "double",
    "mase": "double",
    "interval_level": "double",
    "interval_halfwidth": "double",
    "interval_coverage": "double",
    "candidate_metrics": "string",
    "data_version": "string",
    "fit_seconds": "double",
    "error": "string",
    "model_format": "string",
    "model": "binary",
}


def data_version(values: np.ndarray, dates: pd.Series) -> str:
    """Content hash of one series; equal series give equal versions."""
    h = hashlib.sha256(np.ascontiguousarray(values, dtype=np.float64).tobytes())
    h.update(pd.to_datetime(dates).to_numpy(dtype="datetime64[D]").astype("int64").tobytes())
    return h.hexdigest()[:16]


def _to_sktime(dates: pd.Series, values: np.ndarray, freq: str) -> pd.Series:
    index = pd.PeriodIndex(pd.to_datetime(dates), freq=freq)
    return pd.Series(values, index=index, dtype=float)


def _summarise(result: BacktestResult, season_length: int) -> dict[str, float]:
    actual = np.concatenate(result.actual)
    forecast = np.concatenate(result.forecast)
    summary = m.point_metrics(actual, forecast, result.history[-1], season_length)
    fold_mase = [m.mase(a, f, h, season_length) for a, f, h in zip(result.actual, result.forecast, result.history)]
    summary["mase"] = float(np.nanmean(fold_mase)) if np.isfinite(fold_mase).any() else np.nan
    return summary


def _rank_value(summary: dict[str, float], metric: str) -> tuple[float, float]:
    # Lower is better; a NaN metric (e.g. MASE of a constant history) ranks by MAE instead.
    primary = summary.get(metric, np.nan)
    return (primary if np.isfinite(primary) else np.inf, summary.get("mae", np.inf))


def _finite(x: float) -> float | None:
    return float(x) if x is not None and np.isfinite(x) else None


def train_series(key: str, store_id: str, item_id: str, history: pd.DataFrame, freq: str,
                 config: TrainingConfig) -> dict[str, Any]:
    """Train one series. ``history`` has columns ``date`` and ``units``, regular at ``freq``.

    Returns one model-set row (see :data:`MODEL_COLUMNS`).
    """
    started = time.perf_counter()
    history = history.sort_values("date")
    values = history["units"].to_numpy(dtype=float)
    horizon, season_length = config.resolved(freq)
    row: dict[str, Any] = {c: None for c in MODEL_COLUMNS}
    row.update(key=key, store_id=store_id, item_id=item_id, freq=freq, horizon=horizon,
               season_length=season_length, n_obs=int(values.size), n_folds=0,
               interval_level=config.interval_level, model_format=FORMAT,
               data_version=data_version(values, history["date"]))
    if values.size == 0:
        row.update(status=STATUS_FAILED, error="series has no observations",
                   fit_seconds=time.perf_counter() - started)
        return row
    row.update(first_date=pd.Timestamp(history["date"].iloc[0]).date(),
               last_date=pd.Timestamp(history["date"].iloc[-1]).date())
    y = _to_sktime(history["date"], values, freq)

    min_train = max(config.min_train_seasons * season_length, horizon, 2)
    folds = fold_windows(values.size, horizon, config.n_folds, min_train)
    summaries: dict[str, dict] = {}
    results: dict[str, BacktestResult] = {}
    for name in config.candidates if folds else ():
        try:
            results[name] = backtest(name, y, folds, season_length)
            summaries[name] = _summarise(results[name], season_length)
        except Exception as exc:  # one candidate failing must not fail the series
            summaries[name] = {"error": f"{type(exc).__name__}: {exc}"[:500]}

    ranked = sorted(results, key=lambda n: _rank_value(summaries[n], config.metric))
    errors = []
    for name in ranked:
        try:
            fitted, _ = fit_predict(name, y, horizon, season_length)
        except Exception as exc:
            errors.append(f"refit {name}: {type(exc).__name__}: {exc}")
            continue
        fold_errors = [a - f for a, f in zip(results[name].actual, results[name].forecast)]
        row.update(
            status=STATUS_OK, forecaster=name, n_folds=len(folds),
            params=json.dumps(describe(fitted)), model=dump_model(fitted),
            interval_halfwidth=_finite(conformal_halfwidth(np.abs(results[name].errors), config.interval_level)),
            interval_coverage=_finite(leave_fold_out_coverage(fold_errors, config.interval_level)),
            **{k: _finite(v) for k, v in summaries[name].items()},
        )
        break
    else:
        if folds:
            reason = "; ".join(errors) or "every candidate failed its backtest"
        else:
            reason = f"{values.size} observations, fewer than {min_train + horizon} needed to backtest"
        row.update(_cold_start(y, horizon, season_length, config.interval_level, reason))
    row["candidate_metrics"] = json.dumps({k: {kk: _finite(vv) if not isinstance(vv, str) else vv
                                               for kk, vv in v.items()} for k, v in summaries.items()})
    row["fit_seconds"] = time.perf_counter() - started
    return row


def _cold_start(y: pd.Series, horizon: int, season_length: int, level: float, reason: str | None) -> dict:
    try:
        fitted, _ = fit_predict(COLD_START, y, horizon, season_length)
    except Exception as exc:
        return {"status": STATUS_FAILED, "error": f"cold start failed: {type(exc).__name__}: {exc}; {reason}"}
    recent = y.to_numpy()[-max(season_length, 1):]
    # No backtest to calibrate on: a normal-theory interval from the recent spread.
    z = {0.8: 1.2816, 0.9: 1.6449, 0.95: 1.96, 0.99: 2.5758}.get(round(level, 2), 1.96)
    spread = float(np.std(recent)) if recent.size > 1 else float(abs(recent[-1]))
    return {"status": STATUS_COLD_START, "forecaster": COLD_START, "params": json.dumps(describe(fitted)),
            "model": dump_model(fitted), "interval_halfwidth": z * spread, "error": reason}
