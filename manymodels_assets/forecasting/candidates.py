"""Candidate forecasters, all through sktime's forecaster interface: the one model contract.

A candidate is a factory ``Spec -> sktime forecaster``; the factory sees the training length
so a model can step down (no seasonal term) when the history is shorter than two seasons
instead of failing. Candidates with ``uses_calendar`` are fit on price and promotion
regressors and need the planned calendar of the forecast horizon. :func:`fit_predict` is how
every candidate is fit and forecast, in the backtest, the refit and the tests alike.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from manymodels_assets.forecasting.quiet import muted_fit_notes, quiet_forecasting


@dataclass(frozen=True)
class Spec:
    """What a candidate's factory sees of the series it is about to fit."""
    season_length: int
    n_obs: int  # training points (after the candidate's window)
    freq: str = "D"


@dataclass(frozen=True)
class Candidate:
    factory: Callable[[Spec], Any]
    uses_calendar: bool = False
    description: str = ""
    window_seasons: int | None = None
    """Fit on at most this many of the latest seasons (None: all): the automatic model families
    cost time in proportion to the history, and a year of daily data says as much about this
    week's level and weekday pattern as three."""
    pooled: bool = False
    """Fit across the series of a group (forecasting.pooled); alone it is a group of one."""


def _seasonal(spec: Spec) -> bool:
    return spec.season_length > 1 and spec.n_obs >= 2 * spec.season_length


def _sp(spec: Spec) -> int:
    """The season length a model can estimate from this history (1 when shorter than two seasons)."""
    return spec.season_length if _seasonal(spec) else 1


def _naive(spec: Spec):
    from manymodels_assets.forecasting.forecasters import SeasonalLast

    return SeasonalLast(sp=1)


def _seasonal_naive(spec: Spec):
    from manymodels_assets.forecasting.forecasters import SeasonalLast

    return SeasonalLast(sp=spec.season_length if spec.n_obs >= spec.season_length else 1)


def _ets(spec: Spec):
    from sktime.forecasting.exp_smoothing import ExponentialSmoothing

    if _seasonal(spec):
        return ExponentialSmoothing(trend=None, seasonal="add", sp=spec.season_length)
    return ExponentialSmoothing(trend=None, seasonal=None)


def _theta(spec: Spec):
    from sktime.forecasting.theta import ThetaForecaster

    # Additive deseasonalisation: the multiplicative default raises on series with zeros.
    if _seasonal(spec):
        return ThetaForecaster(sp=spec.season_length, deseasonalize_model="additive")
    return ThetaForecaster(deseasonalize=False)


def _croston(spec: Spec):
    from sktime.forecasting.croston import Croston

    return Croston(smoothing=0.1)


def _tsb(spec: Spec):
    from sktime.forecasting.tsb import TSB

    return TSB(alpha=0.1, beta=0.1)


def _regression(spec: Spec):
    from manymodels_assets.forecasting.forecasters import LogRidge

    # log1p target: price and promotion effects are multiplicative in retail sales.
    return LogRidge(alpha=1.0)


def _regression_ar(spec: Spec):
    from manymodels_assets.forecasting.forecasters import LogRidge

    return LogRidge(alpha=1.0, ar1=True)


def _dynamic_regression(spec: Spec):
    from sktime.forecasting.compose import TransformedTargetForecaster
    from sktime.forecasting.sarimax import SARIMAX
    from sktime.transformations.series.boxcox import LogTransformer

    # Regression with AR(1) errors: follows level shifts that a static regression misses.
    return TransformedTargetForecaster([("log1p", LogTransformer(offset=1)),
                                        ("sarimax", SARIMAX(order=(1, 0, 0), trend="c"))])


def _auto_ets(spec: Spec):
    from sktime.forecasting.statsforecast import StatsForecastAutoETS

    # statsforecast chooses error, trend (damped or not) and season (additive or multiplicative)
    # by AICc; like R's ets it drops the season when it is longer than 24 periods (weekly data).
    return StatsForecastAutoETS(season_length=_sp(spec))


def _auto_theta(spec: Spec):
    from sktime.forecasting.statsforecast import StatsForecastAutoTheta

    # statsforecast tests for seasonality and falls back to an additive decomposition on zeros.
    return StatsForecastAutoTheta(season_length=_sp(spec))


def _auto_arima(spec: Spec):
    from sktime.forecasting.statsforecast import StatsForecastAutoARIMA

    return StatsForecastAutoARIMA(sp=_sp(spec))


_LONGER_SEASONS = {"D": (365,), "h": (168,)}  # a year of days, a week of hours


def _mstl(spec: Spec):
    from sktime.forecasting.statsforecast import StatsForecastMSTL

    # Several seasons at once (for daily data: the week and the year), each only when the
    # history covers it twice; the trend is forecast by a non-seasonal AutoETS.
    seasons = [s for s in (spec.season_length, *_LONGER_SEASONS.get(spec.freq, ())) if 1 < s and 2 * s <= spec.n_obs]
    return StatsForecastMSTL(season_length=seasons) if seasons else _auto_ets(spec)


def _fixed(spec: Spec, values=None):
    from manymodels_assets.forecasting.forecasters import FixedForecast

    return FixedForecast(values)


def _window_mean(spec: Spec):
    from manymodels_assets.forecasting.forecasters import SeasonalMean

    return SeasonalMean(sp=1, window=max(1, min(spec.n_obs, spec.season_length)))


def _season_mean(spec: Spec):
    from manymodels_assets.forecasting.forecasters import SeasonalMean

    return SeasonalMean(sp=spec.season_length, window=4 * spec.season_length)


CANDIDATES: dict[str, Candidate] = {
    "naive": Candidate(_naive, description="last value"),
    "seasonal_naive": Candidate(_seasonal_naive, description="value one season ago"),
    "ets": Candidate(_ets, description="exponential smoothing, additive season (statsmodels)"),
    "theta": Candidate(_theta, description="Theta, additive deseasonalisation"),
    "croston": Candidate(_croston, description="Croston's method for intermittent demand"),
    "tsb": Candidate(_tsb, description="Teunter-Syntetos-Babai for intermittent and dying demand"),
    "regression": Candidate(_regression, uses_calendar=True,
                            description="log1p(units) ~ log price + promotion (+ weekday), ridge"),
    "regression_ar": Candidate(_regression_ar, uses_calendar=True,
                               description="the regression with AR(1) errors in two steps (ridge, then its residuals)"),
    "dynamic_regression": Candidate(
        _dynamic_regression, uses_calendar=True,
        description="log1p(units) ~ price + promotion with AR(1) errors (statsmodels SARIMAX)"),
    "auto_ets": Candidate(_auto_ets, window_seasons=52,
                          description="ETS chosen by AICc: trend, damping, multiplicative season (statsforecast)"),
    "auto_theta": Candidate(_auto_theta, window_seasons=52,
                            description="Theta variants chosen by fit, seasonality tested (statsforecast)"),
    "auto_arima": Candidate(_auto_arima, window_seasons=52, description="seasonal ARIMA by stepwise AICc (statsforecast)"),
    "mstl": Candidate(_mstl, description="MSTL: weekly and yearly seasons of daily data, AutoETS trend (statsforecast)"),
    "pooled": Candidate(_fixed, pooled=True,
                        description="LightGBM over the series of a group: lags, calendar, price, promotion"),
    "pooled_ar": Candidate(_fixed, pooled=True,
                           description="linear autoregression over the series of a group: up to five seasons of log sales"),
}
"""Candidates a deployment can pick from by name (``TrainingConfig.candidates``)."""

WINDOW_MEAN = "window_mean"
"""The mean of the last season: the model of last resort (a cold start with no item profile, or
the fallback of a series whose candidates all failed). It cannot fail on finite data."""
ITEM_PROFILE = "item_profile"
"""A cold start's model: its item's average across stores, scaled to this store."""
ZERO = "zero"
"""An inactive series' model: its last value, which is zero (no sales for seasons)."""

_STAND_INS = {WINDOW_MEAN: Candidate(_window_mean), ITEM_PROFILE: Candidate(_season_mean), ZERO: Candidate(_naive)}


def get(name: str) -> Candidate:
    try:
        return CANDIDATES.get(name) or _STAND_INS[name]
    except KeyError:
        raise ValueError(f"unknown forecaster {name!r}; known: {sorted(CANDIDATES)}") from None


def fit_predict(name: str, y: pd.Series, horizon: int, season_length: int,
                X: pd.DataFrame | None = None, X_calendar: pd.DataFrame | None = None,
                pooled: dict | None = None):
    """Fit candidate ``name`` on ``y`` (and ``X``) and return (fitted forecaster, forecast).

    ``pooled``: backtests of pooled candidates made across the series' group; a pooled
    candidate serves their ``future`` forecast, or without them is fit on this series alone.
    """
    candidate = get(name)
    if candidate.pooled:
        return _fit(lambda: candidate.factory(Spec(season_length, len(y)), _pooled_future(name, y, horizon,
                                                                                           season_length, pooled)),
                    False, y, horizon, None, None)
    if candidate.window_seasons and len(y) > candidate.window_seasons * season_length:
        start = len(y) - candidate.window_seasons * season_length
        y, X = y.iloc[start:], (X.iloc[start:] if X is not None else None)
    spec = Spec(season_length, len(y), _base(y))
    return _fit(lambda: candidate.factory(spec), candidate.uses_calendar, y, horizon, X, X_calendar)


def _pooled_future(name: str, y: pd.Series, horizon: int, season_length: int, pooled: dict | None) -> np.ndarray:
    precomputed = (pooled or {}).get(name)
    if precomputed is not None and precomputed.future is not None:
        return precomputed.future
    from manymodels_assets.forecasting.pooled import GroupSeries, backtest_group

    return backtest_group([GroupSeries("alone", y)], horizon, season_length, 0, 0, learner=name)["alone"].future


def _base(y: pd.Series) -> str:
    """The base period of the series' index (``D``, ``W``, ``M``, ``h``...), for seasons beyond the first."""
    from manymodels_assets.forecasting.frequency import calendar_unit

    if not isinstance(y.index, pd.PeriodIndex):
        return ""
    n, base = calendar_unit(y.index.freqstr)
    return base if n == 1 else ""  # a year of 2-day periods is no whole number of them


ENSEMBLE = "ensemble"
"""A weighted mean of candidates: the series' best few, or weights learned across the panel."""


def fit_predict_ensemble(members: list[str], y: pd.Series, horizon: int, season_length: int,
                         X: pd.DataFrame | None = None, X_calendar: pd.DataFrame | None = None,
                         weights: list[float] | None = None, pooled: dict | None = None):
    """Fit the weighted mean of ``members`` (equal weights by default), each member exactly as
    it is fit alone (its own window, its own regressors), and forecast."""
    from manymodels_assets.forecasting.forecasters import Combination

    uses_calendar = [get(m).uses_calendar for m in members]
    weights = list(weights) if weights is not None else [1.0 / len(members)] * len(members)

    def make():
        parts = []
        for name in members:
            candidate = get(name)
            window = candidate.window_seasons * season_length if candidate.window_seasons else 0
            n_obs = min(len(y), window) if window else len(y)
            spec = Spec(season_length, n_obs, _base(y))
            parts.append((name, candidate.factory(spec, _pooled_future(name, y, horizon, season_length, pooled))
                          if candidate.pooled else candidate.factory(spec), window))
        return Combination(parts, weights, uses_calendar)

    return _fit(make, any(uses_calendar), y, horizon, X, X_calendar)


def _fit(make, uses_calendar: bool, y, horizon, X, X_calendar):
    quiet_forecasting()
    forecaster = make()
    fh = np.arange(1, horizon + 1)
    with muted_fit_notes():
        if uses_calendar:
            forecaster.fit(y, X=X, fh=fh)
            prediction = forecaster.predict(X=X_calendar)
        else:
            forecaster.fit(y, fh=fh)
            prediction = forecaster.predict()
    prediction = np.asarray(prediction, dtype=float).ravel()
    if not np.isfinite(prediction).all():  # an overflowing fit must not reach a forecast table
        raise FloatingPointError(f"the forecast has {int((~np.isfinite(prediction)).sum())} non-finite value(s)")
    return forecaster, prediction


def describe(forecaster) -> dict[str, Any]:
    """The forecaster's constructor parameters, JSON-friendly."""
    return {k: v if isinstance(v, (int, float, str, bool, type(None))) else repr(v)
            for k, v in forecaster.get_params(deep=False).items()}
