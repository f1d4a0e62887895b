"""Series frequencies: accept any pandas spelling, and the season length, horizon and periods
that go with it (inferring one from dates is :mod:`forecasting.inference`).

The core works on pandas *periods* (a calendar month is one period whatever its length), so
every frequency is normalised to a period alias: ``D``, ``h``, ``W-<DAY>``, ``M``,
``Q-<MON>``, ``Y-<MON>``, optionally with a multiple (``3M``, ``2W-SUN``, ``6h``). Offset
spellings that pandas uses for date ranges (``MS``, ``ME``, ``QS``, ``QE-NOV``, ``YS``,
``H``, ``A``...) map to the same period; anything else (business days, semi-months, minutes)
is refused with the list of what is accepted.
"""
from __future__ import annotations

import datetime as dt
import math
import warnings

import pandas as pd
from pandas.tseries import offsets
from pandas.tseries.frequencies import to_offset

_MONTHS = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
_DAYS = ("MON", "TUE", "WED", "THU", "FRI", "SAT", "SUN")
# base period -> (season length, horizon) for one period of that base
_DEFAULTS = {"h": (24, 48), "D": (7, 28), "W": (52, 12), "M": (12, 12), "Q": (4, 8), "Y": (1, 4)}
ACCEPTED = ("D", "h (or H)", "W, W-SUN ... W-SAT", "M, ME, MS", "Q, QE, QS, Q-DEC, QS-JAN, QE-NOV ...",
            "Y, YE, YS, A, Y-DEC ...", "and multiples of these such as 3M, 2W-SUN or 6h")
"""What :func:`normalize_freq` accepts, for error messages and configuration docs."""
AUTO = "auto"
"""The configured frequency that means: infer it from the data (any case)."""


def normalize_freq(spelling: str) -> str:
    """The period alias of a pandas frequency spelling, e.g. ``MS`` -> ``M``, ``QS`` -> ``Q-DEC``,
    ``QS-FEB`` -> ``Q-JAN`` (quarters starting in February end in January), ``3ME`` -> ``3M``.

    Raises ValueError, naming what is accepted, for anything that is not a calendar period.
    """
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)  # 'M', 'Q', 'H', 'A' are deprecated spellings we accept
            offset = to_offset(str(spelling).strip())
    except ValueError:
        offset = None
    n = getattr(offset, "n", 1)
    if offset is None or n < 1:
        raise ValueError(f"unknown frequency {spelling!r}; accepted: {'; '.join(ACCEPTED)}")
    prefix = "" if n == 1 else str(n)
    kind = type(offset)
    if kind is offsets.Day:
        return f"{prefix}D"
    if kind is offsets.Hour:
        return f"{prefix}h"
    if kind is offsets.Week and offset.weekday is not None:
        return f"{prefix}W-{_DAYS[offset.weekday]}"
    if kind in (offsets.MonthEnd, offsets.MonthBegin):
        return f"{prefix}M"
    if kind is offsets.QuarterEnd:
        return f"{prefix}Q-{_quarter_anchor(offset.startingMonth - 1)}"
    if kind is offsets.QuarterBegin:  # quarters starting in month m end in month m - 1
        return f"{prefix}Q-{_quarter_anchor(offset.startingMonth - 2)}"
    if kind is offsets.YearEnd:
        return f"{prefix}Y-{_MONTHS[offset.month - 1]}"
    if kind is offsets.YearBegin:
        return f"{prefix}Y-{_MONTHS[offset.month - 2]}"
    raise ValueError(f"frequency {spelling!r} ({kind.__name__}) is not supported: the series need calendar "
                     f"periods; accepted: {'; '.join(ACCEPTED)}")


def _quarter_anchor(end_month: int) -> str:
    """Q-MAR, Q-JUN, Q-SEP and Q-DEC are the same quarters: name them by the one ending in the
    last quarter of the calendar year, so equal periods get equal spellings (Q-DEC, Q-NOV, Q-OCT)."""
    return _MONTHS[9 + end_month % 3]


def split_freq(freq: str) -> tuple[int, str]:
    """(multiple, base) of a normalised frequency: ``3M`` -> (3, ``M``), ``W-SUN`` -> (1, ``W``)."""
    digits = len(freq) - len(freq.lstrip("0123456789"))
    n = int(freq[:digits]) if digits else 1
    return n, freq[digits:].split("-")[0]


def calendar_unit(freq: str) -> tuple[int, str]:
    """(multiple, base) of ``freq`` after folding whole weeks of days, days of hours and years of
    months or quarters into that unit, which is what its defaults follow: ``7D`` is a week
    (1, ``W``), ``14D`` two, ``24h`` a day, ``24M`` and ``8Q`` two years. ``3M`` stays three
    months (its horizon: 4 periods of a year)."""
    n, base = split_freq(normalize_freq(freq))
    if base == "h" and n % 24 == 0:
        n, base = n // 24, "D"
    if base == "D" and n % 7 == 0:
        n, base = n // 7, "W"
    if base == "M" and n % 12 == 0:
        n, base = n // 12, "Y"
    if base == "Q" and n % 4 == 0:
        n, base = n // 4, "Y"
    return n, base


def default_season_length(freq: str) -> int:
    """Periods per season: 7 days, 52 weeks, 12 months, 4 quarters, 24 hours, 1 year; a multiple
    divides it (``3M``: 4; ``7D`` is a week: 52). Raises when a multiple does not divide the season
    (``5M``, ``2D``): set the season length in the training configuration then."""
    n, base = calendar_unit(freq)
    season = _DEFAULTS[base][0]
    if season == 1:  # yearly data has no season, whatever its multiple
        return 1
    if season % n:
        raise ValueError(f"frequency {freq!r} has no whole-number season ({season} {base} periods / {n}); "
                         "set season_length in the training configuration")
    return season // n


def default_horizon(freq: str) -> int:
    """Forecast horizon: 28 days, 12 weeks, 12 months, 8 quarters, 4 years, 48 hours (fewer
    periods for a multiple: ``3M`` -> 4)."""
    n, base = calendar_unit(freq)
    return max(1, math.ceil(_DEFAULTS[base][1] / n))


def default_inactive_seasons(freq: str) -> int:
    """Seasons without a sale after which a series counts as stopped: about a quarter of a year
    for daily data (13 weeks), two weeks of hours, and a year for weekly, monthly, quarterly
    data (one season), two for yearly data. Long enough that intermittent items (a sale every
    few weeks) are not mistaken for stopped ones."""
    _, base = calendar_unit(freq)
    return {"D": 13, "h": 14, "Y": 2}.get(base, 1)


def default_max_history(freq: str) -> int:
    """Periods a series trains on at most (its latest), 0 for all: three years of daily data
    (older days inform a 28-day forecast little and would triple the cost of a long history),
    every period of the coarser frequencies, whose series are short."""
    n, base = calendar_unit(freq)
    return math.ceil(1096 / n) if base == "D" else 0


def period_start(stamp, freq: str) -> dt.date | dt.datetime:
    """The start of the period at ``stamp`` as model sets and forecasts hold it: its date, or for
    hours its datetime (a date would put every hour of a day at midnight)."""
    ts = pd.Timestamp(stamp)
    return ts.to_pydatetime() if split_freq(normalize_freq(freq))[1] == "h" else ts.date()


def period_index(dates, freq: str) -> pd.PeriodIndex:
    """The periods of ``dates`` at ``freq``; a multiple (``3M``) is aligned on the epoch, so two
    series bucket the same dates into the same periods whatever their first date."""
    n, _ = split_freq(freq)
    base = freq[len(str(n)):] if n > 1 else freq
    stamps = pd.DatetimeIndex(pd.to_datetime(dates))
    if stamps.tz is not None:
        # hours are counted in UTC (a local clock skips or repeats one at a daylight-saving change);
        # dates keep their local calendar day
        stamps = stamps.tz_convert("UTC").tz_localize(None) if base == "h" else stamps.tz_localize(None)
    periods = pd.PeriodIndex(stamps, freq=base)
    if n == 1:
        return periods
    ordinals = (periods.asi8 // n) * n
    return pd.PeriodIndex(pd.PeriodIndex.from_ordinals(ordinals, freq=base).start_time, freq=freq)


def last_complete_day(end, freq: str, data_freq: str, open_weekdays=range(7)) -> dt.date:
    """The last day of the data that fills whole ``freq`` periods: ``end`` (the data's last date)
    when its period is complete, else the day before that period began.

    Data at ``data_freq`` finer than ``freq`` (days summed into months) ends mid-period until its
    last report comes in: June 1-3 summed as June would look like a collapse in sales. Daily data
    is complete when no day the panel opens on (``open_weekdays``, Monday = 0) remains in the
    period, so shops closed on Sundays or on the month's last day do not hold a period back;
    coarser data when its next report would fall in the next period (weekly data reports every
    week, or every ``n`` weeks, from its last date).
    """
    end = pd.Timestamp(end).normalize()
    period = period_index([end], freq)[0]
    last = period.end_time.normalize()
    n, base = split_freq(data_freq)
    if data_freq == "D":
        rest = pd.date_range(end + pd.Timedelta(days=1), last, freq="D")
        complete = not any(day.weekday() in set(open_weekdays) for day in rest)
    elif base == "W":  # the data's own cycle (a fortnight from its last report), not the epoch's
        complete = end + pd.Timedelta(weeks=n) > last
    else:
        complete = (period_index([end], data_freq)[0] + 1).start_time > last
    return end.date() if complete else (period.start_time - pd.Timedelta(days=1)).date()
