"""Candidate forecasters, all through sktime's forecaster interface.

A candidate is a factory ``(season_length, n_obs) -> sktime forecaster``; the factory sees
the training length so a model can step down (no seasonal term) when the history is shorter
than two seasons instead of failing. Candidates with ``uses_calendar`` are fit on price and
promotion regressors and need the planned calendar of the forecast horizon.
"""
from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd


@dataclass(frozen=True)
class Candidate:
    factory: Callable[[int, int], Any]
    uses_calendar: bool = False
    description: str = ""


def _quiet(forecaster):
    # remember_data=False keeps the fitted object (and so the model set) smaller.
    forecaster.set_config(remember_data=False)
    return forecaster


def _seasonal(season_length: int, n_obs: int) -> bool:
    return season_length > 1 and n_obs >= 2 * season_length


def _naive(season_length: int, n_obs: int):
    from sktime.forecasting.naive import NaiveForecaster

    return _quiet(NaiveForecaster(strategy="last"))


def _seasonal_naive(season_length: int, n_obs: int):
    from sktime.forecasting.naive import NaiveForecaster

    return _quiet(NaiveForecaster(strategy="last", sp=season_length if n_obs >= season_length else 1))


def _ets(season_length: int, n_obs: int):
    from sktime.forecasting.exp_smoothing import ExponentialSmoothing

    if _seasonal(season_length, n_obs):
        return _quiet(ExponentialSmoothing(trend=None, seasonal="add", sp=season_length))
    return _quiet(ExponentialSmoothing(trend=None, seasonal=None))


def _theta(season_length: int, n_obs: int):
    from sktime.forecasting.theta import ThetaForecaster

    # Additive deseasonalisation: the multiplicative default raises on series with zeros.
    if _seasonal(season_length, n_obs):
        return _quiet(ThetaForecaster(sp=season_length, deseasonalize_model="additive"))
    return _quiet(ThetaForecaster(deseasonalize=False))


def _croston(season_length: int, n_obs: int):
    from sktime.forecasting.croston import Croston

    return _quiet(Croston(smoothing=0.1))


def _tsb(season_length: int, n_obs: int):
    from sktime.forecasting.tsb import TSB

    return _quiet(TSB(alpha=0.1, beta=0.1))


def _regression(season_length: int, n_obs: int):
    from sklearn.linear_model import Ridge
    from sktime.forecasting.compose import TransformedTargetForecaster, YfromX
    from sktime.transformations.series.boxcox import LogTransformer

    # log1p target: price and promotion effects are multiplicative in retail sales.
    return _quiet(TransformedTargetForecaster([("log1p", LogTransformer(offset=1)),
                                               ("ridge", YfromX(Ridge(alpha=1.0)))]))


def _dynamic_regression(season_length: int, n_obs: int):
    from sktime.forecasting.compose import TransformedTargetForecaster
    from sktime.forecasting.sarimax import SARIMAX
    from sktime.transformations.series.boxcox import LogTransformer

    # Regression with AR(1) errors: follows level shifts that a static regression misses.
    return _quiet(TransformedTargetForecaster([("log1p", LogTransformer(offset=1)),
                                               ("sarimax", SARIMAX(order=(1, 0, 0), trend="c"))]))


def _window_mean(season_length: int, n_obs: int):
    from sktime.forecasting.naive import NaiveForecaster

    return _quiet(NaiveForecaster(strategy="mean", window_length=max(1, min(n_obs, season_length))))


def _season_mean(season_length: int, n_obs: int):
    from sktime.forecasting.naive import NaiveForecaster

    sp = season_length if n_obs >= season_length else 1
    return _quiet(NaiveForecaster(strategy="mean", sp=sp, window_length=max(sp, min(n_obs, 4 * sp))))


CANDIDATES: dict[str, Candidate] = {
    "naive": Candidate(_naive, description="last value"),
    "seasonal_naive": Candidate(_seasonal_naive, description="value one season ago"),
    "ets": Candidate(_ets, description="exponential smoothing, additive season (statsmodels)"),
    "theta": Candidate(_theta, description="Theta, additive deseasonalisation"),
    "croston": Candidate(_croston, description="Croston's method for intermittent demand"),
    "tsb": Candidate(_tsb, description="Teunter-Syntetos-Babai for intermittent and dying demand"),
    "regression": Candidate(_regression, uses_calendar=True,
                            description="log1p(units) ~ log price + promotion (+ weekday), ridge"),
    "dynamic_regression": Candidate(
        _dynamic_regression, uses_calendar=True,
        description="log1p(units) ~ price + promotion with AR(1) errors (statsmodels SARIMAX)"),
}
"""Candidates a deployment can pick from by name (``TrainingConfig.candidates``)."""

WINDOW_MEAN = "window_mean"
"""The mean of the last season: the model of last resort (a cold start with no item profile, or
the fallback of a series whose candidates all failed). It cannot fail on finite data."""
ITEM_PROFILE = "item_profile"
"""A cold start's model: its item's average across stores, scaled to this store."""

_STAND_INS = {WINDOW_MEAN: Candidate(_window_mean), ITEM_PROFILE: Candidate(_season_mean)}


def get(name: str) -> Candidate:
    try:
        return CANDIDATES.get(name) or _STAND_INS[name]
    except KeyError:
        raise ValueError(f"unknown forecaster {name!r}; known: {sorted(CANDIDATES)}") from None


def fit_predict(name: str, y: pd.Series, horizon: int, season_length: int,
                X: pd.DataFrame | None = None, X_calendar: pd.DataFrame | None = None):
    """Fit candidate ``name`` on ``y`` (and ``X``) and return (fitted forecaster, forecast)."""
    candidate = get(name)
    return _fit(lambda: candidate.factory(season_length, len(y)), candidate.uses_calendar, y, horizon, X, X_calendar)


ENSEMBLE = "ensemble"
"""The mean of the best two candidates of a series' backtest (``TrainingConfig.combine_top``)."""


def fit_predict_ensemble(members: list[str], y: pd.Series, horizon: int, season_length: int,
                         X: pd.DataFrame | None = None, X_calendar: pd.DataFrame | None = None):
    """Fit the mean of ``members`` (sktime's EnsembleForecaster) and forecast."""
    from sktime.forecasting.compose import EnsembleForecaster

    def make():
        return _quiet(EnsembleForecaster([(m, get(m).factory(season_length, len(y))) for m in members],
                                         aggfunc="mean"))

    return _fit(make, any(get(m).uses_calendar for m in members), y, horizon, X, X_calendar)


def _fit(make, uses_calendar: bool, y, horizon, X, X_calendar):
    with warnings.catch_warnings():
        # sktime 1.2 warns about remember_data on every constructor and clone: it floods executor logs
        warnings.simplefilter("ignore")
        forecaster = make()
        fh = np.arange(1, horizon + 1)
        if uses_calendar:
            forecaster.fit(y, X=X, fh=fh)
            prediction = forecaster.predict(X=X_calendar)
        else:
            forecaster.fit(y, fh=fh)
            prediction = forecaster.predict()
    prediction = np.asarray(prediction, dtype=float)
    if not np.isfinite(prediction).all():  # an overflowing fit must not reach a forecast table
        raise FloatingPointError(f"the forecast has {int((~np.isfinite(prediction)).sum())} non-finite value(s)")
    return forecaster, prediction


def describe(forecaster) -> dict[str, Any]:
    """The forecaster's constructor parameters, JSON-friendly."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # sktime's repr of nested forecasters clones them
        return {k: v if isinstance(v, (int, float, str, bool, type(None))) else repr(v)
                for k, v in forecaster.get_params(deep=False).items()}
