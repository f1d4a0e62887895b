"""The pooled (global) candidates: one model over the series of a group.

- ``pooled``: one gradient-boosted model per group on lags, calendar, price and promotion, the
  way M5 was won. It is *direct*: every lag is at least one horizon old, so one model forecasts
  all ``horizon`` steps from what is known at the origin, without feeding its own forecasts
  back. Each series is divided by its own recent mean level, so a big store and a small one
  share the same patterns.
- ``pooled_ar``: one linear autoregression per group (:mod:`forecasting.pooled_ar`).

:func:`backtest_group` fits the group model once per backtest fold and once on the whole
histories, and returns per series a :class:`BacktestResult` whose ``future`` is the forecast
after the history. :func:`training.train_series` slots those results in beside the other
candidates' backtests; the chosen refit is a :class:`forecasters.FixedForecast` of ``future``.
A fold trains only on periods before the earliest origin in the group, so no series' later
periods inform another series' backtest.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from manymodels_assets.forecasting.backtest import BacktestResult, fold_windows

if TYPE_CHECKING:
    from manymodels_assets.forecasting.pooled_ar import ARSettings

POOLED = "pooled"
POOLED_AR = "pooled_ar"
LEARNERS = (POOLED, POOLED_AR)
"""The pooled candidates' names (``candidates.CANDIDATES`` marks them ``pooled``)."""


@dataclass(frozen=True)
class GroupSeries:
    """One series of a group: its history and, when known, regressors of the history and of the
    horizon after it (the columns of calendar.regressors)."""
    key: str
    y: pd.Series  # PeriodIndex
    X: pd.DataFrame | None = None
    X_calendar: pd.DataFrame | None = None


@dataclass(frozen=True)
class GBMSettings:
    """Small and fast on purpose: 60 trees of 15 leaves on 63 bins cost 19 ms per daily series
    (3 folds and the final fit) and forecast the generated daily panel better than 100 trees of
    31 leaves on 255 bins at 40 ms (MASE 0.824 vs 0.819 alone, 0.810 vs 0.808 in the
    combination; benchmarks, docs/accuracy.md)."""
    n_estimators: int = 60
    learning_rate: float = 0.12
    num_leaves: int = 15
    min_child_samples: int = 20
    max_bin: int = 63
    objective: str = "l2"
    seed: int = 0
    recent_seasons: int | None = None  # train on each series' last this many seasons (None: all)
    subsample: float = 1.0


def _lags(horizon: int, season_length: int) -> list[int]:
    """The horizon-old lags: the seven just beyond the horizon, and the season's two nearest."""
    seasonal = -(-horizon // season_length) * season_length if season_length > 1 else horizon
    return sorted({*(horizon + j for j in range(min(7, max(season_length, 1)))), seasonal, seasonal + season_length})


def _calendar(index: pd.PeriodIndex) -> np.ndarray:
    base = index.freqstr.lstrip("0123456789")[:1].upper()
    start = index.start_time
    columns = [start.month.to_numpy()]
    if base in ("D", "H"):
        columns.append(start.dayofweek.to_numpy())
    if base in ("D", "W", "H"):
        columns.append(start.isocalendar().week.to_numpy(dtype=int))
    return np.column_stack(columns).astype(float)


def _series_features(s: GroupSeries, horizon: int, season_length: int, regressors: list[str]):
    """(features of every period of the history and of the horizon after it, which columns are
    in units of sales). Each row only looks at sales at least ``horizon`` periods older, so one
    matrix serves every fold: a fold's rows never see past their origin."""
    values = s.y.to_numpy(dtype=float)
    rows = np.arange(len(values) + horizon)
    padded = np.concatenate([values, np.full(horizon, np.nan)])
    cums = np.concatenate([[0.0], np.cumsum(values)])
    columns = [np.where(rows >= lag, padded[np.maximum(rows - lag, 0)], np.nan) for lag in _lags(horizon, season_length)]
    for window in (max(season_length, 1), 4 * max(season_length, 1)):
        end = np.clip(rows - horizon + 1, 0, len(values))
        begin = np.maximum(end - window, 0)
        columns.append(np.where(end > begin, (cums[end] - cums[begin]) / np.maximum(end - begin, 1), np.nan))
    units = len(columns)
    columns.append((rows % max(season_length, 1)).astype(float))
    parts = [np.column_stack(columns), _calendar(_extend(s.y.index, horizon))]
    if regressors:
        parts.append(np.vstack([s.X[regressors].to_numpy(dtype=float),
                                s.X_calendar[regressors].to_numpy(dtype=float)[:horizon]]))
    features = np.hstack(parts)
    return features, np.arange(features.shape[1]) < units


def _extend(index: pd.PeriodIndex, horizon: int) -> pd.PeriodIndex:
    return index.append(pd.period_range(index[-1] + 1, periods=horizon, freq=index.freq))


def _fit_predict_fold(series: list[GroupSeries], features: list, origins: list[int], horizon: int,
                      season_length: int, settings: GBMSettings) -> list[np.ndarray]:
    """Fit on every series' periods before the group's earliest origin date; forecast each series'
    ``horizon`` periods from its own origin. Sales are divided by each series' level at its origin."""
    import lightgbm as lgb

    first_row = horizon  # the longer lags of early rows are missing, which the trees handle
    cut = min(s.y.index[o - 1].end_time for s, o in zip(series, origins))
    X_train, y_train, X_pred, scales = [], [], [], []
    for s, (F, units), origin in zip(series, features, origins):
        values = s.y.to_numpy(dtype=float)
        scale = float(np.mean(values[max(0, origin - 4 * max(season_length, 1)):origin])) or 1.0
        scales.append(scale)
        divisor = np.where(units, scale, 1.0)
        end = int(np.searchsorted(s.y.index[:origin].end_time, cut, side="right"))
        recent = settings.recent_seasons * max(season_length, 1) if settings.recent_seasons else end
        rows = np.arange(max(first_row, end - recent), end)
        if rows.size:
            X_train.append(F[rows] / divisor)
            y_train.append(values[rows] / scale)
        X_pred.append(F[origin: origin + horizon] / divisor)
    if not X_train:
        raise ValueError(f"no series of the group is longer than {first_row} periods")
    model = lgb.LGBMRegressor(n_estimators=settings.n_estimators, learning_rate=settings.learning_rate,
                              num_leaves=settings.num_leaves, min_child_samples=settings.min_child_samples,
                              max_bin=settings.max_bin, objective=settings.objective, random_state=settings.seed,
                              n_jobs=1, verbose=-1, force_col_wise=True,
                              subsample=settings.subsample, subsample_freq=1 if settings.subsample < 1 else 0)
    model.fit(np.vstack(X_train), np.concatenate(y_train))
    predictions = model.predict(np.vstack(X_pred)).reshape(len(series), horizon)
    return [np.clip(p, 0, None) * scale for p, scale in zip(predictions, scales)]


def backtest_group(series: list[GroupSeries], horizon: int, season_length: int, n_folds: int, min_train: int,
                   settings: GBMSettings | ARSettings | None = None,
                   learner: str = POOLED) -> dict[str, BacktestResult]:
    """Per series key: the pooled candidate's backtest over the series' own folds (as
    :func:`backtest.fold_windows` lays them) with ``future``, its forecast after the history.

    ``learner``: ``POOLED`` (LightGBM) or ``POOLED_AR`` (linear autoregression). The LightGBM
    uses price and promotion when every series of the group has them for its history and its
    horizon; otherwise it does without them (never an assumed calendar).
    """
    if learner not in LEARNERS:
        raise ValueError(f"unknown pooled learner {learner!r}; known: {LEARNERS}")
    if learner == POOLED_AR:
        from manymodels_assets.forecasting import pooled_ar

        settings = settings or pooled_ar.ARSettings()

        def fit_predict(members, origins):
            return pooled_ar.fit_predict(members, origins, horizon, season_length, settings)
    else:
        settings = settings or GBMSettings()
        shared = [c for c in ("log_price", "promo")
                  if all(s.X is not None and s.X_calendar is not None and c in s.X and c in s.X_calendar
                         for s in series)]
        features = {s.key: _series_features(s, horizon, season_length, shared) for s in series}

        def fit_predict(members, origins):
            return _fit_predict_fold(members, [features[s.key] for s in members], origins, horizon, season_length,
                                     settings)
    folds = {s.key: fold_windows(len(s.y), horizon, n_folds, min_train) for s in series}
    results = {s.key: BacktestResult(learner, season_length=season_length) for s in series}
    for back in range(n_folds, 0, -1):  # oldest fold first, as fold_windows orders them
        members = [(s, f) for s in series for f in folds[s.key] if f.test_end == len(s.y) - (back - 1) * horizon]
        if not members:
            continue
        forecasts = fit_predict([s for s, _ in members], [f.train_end for _, f in members])
        for (s, fold), forecast in zip(members, forecasts):
            values = s.y.to_numpy(dtype=float)
            r = results[s.key]
            r.folds.append(fold)
            r.actual.append(values[fold.train_end: fold.test_end])
            r.forecast.append(forecast)
            r.history.append(values[: fold.train_end])
    futures = fit_predict(series, [len(s.y) for s in series])
    for s, future in zip(series, futures):
        results[s.key].future = future
    return results


def to_payload(result: BacktestResult) -> str:
    """A series' pooled backtest and forecast as JSON, to travel from its group's Spark task to
    its own training task."""
    import json

    return json.dumps(_payload(result))


def _payload(result: BacktestResult) -> dict:
    return {"folds": [[f.train_end, f.test_end] for f in result.folds],
            "forecast": [np.round(f, 6).tolist() for f in result.forecast],
            "future": None if result.future is None else np.round(result.future, 6).tolist()}


def from_payload(payload: str, y: pd.Series, season_length: int, name: str = POOLED) -> BacktestResult:
    """The :class:`BacktestResult` of :func:`to_payload`, with actuals and histories from ``y``."""
    import json

    from manymodels_assets.forecasting.backtest import Fold

    d = json.loads(payload)
    if "error" in d:
        raise RuntimeError(d["error"])
    values = y.to_numpy(dtype=float)
    folds = [Fold(a, b) for a, b in d["folds"]]
    return BacktestResult(name, folds=folds, actual=[values[f.train_end: f.test_end] for f in folds],
                          forecast=[np.asarray(f, dtype=float) for f in d["forecast"]],
                          history=[values[: f.train_end] for f in folds], season_length=season_length,
                          future=None if d["future"] is None else np.asarray(d["future"], dtype=float))


def unpack(payloads: str) -> dict[str, str]:
    """A series' pooled payloads as :func:`group_payloads` writes them (one JSON object for all of
    its pooled candidates), by candidate, each as :func:`from_payload` reads it."""
    import json

    return {name: json.dumps(p) for name, p in json.loads(payloads).items()}


def group_payloads(rows: pd.DataFrame, config, freq: str) -> pd.DataFrame:
    """key, pooled payloads (one JSON object by candidate, see :func:`unpack`) of the pooled
    candidates ``config`` trains at ``freq``, for every series of one group. ``rows``: key, date,
    units, price, promo and ``is_calendar`` (True for the planned calendar's rows after the
    history). A group model that cannot be fit gives each of its series the reason, recorded like
    any candidate's failure."""
    import json

    from manymodels_assets.forecasting.calendar import history_and_calendar_regressors
    from manymodels_assets.forecasting.frequency import normalize_freq, period_index

    freq = normalize_freq(freq)
    horizon, season_length = config.resolved(freq)
    window = config.history_window(freq)  # the same latest periods as the series' own candidates
    series = []
    for key, g in rows.groupby("key", sort=True):
        g = g.sort_values("date")
        is_calendar = g["is_calendar"].astype(bool)
        history, future = g[~is_calendar], g[is_calendar][["date", "price", "promo"]]
        if window and len(history) > window:
            history = history.iloc[-window:]
        if history.empty:
            continue
        y = pd.Series(history["units"].to_numpy(dtype=float), index=period_index(history["date"], freq))
        X, X_calendar, _ = history_and_calendar_regressors(history, future if len(future) else None, y.index[-1],
                                                         horizon, freq)
        series.append(GroupSeries(str(key), y, X, X_calendar))
    by_series: dict[str, dict] = {s.key: {} for s in series}
    for learner in [c for c in config.candidates_for(freq) if c in LEARNERS]:
        try:
            results = backtest_group(series, horizon, season_length, config.n_folds, config.min_train or 2 * horizon,
                                     learner=learner)
            for s in series:
                by_series[s.key][learner] = _payload(results[s.key])
        except Exception as exc:  # noqa: BLE001 - one group model failing must not fail the other or the run
            for s in series:
                by_series[s.key][learner] = {"error": f"{learner} group model: {type(exc).__name__}: {exc}"[:500]}
    return pd.DataFrame({"key": list(by_series), "pooled": [json.dumps(p) for p in by_series.values()]})
