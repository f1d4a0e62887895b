"""Turn raw sales rows of one store-item into a regular, gap-filled series."""
from __future__ import annotations

import hashlib

import numpy as np
import pandas as pd

from manymodels_assets.forecasting.frequency import (calendar_unit, last_complete_day, normalize_freq, period_index,
                                                     split_freq)


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


LATE_DAYS = 7
"""Daily sales: a store's feed may lag the panel by up to a week and still be taken as late."""
ON_TIME, LATE, STOPPED = "on time", "late", "stopped"


def default_late_periods(data_freq: str) -> int:
    """How many of the data's own periods a store's sales may lag the panel's and the store still
    count as late, not stopped: a week of daily data, one report of weekly or coarser data."""
    n, base = calendar_unit(data_freq)  # 7D is a week: one report
    return max(1, LATE_DAYS // n) if base == "D" else 1


def periods_between(first, last, freq: str) -> int:
    """Whole periods of ``freq`` from the period of ``first`` to that of ``last``."""
    a, b = period_index([pd.Timestamp(first), pd.Timestamp(last)], freq)
    return (b.ordinal - a.ordinal) // split_freq(freq)[0]


def feed_status(last, end, data_freq: str, open_weekdays, late_periods: int) -> tuple[str, int]:
    """(on time, late or stopped; periods behind) of a store whose sales stop at ``last`` in a
    panel that ends at ``end``, counted in the data's own periods (a month of monthly reports is
    one period whatever its length). Daily data is on time when the days after ``last`` are all
    days the store does not open on (``open_weekdays``, Monday = 0: its zeros are real)."""
    behind = periods_between(last, end, data_freq)
    if behind <= 0:
        return ON_TIME, 0
    if split_freq(data_freq)[1] == "D" and open_weekdays:  # none: no sales for weeks, nothing to judge by
        missing = pd.date_range(pd.Timestamp(last) + pd.Timedelta(days=1), pd.Timestamp(end), freq="D")
        if not set(missing.weekday) & set(open_weekdays):
            return ON_TIME, 0
    return (LATE if behind <= late_periods else STOPPED), behind


def store_ends(feeds: dict, end, complete, freq: str, data_freq: str | None,
               late_periods: int | None = None) -> tuple[dict, pd.DataFrame]:
    """Where each store's series end, and the stores behind the panel.

    ``feeds``: store -> (its last sales date, the weekdays it sold on lately). ``end``: the panel's
    last date; ``complete``: its last complete day at ``freq`` (``end`` unless sales finer than
    ``freq`` wait for their period to complete). ``data_freq``: the data's own frequency (None
    when it cannot be named: ``freq`` stands in); ``late_periods``: None for its default.

    Lateness is judged against ``complete``, where the on-time stores' series end. A late store
    (its feed has not arrived yet) ends at its own last date, or at its own last complete period,
    so the days it has not reported are not taken for zero sales (a naive forecast of a fake zero
    day is zero). A stopped store (quiet for longer than ``late_periods``) runs to ``complete``,
    zero-filled, and goes inactive in time; ``late_periods=0`` treats every store so. Returns
    (store -> series end, a table of the stores late or stopped: their last sale, how many of the
    data's periods behind, and the last period of their series).
    """
    own = data_freq or freq
    late_periods = default_late_periods(own) if late_periods is None else late_periods
    ends, behind = {}, []
    for store, (last, open_weekdays) in sorted(feeds.items()):
        status, periods = feed_status(last, complete, own, open_weekdays, late_periods)
        ends[store] = complete
        if status == LATE:
            ends[store] = (pd.Timestamp(last).date() if data_freq is None or data_freq == freq
                           else last_complete_day(last, freq, data_freq, open_weekdays or range(7)))
        if status != ON_TIME:
            period = period_index([pd.Timestamp(ends[store])], freq)[0]
            behind.append((store, last, periods, f"end in {period} ({status})" if status == LATE
                           else f"zero-filled to {period} ({status})"))
    return ends, pd.DataFrame(behind, columns=["store_id", "last_date", "periods_behind", "series"])
