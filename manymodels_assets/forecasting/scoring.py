"""Score one series with its fitted model: a horizon-step point forecast and interval."""
from __future__ import annotations

import warnings
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from manymodels_assets.forecasting.frequency import period_index, period_start, split_freq
from manymodels_assets.forecasting.intervals import bounds
from manymodels_assets.forecasting.serialization import load_model, load_regressors
from manymodels_assets.schemas import FORECASTS

FORECAST_ROW = FORECASTS.without("production_version", "scored_at")
"""What :func:`forecast_series` returns; the scoring run adds which production version served it, and when."""


def forecast_window(model_row: Mapping[str, Any], horizon: int, series_end=None, panel_end=None) -> tuple[int, int]:
    """The steps (counted from the model's last date) to forecast: (first, last).

    By default the ``horizon`` periods after the model's last date. ``series_end``, the series'
    newest date, is later when promotion kept a production model trained some periods ago: the
    forecast starts after it, a model's older forecasts of periods whose sales are in being no
    forecast anyone needs. ``panel_end``, the newest date of the panel, is later for a late
    store's series: it is forecast through the same periods as the others, ``horizon`` periods
    past the panel's newest.
    """
    freq = model_row["freq"]
    n = split_freq(freq)[0]
    trained, data, panel = period_index([pd.Timestamp(model_row["last_date"]),
                                         pd.Timestamp(series_end if series_end is not None else model_row["last_date"]),
                                         pd.Timestamp(panel_end if panel_end is not None else model_row["last_date"])],
                                        freq).asi8
    start = max(trained, data)
    return (start - trained) // n + 1, (max(panel, start) - trained) // n + horizon


def forecast_series(model_row: Mapping[str, Any], horizon: int, non_negative: bool = True, series_end=None,
                    panel_end=None) -> pd.DataFrame:
    """Forecast ``horizon`` steps after the series' last date from its model-set row (after its
    newest data, through ``horizon`` periods past the panel's newest: see :func:`forecast_window`).

    Sales cannot be negative, so with ``non_negative`` forecasts and bounds are clipped at 0.
    A model on the planned calendar forecasts only as far as the calendar it was trained with
    reaches (its training horizon), and a direct one (the pooled candidate, a cold start's
    profile) as far as it was trained to.
    """
    first, last = forecast_window(model_row, horizon, series_end, panel_end)
    model = load_model(model_row["model"])
    calendar = model_row.get("calendar_regressors")
    X = load_regressors(calendar, model_row["freq"]) if calendar else None
    last = min(last, getattr(model, "max_horizon_", None) or last, last if X is None else len(X))
    fh = np.arange(1, last + 1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # sktime 1.2 warns on every clone about remember_data
        yhat = np.asarray(model.predict(fh=fh, X=None if X is None else X.iloc[:last]), dtype=float)
    lower, upper = bounds(yhat, float(model_row.get("interval_halfwidth") or 0.0),
                          model_row.get("interval_scale") or "additive")
    if non_negative:
        yhat, lower, upper = (np.clip(a, 0, None) for a in (yhat, lower, upper))
    trained = pd.Period(pd.Timestamp(model_row["last_date"]), freq=model_row["freq"])
    keep = fh >= first
    fh, yhat, lower, upper = fh[keep], yhat[keep], lower[keep], upper[keep]
    dates = [period_start((trained + int(s)).start_time, model_row["freq"]) for s in fh]
    return pd.DataFrame({
        "key": model_row["key"], "store_id": model_row["store_id"], "item_id": model_row["item_id"],
        "forecast_date": dates, "step": fh.astype("int32"), "yhat": yhat, "yhat_lower": lower,
        "yhat_upper": upper, "forecaster": model_row["forecaster"], "status": model_row.get("status"),
        "model_set": model_row.get("model_set"),
    })[FORECAST_ROW.names]
