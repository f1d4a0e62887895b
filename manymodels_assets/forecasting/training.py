"""Train one series: backtest the candidates, pick the best by a metric, refit it, serialise it.

:func:`train_series` is the one entry point. It never raises for a bad series: a series too
short to backtest gets a cold-start model, one whose candidates all fail gets the fallback
model, and one where even that fails comes back ``failed`` with the reason, so its siblings go on.
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
from manymodels_assets.forecasting.candidates import CANDIDATES, ENSEMBLE, describe, fit_predict, fit_predict_ensemble
from manymodels_assets.forecasting.cold_start import stand_in
from manymodels_assets.forecasting.config import TrainingConfig
from manymodels_assets.forecasting.selection import ensemble_backtest, ranked, selection_order
from manymodels_assets.forecasting.serialization import FORMAT, dump_model, dump_regressors
from manymodels_assets.forecasting.series import data_version
from manymodels_assets.schemas import MODEL_SET


def train_series(key: str, store_id: str, item_id: str, history: pd.DataFrame, freq: str,
                 config: TrainingConfig, calendar: pd.DataFrame | None = None,
                 item_profile: pd.Series | None = None, prior: list[str] | None = None) -> dict[str, Any]:
    """Train one series and return its model-set row (the columns of :data:`schemas.MODEL_SET`;
    ``model_set`` is left for the caller to fill).

    history: columns ``date``, ``units`` and, when known, ``price``, ``promo``; regular at ``freq``.
    calendar: the planned ``price``/``promo`` for the periods after the history (a candidate that
        uses it is skipped, with the reason recorded, when it does not cover the horizon).
    item_profile: the item's average units per period across stores (indexed by date), used
        as the cold start of a series too short to backtest.
    prior: candidates ranked by their backtest accuracy across the panel (e.g. from the previous
        training run); see :func:`selection.selection_order`.
    """
    started = time.perf_counter()
    history = history.sort_values("date").reset_index(drop=True)
    values = history["units"].to_numpy(dtype=float)
    horizon, season_length = config.resolved(freq)
    row: dict[str, Any] = dict.fromkeys(MODEL_SET.names)
    row.update(key=key, store_id=store_id, item_id=item_id, freq=freq, horizon=horizon,
               season_length=season_length, n_obs=int(values.size), n_folds=0,
               interval_level=config.interval_level, model_format=FORMAT,
               data_version=data_version(values, history["date"]),
               trained_at=dt.datetime.now(dt.timezone.utc).replace(tzinfo=None, microsecond=0))
    if values.size == 0:
        row.update(status=status.FAILED, error="series has no observations", fit_seconds=time.perf_counter() - started)
        return row
    row.update(first_date=pd.Timestamp(history["date"].iloc[0]).date(),
               last_date=pd.Timestamp(history["date"].iloc[-1]).date())
    y = pd.Series(values, index=pd.PeriodIndex(pd.to_datetime(history["date"]), freq=freq), dtype=float)
    X, X_calendar, calendar_note = history_and_calendar_regressors(history, calendar, y.index[-1], horizon, freq)

    folds = fold_windows(values.size, horizon, config.n_folds, config.min_train or 2 * horizon)
    summaries: dict[str, dict] = {}  # every candidate: metrics, or why it was skipped or failed
    results: dict[str, BacktestResult] = {}
    for name in config.candidates if folds else ():
        if CANDIDATES[name].uses_calendar and X_calendar is None:
            summaries[name] = {"skipped": calendar_note}
            continue
        try:
            results[name] = backtest(name, y, folds, season_length, X)
        except Exception as exc:  # noqa: BLE001 - one candidate failing must not fail the series
            summaries[name] = {"error": f"{type(exc).__name__}: {exc}"[:500]}
            continue
        summaries[name] = evaluate(results[name], season_length, config.interval_level, config.interval_scale)
    members: list[str] = []
    if config.combine_top >= 2 and len(results) >= 2:
        members = ranked({n: summaries[n] for n in results}, config.metric)[: config.combine_top]
        results[ENSEMBLE] = ensemble_backtest(results, members)
        summaries[ENSEMBLE] = {**evaluate(results[ENSEMBLE], season_length, config.interval_level,
                                          config.interval_scale), "members": "+".join(members)}

    errors = []
    order = selection_order({n: summaries[n] for n in results}, config.metric,
                            prior if config.use_panel_prior else None, config.prior_margin)
    for name in order:
        uses_calendar = any(CANDIDATES[n].uses_calendar for n in (members if name == ENSEMBLE else [name]))
        X_fit, X_future = (X, X_calendar) if uses_calendar else (None, None)
        try:
            if name == ENSEMBLE:
                fitted, _ = fit_predict_ensemble(members, y, horizon, season_length, X_fit, X_future)
            else:
                fitted, _ = fit_predict(name, y, horizon, season_length, X_fit, X_future)
        except Exception as exc:  # noqa: BLE001 - try the next best candidate
            errors.append(f"refit {name}: {type(exc).__name__}: {exc}")
            continue
        r = results[name]
        row.update(
            status=status.OK, forecaster=name, n_folds=len(folds), params=json.dumps(describe(fitted)),
            model=dump_model(fitted), calendar_regressors=dump_regressors(X_calendar) if uses_calendar else None,
            backtest=json.dumps({"starts": [str(y.index[f.train_end]) for f in r.folds],
                                 "forecast": [np.round(f, 4).tolist() for f in r.forecast]}),
            interval_scale=config.interval_scale,
            **{k: _finite(v) for k, v in summaries[name].items() if k != "members"},
        )
        break
    else:
        if folds:
            failures = errors + [f"{n}: {s['error']}" for n, s in summaries.items() if "error" in s]
            row.update(stand_in(y, horizon, season_length, config.interval_level, status.FALLBACK,
                                "every candidate failed", item_profile))
            row["error"] = "; ".join(failures)[:2000] or None
        else:
            reason = f"{values.size} observations, fewer than {config.min_history(freq)} needed to backtest"
            row.update(stand_in(y, horizon, season_length, config.interval_level, status.COLD_START, reason,
                                item_profile))
    row["candidate_metrics"] = json.dumps({k: {kk: (vv if isinstance(vv, str) else _finite(vv))
                                               for kk, vv in v.items()} for k, v in summaries.items()})
    row["fit_seconds"] = time.perf_counter() - started
    return row


def _finite(x) -> float | None:
    return float(x) if x is not None and np.isfinite(x) else None
