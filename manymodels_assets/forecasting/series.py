"""Turn raw sales rows of one store-item into a regular, gap-filled series."""
from __future__ import annotations

import numpy as np
import pandas as pd

SERIES_COLUMNS: dict[str, str] = {
    "key": "string",
    "store_id": "string",
    "item_id": "string",
    "date": "date",
    "units": "double",
    "price": "double",
    "promo": "int",
    "freq": "string",
    "data_version": "string",
}


def infer_freq(dates) -> str:
    """'D' for daily data, 'W-<DAY>' for weekly data anchored on the weekday the weeks end.

    Uses the most common gap between consecutive distinct dates; raises for anything else.
    """
    d = pd.DatetimeIndex(pd.to_datetime(pd.Series(dates)).dropna().unique()).sort_values()
    if len(d) < 2:
        return "D"
    gaps = pd.Series(np.diff(d.asi8) // 86_400_000_000_000).mode()
    gap = int(gaps.iloc[0])
    if gap == 1:
        return "D"
    if gap == 7:
        # A weekly period labelled by its first day: anchor on the day before it.
        return "W-" + (d[0] - pd.Timedelta(days=1)).day_name()[:3].upper()
    raise ValueError(f"cannot infer a frequency: the most common gap between dates is {gap} days; "
                     "set the series frequency in the configuration")


FILLS = ("zero", "interpolate")


def regularize(frame: pd.DataFrame, freq: str, end, fill: str = "zero") -> pd.DataFrame:
    """One row per period from the series' first date to ``end``.

    Rows in the same period are summed (units) or averaged (price); missing periods get no
    promotion and the last known price, and units by ``fill``: ``"zero"`` (retail: no row means
    nothing sold) or ``"interpolate"`` (a missing period is unreported data: log-linear
    interpolation inside the series, 0 after its last row). Columns: date, units, price, promo.
    """
    if fill not in FILLS:
        raise ValueError(f"fill must be one of {FILLS}, got {fill!r}")
    dates = pd.to_datetime(frame["date"])
    periods = pd.PeriodIndex(dates, freq=freq)
    agg = pd.DataFrame({
        "units": frame["units"].to_numpy(dtype=float),
        "price": pd.to_numeric(frame["price"], errors="coerce").to_numpy(dtype=float) if "price" in frame else np.nan,
        "promo": pd.to_numeric(frame["promo"], errors="coerce").to_numpy(dtype=float) if "promo" in frame else 0.0,
    }, index=periods).groupby(level=0).agg({"units": "sum", "price": "mean", "promo": "max"})
    full = pd.period_range(agg.index.min(), max(agg.index.max(), pd.Period(pd.Timestamp(end), freq=freq)), freq=freq)
    out = agg.reindex(full)
    if fill == "interpolate":
        out["units"] = np.expm1(np.log1p(out["units"]).interpolate(limit_area="inside"))
    out["units"] = out["units"].fillna(0.0)
    out["price"] = out["price"].ffill()
    out["promo"] = out["promo"].fillna(0).astype("int32")
    out.index = out.index.start_time
    return out.rename_axis("date").reset_index()
