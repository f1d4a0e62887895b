"""Score one series with its fitted model: a horizon-step point forecast and interval."""
from __future__ import annotations

import warnings
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from manymodels_assets.forecasting.frequency import period_index, period_start, split_freq
from manymodels_assets.forecasting.intervals import bounds
from manymodels_assets.forecasting.series import periods_between
from manymodels_assets.forecasting.serialization import load_model, load_regressors
from manymodels_assets.schemas import FORECASTS

FORECAST_ROW = FORECASTS.without("production_version", "scored_at")
"""What :func:`forecast_series` returns; the scoring run adds which production version served it, and when."""


def forecast_windows(models: pd.DataFrame, horizon: int | None = None, panel_end=None) -> pd.DataFrame:
    """The steps, counted from each model's last date, that its forecast covers: first_step,
    last_step per row of ``models`` (last_date, freq, horizon: the model's own, used when
    ``horizon`` is None; series_end, may be missing).

    By default the horizon's periods after the model's last date. ``series_end``, the series'
    newest date, is later when promotion kept a production model trained some periods ago: the
    forecast starts after it, a model's older forecasts of periods whose sales are in being no
    forecast anyone needs. ``panel_end``, the newest date of the panel, is later for a late
    store's series: it is forecast through the same periods as the others, the horizon's
    periods past the panel's newest. A model on the planned calendar or a direct one may stop
    sooner (see :func:`forecast_series`).
    """
    out = pd.DataFrame({"first_step": 0, "last_step": 0}, index=models.index)
    ends = models["series_end"] if "series_end" in models else pd.Series(None, index=models.index, dtype=object)
    for freq, rows in models.groupby("freq").groups.items():
        n = split_freq(freq)[0]
        trained = period_index(models.loc[rows, "last_date"], freq).asi8
        data = period_index(ends.loc[rows].where(ends.loc[rows].notna(), models.loc[rows, "last_date"]), freq).asi8
        start = np.maximum(trained, data)
        reach = start if panel_end is None else np.maximum(period_index([panel_end], freq).asi8[0], start)
        out.loc[rows, "first_step"] = (start - trained) // n + 1
        out.loc[rows, "last_step"] = (reach - trained) // n + (horizon or models.loc[rows, "horizon"].astype(int))
    return out


def forecast_series(model_row: Mapping[str, Any], horizon: int, non_negative: bool = True, series_end=None,
                    panel_end=None) -> pd.DataFrame:
    """Forecast ``horizon`` steps after the series' last date from its model-set row (after its
    newest data, through ``horizon`` periods past the panel's newest: see :func:`forecast_windows`).

    Sales cannot be negative, so with ``non_negative`` forecasts and bounds are clipped at 0.
    A model on the planned calendar forecasts only as far as the calendar it was trained with
    reaches (its training horizon), a direct one (the pooled candidate, a cold start's profile)
    as far as it was trained to, and one fitted for its horizon (sktime's MSTL refuses any
    other) its training horizon's steps.
    """
    freq, trained_at = model_row["freq"], pd.Timestamp(model_row["last_date"])
    # the window of forecast_windows, for one row (a frame per row would cost a third of the scoring)
    start = trained_at if series_end is None else max(trained_at, pd.Timestamp(series_end))
    reach = start if panel_end is None else max(start, pd.Timestamp(panel_end))
    first, last = periods_between(trained_at, start, freq) + 1, periods_between(trained_at, reach, freq) + horizon
    model = load_model(model_row["model"])
    calendar = model_row.get("calendar_regressors")
    X = load_regressors(calendar, freq) if calendar else None
    trained_steps = int(model_row.get("horizon") or last)
    want = max(last, trained_steps)  # never fewer than trained: a shorter horizon is a prefix of it
    reach = min(want, getattr(model, "max_horizon_", None) or want, want if X is None else len(X))
    try:
        yhat = _predict(model, X, reach)
    except ValueError:
        if reach <= trained_steps:
            raise
        reach = trained_steps  # fitted for its horizon: it answers with the steps it has
        yhat = _predict(model, X, reach)
    fh = np.arange(1, reach + 1)
    lower, upper = bounds(yhat, float(model_row.get("interval_halfwidth") or 0.0),
                          model_row.get("interval_scale") or "additive")
    if non_negative:
        yhat, lower, upper = (np.clip(a, 0, None) for a in (yhat, lower, upper))
    trained = pd.Period(trained_at, freq=freq)
    keep = (fh >= first) & (fh <= last)
    fh, yhat, lower, upper = fh[keep], yhat[keep], lower[keep], upper[keep]
    dates = [period_start((trained + int(s)).start_time, freq) for s in fh]
    return pd.DataFrame({
        "key": model_row["key"], "store_id": model_row["store_id"], "item_id": model_row["item_id"],
        "forecast_date": dates, "step": fh.astype("int32"), "yhat": yhat, "yhat_lower": lower,
        "yhat_upper": upper, "forecaster": model_row["forecaster"], "status": model_row.get("status"),
        "model_set": model_row.get("model_set"),
    })[FORECAST_ROW.names]


def _predict(model, X: pd.DataFrame | None, steps: int) -> np.ndarray:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # sktime 1.2 warns on every clone about remember_data
        fh = np.arange(1, steps + 1)
        return np.asarray(model.predict(fh=fh, X=None if X is None else X.iloc[:steps]), dtype=float)
