"""Series frequencies: infer one from dates, and the season length and horizon that go with it."""
from __future__ import annotations

import numpy as np
import pandas as pd

DEFAULT_SEASON_LENGTH = {"D": 7, "W": 52, "M": 12, "MS": 12, "Q": 4, "H": 24}


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


def default_horizon(freq: str) -> int:
    """28 days for daily data, 12 periods otherwise (12 weeks, 12 months, ...)."""
    return 28 if freq.upper().startswith("D") else 12


def default_season_length(freq: str) -> int:
    return DEFAULT_SEASON_LENGTH.get(freq.split("-")[0].upper(), 1)
