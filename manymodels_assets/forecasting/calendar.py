"""The planned calendar (prices and promotions of coming periods) as regressors.

Candidates with ``uses_calendar`` fit on the history's regressors and forecast from the
calendar's: log relative price, promotion flag, and weekday dummies for daily data.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from manymodels_assets.forecasting.frequency import calendar_unit, period_index
from manymodels_assets.forecasting.series import PER_PERIOD


def has_price_or_promo(frame: pd.DataFrame) -> bool:
    """True when the frame carries a usable price or promotion signal (not all missing/constant)."""
    price = pd.to_numeric(frame.get("price"), errors="coerce") if "price" in frame else None
    promo = pd.to_numeric(frame.get("promo"), errors="coerce") if "promo" in frame else None
    price_ok = price is not None and price.notna().any() and price.dropna().nunique() > 1
    promo_ok = promo is not None and promo.fillna(0).nunique() > 1
    return bool(price_ok or promo_ok)


def regressors(frame: pd.DataFrame, freq: str, reference_price: float | None = None) -> pd.DataFrame:
    """Regressors for ``frame`` (columns date, price, promo), indexed by period.

    log relative price (to ``reference_price``, the history's median, so the scale is
    comparable across items), promotion flag, and weekday dummies for daily data.
    Missing prices are carried forward, then backward.
    """
    index = pd.PeriodIndex(pd.to_datetime(frame["date"]), freq=freq)
    columns: dict[str, np.ndarray] = {}
    if "price" in frame:
        price = pd.to_numeric(frame["price"], errors="coerce").ffill().bfill().to_numpy(dtype=float)
        if np.isfinite(price).any():
            ref = reference_price if reference_price else float(np.nanmedian(price))
            columns["log_price"] = np.log(np.clip(price, 1e-6, None) / ref)
    columns["promo"] = (pd.to_numeric(frame["promo"], errors="coerce").fillna(0).to_numpy(dtype=float)
                        if "promo" in frame else np.zeros(len(frame)))
    if calendar_unit(freq) == (1, "D"):  # one day per period (D, 24h): the weekday matters
        dow = index.dayofweek.to_numpy()
        columns.update({f"dow{d}": (dow == d).astype(float) for d in range(6)})
    return pd.DataFrame(columns, index=index)


def reference_price(frame: pd.DataFrame) -> float | None:
    if "price" not in frame:
        return None
    price = pd.to_numeric(frame["price"], errors="coerce")
    return float(np.nanmedian(price)) if price.notna().any() else None


def history_and_calendar_regressors(history: pd.DataFrame, calendar: pd.DataFrame | None, last: pd.Period,
                                    horizon: int, freq: str):
    """(regressors of the history, regressors of the horizon, note).

    The horizon's regressors are None, and the note says why, when the history has no price or
    promotion signal or the calendar does not cover the ``horizon`` periods after ``last``.
    """
    if not has_price_or_promo(history):
        return None, None, "no price or promotion data in the history"
    ref = reference_price(history)
    X_history = regressors(history, freq, ref)
    if calendar is None or calendar.empty:
        return X_history, None, "no planned calendar"
    # the plan may be finer than the series (days for a weekly series): one row per period, as
    # regularize made the history's
    wanted = pd.period_range(last + 1, periods=horizon, freq=freq)
    planned = calendar.assign(period=period_index(calendar["date"], freq))
    planned = planned[planned["period"].isin(wanted)]
    covered = planned["period"].nunique()
    if covered < horizon:
        return X_history, None, f"the planned calendar covers {covered} of the {horizon} periods after {last}"
    per_period = planned.groupby("period").agg({c: PER_PERIOD[c] for c in ("price", "promo") if c in planned})
    frame = per_period.reindex(wanted).reset_index(drop=True).assign(date=wanted.start_time)
    unpriced = "price" not in frame or pd.to_numeric(frame["price"], errors="coerce").isna().all()
    if "log_price" in X_history and unpriced:
        # a plan of promotions only: prices stay where the history left them
        frame["price"] = pd.to_numeric(history["price"], errors="coerce").ffill().iloc[-1]
    return X_history, regressors(frame, freq, ref)[X_history.columns], ""
