"""Train one series: backtest the candidates, choose a forecaster (or a combination), refit it,
serialise it.

:func:`train_series` is the one entry point. It never raises for a bad series: a series that
stopped selling gets the flagged zero forecast (``inactive``), a series too short to backtest
a cold-start model, one whose candidates all fail the fallback model, and one where even that
fails comes back ``failed`` with the reason, so its siblings go on.
"""
from __future__ import annotations

import datetime as dt
import json
import time
from typing import Any

import numpy as np
import pandas as pd

from manymodels_assets.forecasting import status
from manymodels_assets.forecasting.backtest import BacktestResult, backtest, evaluate, fold_windows
from manymodels_assets.forecasting.calendar import history_and_calendar_regressors
from manymodels_assets.forecasting.candidates import ENSEMBLE, describe, fit_predict, fit_predict_ensemble, get
from manymodels_assets.forecasting.cold_start import ColdStartCalibration, stand_in
from manymodels_assets.forecasting.config import TrainingConfig
from manymodels_assets.forecasting.frequency import normalize_freq, period_index, period_start
from manymodels_assets.forecasting.panel import backtest_payload
from manymodels_assets.forecasting.pooled import from_payload
from manymodels_assets.forecasting.selection import Choice, PanelPrior, choose, combination_backtest, combination_for
from manymodels_assets.forecasting.serialization import FORMAT, dump_model, dump_regressors
from manymodels_assets.forecasting.series import data_version as _data_version
from manymodels_assets.schemas import MODEL_SET


def train_series(key: str, store_id: str, item_id: str, history: pd.DataFrame, freq: str,
                 config: TrainingConfig, calendar: pd.DataFrame | None = None,
                 item_profile: pd.Series | None = None, prior: PanelPrior | None = None,
                 pooled: dict[str, BacktestResult | str] | None = None,
                 cold_start: ColdStartCalibration | None = None, keep_backtests: bool = False,
                 data_version: str | None = None) -> dict[str, Any]:
    """Train one series and return its model-set row (the columns of :data:`schemas.MODEL_SET`;
    ``model_set`` is left for the caller to fill).

    history: columns ``date``, ``units`` and, when known, ``price``, ``promo``; regular at ``freq``.
    calendar: the planned ``price``/``promo`` for the periods after the history (a candidate that
        uses it is skipped, with the reason recorded, when it does not cover the horizon).
    item_profile: the item's average units per period across stores (indexed by date), used
        as the cold start of a series too short to backtest.
    prior: what the previous training run learned across its series (ranking, combination
        weights); see :func:`selection.choose`.
    pooled: backtests of pooled candidates, computed across the series' group (see
        :mod:`forecasting.pooled`; a result or its JSON payload), with the forecast after the
        history as ``future``.
    cold_start: interval calibration of cold starts, measured across the panel.
    keep_backtests: also return every candidate's backtest forecasts (``candidate_backtests``),
        which the run's panel prior is learned from (see :mod:`forecasting.panel`).
    data_version: the series' data version, when ``history`` is only its latest periods (it is
        computed from ``history`` otherwise).

    The series trains on its latest ``config.history_window(freq)`` periods (``n_obs`` and
    ``first_date`` are those of the window); its data version is that of the whole history.
    """
    started = time.perf_counter()
    freq, pooled = normalize_freq(freq), dict(pooled or {})
    prior = prior if prior is not None and prior.applies_to(freq) else None
    history = history.sort_values("date").reset_index(drop=True)
    data_version = data_version or _data_version(history["units"].to_numpy(dtype=float), history["date"])
    window = config.history_window(freq)
    if window and len(history) > window:
        history = history.iloc[-window:].reset_index(drop=True)
    values = history["units"].to_numpy(dtype=float)
    horizon, season_length = config.resolved(freq)
    row: dict[str, Any] = dict.fromkeys(MODEL_SET.names)
    row.update(key=key, store_id=store_id, item_id=item_id, freq=freq, horizon=horizon,
               season_length=season_length, n_obs=int(values.size), n_folds=0,
               interval_level=config.interval_level, model_format=FORMAT,
               data_version=data_version,
               trained_at=dt.datetime.now(dt.timezone.utc).replace(tzinfo=None, microsecond=0))
    if values.size == 0:
        row.update(status=status.FAILED, error="series has no observations", fit_seconds=time.perf_counter() - started)
        return row
    row.update(first_date=period_start(history["date"].iloc[0], freq),
               last_date=period_start(history["date"].iloc[-1], freq))
    y = pd.Series(values, index=period_index(history["date"], freq), dtype=float)

    quiet_periods = config.inactive_periods(freq)
    if quiet_periods and values.size >= quiet_periods and not values[-quiet_periods:].any():
        # stopped selling: no models are fit on its zeros; it trains again once sales return
        row.update(stand_in(y, horizon, season_length, config.interval_level, status.INACTIVE,
                            f"no sales in the last {quiet_periods} periods"))
        return _finish(row, {}, started)

    X, X_calendar, calendar_note = history_and_calendar_regressors(history, calendar, y.index[-1], horizon, freq)
    folds = fold_windows(values.size, horizon, config.n_folds, config.min_train or 2 * horizon)
    if not folds:
        reason = f"{values.size} observations, fewer than {config.min_history(freq)} needed to backtest"
        row.update(stand_in(y, horizon, season_length, config.interval_level, status.COLD_START, reason,
                            item_profile, cold_start))
        return _finish(row, {}, started)

    summaries: dict[str, dict] = {}  # every candidate: metrics, or why it was skipped or failed
    results: dict[str, BacktestResult] = {}
    for name in config.candidates_for(freq):
        if get(name).uses_calendar and X_calendar is None:
            summaries[name] = {"skipped": calendar_note}
            continue
        try:
            given = pooled.get(name)
            if isinstance(given, str):
                given = pooled[name] = from_payload(given, y, season_length, name)
            results[name] = given or backtest(name, y, folds, season_length, X)
        except Exception as exc:  # noqa: BLE001 - one candidate failing must not fail the series
            summaries[name] = {"error": f"{type(exc).__name__}: {exc}"[:500]}
            continue
        summaries[name] = evaluate(results[name], season_length, config.interval_level, config.interval_scale)

    if keep_backtests and results:
        row["candidate_backtests"] = backtest_payload(results)
    combination = combination_for({n: summaries[n] for n in results}, config, prior, values, season_length)
    if combination is not None and combination.members:
        results[ENSEMBLE] = combination_backtest(results, combination.members, combination.weights)
        summaries[ENSEMBLE] = {**evaluate(results[ENSEMBLE], season_length, config.interval_level,
                                          config.interval_scale), "members": _members(combination)}
    errors = []
    for choice in choose(summaries, config, prior, combination):
        try:
            fitted, uses_calendar = _refit(choice, y, horizon, season_length, X, X_calendar, pooled)
        except Exception as exc:  # noqa: BLE001 - try the next choice
            errors.append(f"refit {choice.name}: {type(exc).__name__}: {exc}")
            continue
        r = results[choice.name]
        row.update(
            status=status.OK, forecaster=choice.name, n_folds=len(folds), params=json.dumps(describe(fitted)),
            model=dump_model(fitted), calendar_regressors=dump_regressors(X_calendar) if uses_calendar else None,
            backtest=json.dumps({"starts": [str(y.index[f.train_end]) for f in r.folds],
                                 "forecast": [np.round(f, 4).tolist() for f in r.forecast]}),
            interval_scale=config.interval_scale, reason=choice.reason,
            **{k: _finite(v) for k, v in summaries[choice.name].items() if k != "members"},
        )
        break
    else:
        skipped = [f"{n} skipped: {s['skipped']}" for n, s in summaries.items() if "skipped" in s]
        failures = errors + [f"{n}: {s['error']}" for n, s in summaries.items() if "error" in s] + skipped
        row.update(stand_in(y, horizon, season_length, config.interval_level, status.FALLBACK,
                            "every candidate failed or was skipped" if skipped else "every candidate failed",
                            item_profile))
        row["error"] = "; ".join(failures)[:2000] or None
    return _finish(row, summaries, started)


def _refit(choice: Choice, y, horizon, season_length, X, X_calendar, pooled):
    """(fitted forecaster on the whole history, whether it forecasts from the planned calendar)."""
    members = choice.members or [choice.name]
    uses_calendar = any(get(m).uses_calendar for m in members)
    X_fit, X_calendar_fit = (X, X_calendar) if uses_calendar else (None, None)
    if choice.members:
        fitted, _ = fit_predict_ensemble(choice.members, y, horizon, season_length, X_fit, X_calendar_fit,
                                         weights=choice.weights, pooled=pooled)
    else:
        fitted, _ = fit_predict(choice.name, y, horizon, season_length, X_fit, X_calendar_fit, pooled=pooled)
    return fitted, uses_calendar


def _members(choice: Choice) -> str:
    return "+".join(f"{m}:{w:.2f}" for m, w in zip(choice.members, choice.weights))


def _finish(row: dict, summaries: dict, started: float) -> dict:
    row["candidate_metrics"] = json.dumps({k: {kk: (vv if isinstance(vv, str) else _finite(vv))
                                               for kk, vv in v.items()} for k, v in summaries.items()})
    row["fit_seconds"] = time.perf_counter() - started
    return row


def _finite(x) -> float | None:
    return float(x) if x is not None and np.isfinite(x) else None
