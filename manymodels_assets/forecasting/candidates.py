"""Candidate forecasters, all through sktime's forecaster interface.

A candidate is a name and a factory ``(season_length, n_obs) -> sktime forecaster``; the
factory sees the training length so a model can step down (no seasonal term) when the
history is shorter than two seasons instead of failing.
"""
from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

Factory = Callable[[int, int], Any]


def _quiet(forecaster):
    # remember_data=False keeps the fitted object (and so the model set) smaller; it also
    # silences sktime 1.2's per-constructor FutureWarning that would flood executor logs.
    forecaster.set_config(remember_data=False)
    return forecaster


def _seasonal(season_length: int, n_obs: int) -> bool:
    return season_length > 1 and n_obs >= 2 * season_length


def _naive(season_length: int, n_obs: int):
    from sktime.forecasting.naive import NaiveForecaster

    return _quiet(NaiveForecaster(strategy="last"))


def _seasonal_naive(season_length: int, n_obs: int):
    from sktime.forecasting.naive import NaiveForecaster

    sp = season_length if n_obs >= season_length else 1
    return _quiet(NaiveForecaster(strategy="last", sp=sp))


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


def _window_mean(season_length: int, n_obs: int):
    from sktime.forecasting.naive import NaiveForecaster

    return _quiet(NaiveForecaster(strategy="mean", window_length=max(1, min(n_obs, season_length))))


CANDIDATES: dict[str, Factory] = {
    "naive": _naive,
    "seasonal_naive": _seasonal_naive,
    "ets": _ets,
    "theta": _theta,
}
"""Candidates a deployment can pick from by name (``TrainingConfig.candidates``)."""

COLD_START = "window_mean"
"""The forecaster for series too short to backtest: the mean of the last season."""

_ALL: dict[str, Factory] = {**CANDIDATES, COLD_START: _window_mean}


def make_forecaster(name: str, season_length: int, n_obs: int):
    try:
        factory = _ALL[name]
    except KeyError:
        raise ValueError(f"unknown forecaster {name!r}; known: {sorted(_ALL)}") from None
    return factory(season_length, n_obs)


def fit_predict(name: str, y: pd.Series, horizon: int, season_length: int):
    """Fit candidate ``name`` on ``y`` and return (fitted forecaster, horizon-step forecast)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        forecaster = make_forecaster(name, season_length, len(y))
        forecaster.fit(y, fh=np.arange(1, horizon + 1))
        prediction = forecaster.predict()
    return forecaster, np.asarray(prediction, dtype=float)


def describe(forecaster) -> dict[str, Any]:
    """The forecaster's constructor parameters, JSON-friendly."""
    return {k: v if isinstance(v, (int, float, str, bool, type(None))) else repr(v)
            for k, v in forecaster.get_params(deep=False).items()}
