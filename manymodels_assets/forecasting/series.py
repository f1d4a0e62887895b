"""Turn raw sales rows of one store-item into a regular, gap-filled series."""
from __future__ import annotations

import hashlib

import numpy as np
import pandas as pd

from manymodels_assets.forecasting.frequency import normalize_freq, period_index


def data_version(values: np.ndarray, dates) -> str:
    """Content hash of one series (its dates and units); equal series give equal versions."""
    h = hashlib.sha256(np.ascontiguousarray(values, dtype=np.float64).tobytes())
    h.update(pd.to_datetime(dates).to_numpy(dtype="datetime64[D]").astype("int64").tobytes())
    return h.hexdigest()[:16]


FILLS = ("zero", "interpolate")
PER_PERIOD = {"units": "sum", "price": "mean", "promo": "max"}
"""How the rows of one period combine: units summed, prices averaged, any promotion counts."""


def regularize(frame: pd.DataFrame, freq: str, end, fill: str = "zero") -> pd.DataFrame:
    """One row per period from the series' first date to ``end``.

    ``freq`` is any spelling :func:`frequency.normalize_freq` accepts (``D``, ``W-SUN``, ``MS``,
    ``QE``, ``3M``, ``h``...); dates are bucketed into its periods and each row is dated by its
    period's first day (a month is one period, whatever its length).

    Rows in the same period are summed (units) or averaged (price); missing periods get no
    promotion and the last known price, and units by ``fill``: ``"zero"`` (retail: no row means
    nothing sold) or ``"interpolate"`` (a missing period is unreported data: log-linear
    interpolation inside the series, 0 after its last row). Columns: date, units, price, promo.
    """
    if fill not in FILLS:
        raise ValueError(f"fill must be one of {FILLS}, got {fill!r}")
    freq = normalize_freq(freq)
    periods = period_index(frame["date"], freq)
    agg = pd.DataFrame({
        "units": frame["units"].to_numpy(dtype=float),
        "price": pd.to_numeric(frame["price"], errors="coerce").to_numpy(dtype=float) if "price" in frame else np.nan,
        "promo": pd.to_numeric(frame["promo"], errors="coerce").to_numpy(dtype=float) if "promo" in frame else 0.0,
    }, index=periods).groupby(level=0).agg(PER_PERIOD)
    full = pd.period_range(agg.index.min(), max(agg.index.max(), period_index([end], freq)[0]), freq=freq)
    out = agg.reindex(full)
    if fill == "interpolate":
        out["units"] = np.expm1(np.log1p(out["units"]).interpolate(limit_area="inside"))
    out["units"] = out["units"].fillna(0.0)
    out["price"] = out["price"].ffill()
    out["promo"] = out["promo"].fillna(0).astype("int32")
    out.index = out.index.start_time
    return out.rename_axis("date").reset_index()


LATE_STORE_DAYS = 7
"""A store's feed may lag the panel by up to a week (or one report of coarser data) and still be
taken as late rather than stopped."""


def default_late_days(data_freq: str | None, end) -> int:
    """How many days before the panel's last date a store's sales may stop and the store still
    count as late: a week, or one period of the data's own frequency when that is longer (a store
    whose monthly report is not in yet is one month behind)."""
    if not data_freq:
        return LATE_STORE_DAYS
    period = period_index([pd.Timestamp(end)], normalize_freq(data_freq))[0]
    return max(LATE_STORE_DAYS, (period.end_time.normalize() - period.start_time).days + 1)


def store_ends(last_dates: dict, panel_end, late_days: int) -> dict:
    """Where each store's series end, from the store's last sales date (``last_dates``: store ->
    date) and the panel's.

    A store whose sales stop at most ``late_days`` days before the panel's last date is late: its
    feed has not arrived yet, so its series end at its own last date and the days it has not
    reported are not taken for zero sales (a naive forecast of a fake zero day is zero). A store
    quiet for longer has stopped selling: its series run to the panel's last date, zero-filled,
    and go inactive in time. ``late_days=0`` ends every series at the panel's last date.
    """
    end = pd.Timestamp(panel_end).date()
    return {store: (last if (end - pd.Timestamp(last).date()).days <= late_days else end)
            for store, last in last_dates.items()}
