"""Score one series with its fitted model: a horizon-step point forecast and interval."""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from manymodels_assets.forecasting.serialization import load_model

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
    "model_set": "string",
}


def forecast_series(model_row: Mapping[str, Any], horizon: int, non_negative: bool = True) -> pd.DataFrame:
    """Forecast ``horizon`` steps after the series' last date from its model-set row.

    Sales cannot be negative, so with ``non_negative`` forecasts and bounds are clipped at 0.
    """
    model = load_model(model_row["model"])
    fh = np.arange(1, horizon + 1)
    yhat = np.asarray(model.predict(fh=fh), dtype=float)
    width = float(model_row.get("interval_halfwidth") or 0.0)
    lower, upper = yhat - width, yhat + width
    if non_negative:
        yhat, lower, upper = (np.clip(a, 0, None) for a in (yhat, lower, upper))
    last = pd.Period(pd.Timestamp(model_row["last_date"]), freq=model_row["freq"])
    dates = [(last + int(s)).start_time.date() for s in fh]
    return pd.DataFrame({
        "key": model_row["key"], "store_id": model_row["store_id"], "item_id": model_row["item_id"],
        "forecast_date": dates, "step": fh.astype("int32"), "yhat": yhat, "yhat_lower": lower,
        "yhat_upper": upper, "forecaster": model_row["forecaster"], "model_set": model_row.get("model_set"),
    })
