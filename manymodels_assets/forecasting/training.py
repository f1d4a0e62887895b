"""Train one series: backtest the candidates, pick the best by a metric, refit it, serialise it.

:func:`train_series` is the one entry point. It never raises for a bad series: a series with
too little history gets a cold-start model (status ``cold_start``: its item's profile across
stores scaled to this store, or the mean of its last season), and one where everything fails
comes back with status ``failed`` and the reason, so its siblings go on.
"""
from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass
from statistics import NormalDist
from typing import Any

import numpy as np
import pandas as pd

from manymodels_assets.forecasting import metrics as m
from manymodels_assets.forecasting.backtest import BacktestResult, backtest, fold_windows
from manymodels_assets.forecasting.candidates import (CANDIDATES, COLD_START, ENSEMBLE, ITEM_PROFILE, describe,
                                                     fit_predict, fit_predict_ensemble)
from manymodels_assets.forecasting.features import design, has_drivers, reference_price
from manymodels_assets.forecasting import intervals
from manymodels_assets.forecasting.serialization import FORMAT, dump_model

SELECTION_METRICS = ("mase", "wape", "smape", "mae", "rmse", "mape")
DEFAULT_SEASON_LENGTH = {"D": 7, "W": 52, "M": 12, "MS": 12, "Q": 4, "H": 24}

STATUS_OK = "ok"
STATUS_COLD_START = "cold_start"
STATUS_FAILED = "failed"


def default_horizon(freq: str) -> int:
    """28 days for daily data, 12 periods otherwise (12 weeks, 12 months, ...)."""
    return 28 if freq.upper().startswith("D") else 12


def default_season_length(freq: str) -> int:
    return DEFAULT_SEASON_LENGTH.get(freq.split("-")[0].upper(), 1)


@dataclass(frozen=True)
class TrainingConfig:
    candidates: tuple[str, ...] = ("seasonal_naive", "ets", "theta", "tsb", "regression")
    metric: str = "mase"
    n_folds: int = 3
    horizon: int | None = None  # None: default_horizon(freq)
    season_length: int | None = None  # None: default_season_length(freq)
    interval_level: float = 0.95
    interval_scale: str = "log"  # conformal on log1p errors ("log") or plain errors ("additive")
    combine_top: int = 2  # also try the mean of the best N candidates; 0 or 1: off
    prior_margin: float = 0.1  # with a panel prior: leave the panel's choice only when >= 10% better
    min_train: int | None = None  # points a fold trains on at least; None: two horizons

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
        if self.interval_scale not in ("log", "additive"):
            raise ValueError("interval_scale must be 'log' or 'additive'")

    def resolved(self, freq: str) -> tuple[int, int]:
        """(horizon, season_length) for data of frequency ``freq``."""
        return (self.horizon or default_horizon(freq), self.season_length or default_season_length(freq))

    def min_history(self, freq: str) -> int:
        """Fewest points a series needs for one backtest fold; shorter series are cold starts."""
        horizon, _ = self.resolved(freq)
        return (self.min_train or 2 * horizon) + horizon


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
    "interval_scale": "string",
    "interval_halfwidth": "double",
    "interval_width": "double",
    "interval_coverage": "double",
    "candidate_metrics": "string",
    "backtest": "string",
    "future_drivers": "string",
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


def _periods(dates, freq: str) -> pd.PeriodIndex:
    return pd.PeriodIndex(pd.to_datetime(dates), freq=freq)


def _summarise(result: BacktestResult, season_length: int, level: float, scale: str) -> dict[str, float]:
    actual = np.concatenate(result.actual)
    forecast = np.concatenate(result.forecast)
    summary = m.point_metrics(actual, forecast, result.history[-1], season_length)
    fold_mase = [m.mase(a, f, h, season_length) for a, f, h in zip(result.actual, result.forecast, result.history)]
    summary["mase"] = float(np.nanmean(fold_mase)) if np.isfinite(fold_mase).any() else np.nan
    fold_errors = [intervals.transform(a, scale) - intervals.transform(f, scale)
                   for a, f in zip(result.actual, result.forecast)]
    halfwidth = intervals.conformal_halfwidth(np.abs(np.concatenate(fold_errors)), level)
    lower, upper = intervals.bounds(forecast, halfwidth, scale)
    summary["interval_halfwidth"] = halfwidth
    summary["interval_width"] = m.interval_width(lower, upper)
    summary["interval_coverage"] = intervals.leave_fold_out_coverage(fold_errors, level)
    return summary


def _selection_order(results: dict, summaries: dict, config: TrainingConfig, prior: list[str] | None) -> list[str]:
    order = sorted(results, key=lambda n: _rank_value(summaries[n], config.metric))
    default = next((p for p in prior or () if p in results), None)
    if default is None or not order or order[0] == default:
        return order
    best, panel = _rank_value(summaries[order[0]], config.metric)[0], _rank_value(summaries[default], config.metric)[0]
    if np.isfinite(panel) and best > (1 - config.prior_margin) * panel:
        order.remove(default)
        order.insert(0, default)
    return order


def _ensemble(results: dict[str, BacktestResult], members: list[str]) -> BacktestResult:
    """Backtest of the members' mean, from the members' own out-of-sample fold forecasts."""
    first = results[members[0]]
    return BacktestResult(ENSEMBLE, folds=first.folds, actual=first.actual, history=first.history,
                          forecast=[np.mean(f, axis=0) for f in zip(*(results[m].forecast for m in members))])


def _rank_value(summary: dict[str, float], metric: str) -> tuple[float, float]:
    # Lower is better; a NaN metric (e.g. MASE of a constant history) ranks by MAE instead.
    primary = summary.get(metric, np.nan)
    return (primary if np.isfinite(primary) else np.inf, summary.get("mae", np.inf))


def _finite(x) -> float | None:
    return float(x) if x is not None and np.isfinite(x) else None


def _json_frame(X: pd.DataFrame) -> str:
    return json.dumps({"periods": [str(p) for p in X.index], "columns": list(X.columns),
                       "values": X.to_numpy(dtype=float).round(8).tolist()})


def drivers_frame(payload: str, freq: str) -> pd.DataFrame:
    """The future regressors stored with a model (inverse of the training side's encoding)."""
    d = json.loads(payload)
    return pd.DataFrame(d["values"], columns=d["columns"], index=pd.PeriodIndex(d["periods"], freq=freq))


def train_series(key: str, store_id: str, item_id: str, history: pd.DataFrame, freq: str,
                 config: TrainingConfig, plan: pd.DataFrame | None = None,
                 item_profile: pd.Series | None = None, prior: list[str] | None = None) -> dict[str, Any]:
    """Train one series and return its model-set row (see :data:`MODEL_COLUMNS`).

    history: columns ``date``, ``units`` and, when known, ``price``, ``promo``; regular at ``freq``.
    plan: the planned ``price``/``promo`` for the periods after the history (the regression
        candidate is skipped, with the reason recorded, when it does not cover the horizon).
    item_profile: the item's average units per period across stores (indexed by date), used
        as the cold start of a series too short to backtest.
    prior: candidates ranked by their backtest accuracy across the panel (e.g. from the previous
        training run). The series keeps the best-ranked one it could backtest unless its own
        best candidate beats it by ``config.prior_margin``: a few folds of one series are weak
        evidence against what the whole panel shows.
    """
    started = time.perf_counter()
    history = history.sort_values("date").reset_index(drop=True)
    values = history["units"].to_numpy(dtype=float)
    horizon, season_length = config.resolved(freq)
    row: dict[str, Any] = {c: None for c in MODEL_COLUMNS}
    row.update(key=key, store_id=store_id, item_id=item_id, freq=freq, horizon=horizon,
               season_length=season_length, n_obs=int(values.size), n_folds=0,
               interval_level=config.interval_level, model_format=FORMAT,
               data_version=data_version(values, history["date"]))
    if values.size == 0:
        row.update(status=STATUS_FAILED, error="series has no observations", fit_seconds=time.perf_counter() - started)
        return row
    row.update(first_date=pd.Timestamp(history["date"].iloc[0]).date(),
               last_date=pd.Timestamp(history["date"].iloc[-1]).date())
    y = pd.Series(values, index=_periods(history["date"], freq), dtype=float)
    X, X_future, driver_note = _drivers(history, plan, y.index[-1], horizon, freq)

    folds = fold_windows(values.size, horizon, config.n_folds, config.min_train or 2 * horizon)
    summaries: dict[str, dict] = {}
    results: dict[str, BacktestResult] = {}
    for name in config.candidates if folds else ():
        if CANDIDATES[name].uses_drivers and X_future is None:
            summaries[name] = {"skipped": driver_note}
            continue
        try:
            results[name] = backtest(name, y, folds, season_length, X)
            summaries[name] = _summarise(results[name], season_length, config.interval_level, config.interval_scale)
        except Exception as exc:  # one candidate failing must not fail the series
            summaries[name] = {"error": f"{type(exc).__name__}: {exc}"[:500]}
    members: list[str] = []
    if config.combine_top >= 2 and len(results) >= 2:
        members = sorted(results, key=lambda n: _rank_value(summaries[n], config.metric))[: config.combine_top]
        results[ENSEMBLE] = _ensemble(results, members)
        summaries[ENSEMBLE] = {**_summarise(results[ENSEMBLE], season_length, config.interval_level,
                                            config.interval_scale), "members": "+".join(members)}

    errors = []
    for name in _selection_order(results, summaries, config, prior):
        names = members if name == ENSEMBLE else [name]
        uses_drivers = any(CANDIDATES[n].uses_drivers for n in names)
        try:
            if name == ENSEMBLE:
                fitted, _ = fit_predict_ensemble(members, y, horizon, season_length, X if uses_drivers else None,
                                                 X_future if uses_drivers else None)
            else:
                fitted, _ = fit_predict(name, y, horizon, season_length, X if uses_drivers else None,
                                        X_future if uses_drivers else None)
        except Exception as exc:
            errors.append(f"refit {name}: {type(exc).__name__}: {exc}")
            continue
        r = results[name]
        row.update(
            status=STATUS_OK, forecaster=name, n_folds=len(folds), params=json.dumps(describe(fitted)),
            model=dump_model(fitted), future_drivers=_json_frame(X_future) if uses_drivers else None,
            backtest=json.dumps({"starts": [str(y.index[f.train_end]) for f in r.folds],
                                 "forecast": [np.round(f, 4).tolist() for f in r.forecast]}),
            interval_scale=config.interval_scale,
            **{k: _finite(v) for k, v in summaries[name].items() if k != "members"},
        )
        break
    else:
        if folds:
            reason = "; ".join(errors) or "every candidate failed its backtest"
        else:
            reason = f"{values.size} observations, fewer than {config.min_history(freq)} needed to backtest"
        row.update(_cold_start(y, horizon, season_length, config.interval_level, reason, item_profile))
        row["interval_scale"] = "additive"  # cold-start spread is on the units scale
    row["candidate_metrics"] = json.dumps({k: {kk: (vv if isinstance(vv, str) else _finite(vv))
                                               for kk, vv in v.items()} for k, v in summaries.items()})
    row["fit_seconds"] = time.perf_counter() - started
    return row


def _drivers(history: pd.DataFrame, plan: pd.DataFrame | None, last: pd.Period, horizon: int, freq: str):
    """(X for the history, X for the horizon, note): the future X is None when not usable."""
    if not has_drivers(history):
        return None, None, "no price or promotion data in the history"
    ref = reference_price(history)
    X = design(history, freq, ref)
    if plan is None or plan.empty:
        return X, None, "no planned price/promotion calendar"
    plan = plan.assign(date=pd.to_datetime(plan["date"])).sort_values("date")
    wanted = pd.period_range(last + 1, periods=horizon, freq=freq)
    plan = plan[_periods(plan["date"], freq).isin(wanted)]
    if len(plan) < horizon:
        return X, None, (f"the planned price/promotion calendar covers {len(plan)} of the {horizon} periods "
                         f"after {last}")
    X_future = design(plan, freq, ref)
    return X, X_future[X.columns], ""


def _cold_start(y: pd.Series, horizon: int, season_length: int, level: float, reason: str,
                item_profile: pd.Series | None) -> dict:
    """The item's profile across stores scaled to this store; else the mean of the last season.

    No backtest to calibrate on: a normal-theory interval from the spread of what is known.
    """
    z = NormalDist().inv_cdf((1 + level) / 2)
    synthetic, residual = _scaled_profile(y, item_profile)
    if synthetic is not None:
        name, history = ITEM_PROFILE, synthetic
        note = "forecast from the item's profile across stores, scaled to this store"
        spread = float(np.std(residual)) if residual.size > 1 else float(np.mean(np.abs(y.to_numpy())))
    else:
        recent = y.to_numpy()[-max(season_length, 1):]
        name, history, note = COLD_START, y, "no item profile: mean of the last season"
        spread = float(np.std(recent)) if recent.size > 1 else float(abs(recent[-1]))
    try:
        fitted, _ = fit_predict(name, history, horizon, season_length)
    except Exception as exc:
        return {"status": STATUS_FAILED, "error": f"cold start failed: {type(exc).__name__}: {exc}; {reason}"}
    return {"status": STATUS_COLD_START, "forecaster": name, "params": json.dumps(describe(fitted)),
            "model": dump_model(fitted), "interval_halfwidth": z * spread, "interval_width": 2 * z * spread,
            "error": f"{reason}; {note}"}


def _scaled_profile(y: pd.Series, profile: pd.Series | None):
    """(item profile scaled to this store and ending where y ends, residuals on the overlap) or (None, None)."""
    if profile is None or len(profile) == 0:
        return None, None
    prof = pd.Series(profile.to_numpy(dtype=float), index=_periods(profile.index, y.index.freqstr)).sort_index()
    prof = prof[~prof.index.duplicated()]
    if prof.index[-1] != y.index[-1]:
        return None, None
    overlap = prof.reindex(y.index)
    ok = overlap.notna().to_numpy()
    denominator = float(overlap[ok].sum())
    if not ok.any() or denominator <= 0:
        return None, None
    scale = float(y[ok].sum()) / denominator
    return prof * scale, (y[ok] - overlap[ok] * scale).to_numpy()


def panel_ranking(candidate_metrics: list[str], metric: str = "mase") -> list[str]:
    """Candidates ordered by their mean backtest ``metric`` across many series (best first),
    from the model set's ``candidate_metrics`` column; the prior for the next training."""
    scores: dict[str, list[float]] = {}
    for payload in candidate_metrics:
        for name, values in json.loads(payload or "{}").items():
            value = values.get(metric)
            if isinstance(value, (int, float)) and np.isfinite(value):
                scores.setdefault(name, []).append(float(value))
    return sorted(scores, key=lambda n: float(np.mean(scores[n])))
