"""Score one series with its fitted model: a horizon-step point forecast and interval."""
from __future__ import annotations

import warnings
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from manymodels_assets.forecasting.frequency import period_start
from manymodels_assets.forecasting.intervals import bounds
from manymodels_assets.forecasting.serialization import load_model, load_regressors
from manymodels_assets.schemas import FORECASTS

FORECAST_ROW = FORECASTS.without("production_version", "scored_at")
"""What :func:`forecast_series` returns; the scoring run adds which production version served it, and when."""


def forecast_series(model_row: Mapping[str, Any], horizon: int, non_negative: bool = True) -> pd.DataFrame:
    """Forecast ``horizon`` steps after the series' last date from its model-set row.

    Sales cannot be negative, so with ``non_negative`` forecasts and bounds are clipped at 0.
    A model on the planned calendar forecasts only as far as the calendar it was trained with
    reaches (its training horizon), and a direct one (the pooled candidate, a cold start's
    profile) as far as it was trained to.
    """
    model = load_model(model_row["model"])
    calendar = model_row.get("calendar_regressors")
    horizon = min(horizon, getattr(model, "max_horizon_", None) or horizon)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # sktime 1.2 warns on every clone about remember_data
        if calendar:
            X = load_regressors(calendar, model_row["freq"])
            horizon = min(horizon, len(X))
            fh = np.arange(1, horizon + 1)
            yhat = np.asarray(model.predict(fh=fh, X=X.iloc[:horizon]), dtype=float)
        else:
            fh = np.arange(1, horizon + 1)
            yhat = np.asarray(model.predict(fh=fh), dtype=float)
    lower, upper = bounds(yhat, float(model_row.get("interval_halfwidth") or 0.0),
                          model_row.get("interval_scale") or "additive")
    if non_negative:
        yhat, lower, upper = (np.clip(a, 0, None) for a in (yhat, lower, upper))
    last = pd.Period(pd.Timestamp(model_row["last_date"]), freq=model_row["freq"])
    dates = [period_start((last + int(s)).start_time, model_row["freq"]) for s in fh]
    return pd.DataFrame({
        "key": model_row["key"], "store_id": model_row["store_id"], "item_id": model_row["item_id"],
        "forecast_date": dates, "step": fh.astype("int32"), "yhat": yhat, "yhat_lower": lower,
        "yhat_upper": upper, "forecaster": model_row["forecaster"], "status": model_row.get("status"),
        "model_set": model_row.get("model_set"),
    })[FORECAST_ROW.names]
