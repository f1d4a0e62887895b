"""Score one series with its fitted model: a horizon-step point forecast and interval."""
from __future__ import annotations

import warnings
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from manymodels_assets.forecasting.intervals import bounds
from manymodels_assets.forecasting.serialization import load_model
from manymodels_assets.forecasting.training import drivers_frame

FORECAST_COLUMNS: dict[str, str] = {
    "key": "string",
    "store_id": "string",
    "item_id": "string",
    "forecast_date": "date",
    "step": "int",
    "yhat": "double",
    "yhat_lower": "double",
    "yhat_upper": "double",
    "forecaster": "string",
    "cold_start": "boolean",
    "model_set": "string",
}


def forecast_series(model_row: Mapping[str, Any], horizon: int, non_negative: bool = True) -> pd.DataFrame:
    """Forecast ``horizon`` steps after the series' last date from its model-set row.

    Sales cannot be negative, so with ``non_negative`` forecasts and bounds are clipped at 0.
    A model on price and promotion forecasts only as far as its planned calendar reaches.
    """
    model = load_model(model_row["model"])
    drivers = model_row.get("future_drivers")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # sktime 1.2 warns on every clone about remember_data
        if drivers:
            X = drivers_frame(drivers, model_row["freq"])
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
    dates = [(last + int(s)).start_time.date() for s in fh]
    return pd.DataFrame({
        "key": model_row["key"], "store_id": model_row["store_id"], "item_id": model_row["item_id"],
        "forecast_date": dates, "step": fh.astype("int32"), "yhat": yhat, "yhat_lower": lower,
        "yhat_upper": upper, "forecaster": model_row["forecaster"],
        "cold_start": model_row.get("status") == "cold_start", "model_set": model_row.get("model_set"),
    })
