"""Series frequencies: infer one from dates, accept any pandas spelling, and the season length
and horizon that go with it.

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

import numpy as np
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


def report_freq(dates) -> str | None:
    """The period of report dates that ``infer_freq`` cannot name (such panels are the ones set by
    hand): days ("D") when they come a few days apart (shops open Monday, Wednesday and Friday),
    else None: irregular reports, each taken as it comes."""
    stamps = pd.DatetimeIndex(sorted(set(pd.to_datetime(dates))))
    return "D" if len(stamps) >= 3 and np.median(np.diff(stamps.asi8)) <= 3 * 86_400 * 10**9 else None


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


def infer_freq(dates) -> str:
    """The period frequency of a set of dates, tolerating gaps (missing periods).

    Hourly (``h``) when times of day vary, else daily (``D``), weekly (``W-<DAY>``, labelled by
    the week's first day, so the period ends the day before; ``2W-<DAY>``, ``3W-<DAY>``... when
    every gap is a whole number of that many weeks), monthly (``M``, dates on any one day of the month, starts and
    ends alike), quarterly (``Q-<MON>``) or yearly (``Y-<MON>``: dates in a month's first week
    label the period starting there, later ones, and those of a calendar of whole weeks, the
    period ending there) from the most common step between consecutive dates. Raises, saying what it saw, for anything else.
    """
    d = pd.DatetimeIndex(pd.to_datetime(pd.Series(dates)).dropna().unique()).as_unit("ns").sort_values()
    if len(d) < 3:  # two dates 28 days apart are four weeks or a February
        raise ValueError(f"cannot infer a frequency from {len(d)} distinct date(s); "
                         f"set the series frequency in the configuration ({'; '.join(ACCEPTED)})")
    wall = d.tz_localize(None) if d.tz is not None else d  # the local clock's times
    if (wall != wall.normalize()).any():
        # hours are counted in UTC (asi8 is UTC): an hour across a clock change is still one hour
        gap_minutes = int(pd.Series(np.diff(d.asi8) // 60_000_000_000).mode().iloc[0])
        if gap_minutes == 60 and (wall == wall.floor("h")).all():
            return "h"
        raise ValueError(f"cannot infer a frequency: timestamps with a most common gap of {gap_minutes} minutes "
                         f"(hourly data, on the hour, is the finest accepted); set the series frequency in the "
                         f"configuration ({'; '.join(ACCEPTED)})")
    d = wall  # dates are local calendar days: a fortnight across a clock change is 14 days, not 13 and 23 hours
    gaps = np.diff(d.asi8) // 86_400_000_000_000
    gap_days = int(pd.Series(gaps).mode().iloc[0])
    if gap_days == 1:
        return "D"
    if gap_days % 7 == 0 and gap_days <= 28 and d.dayofweek.nunique() == 1:
        weeks = int(np.gcd.reduce(gaps)) // 7  # missing weeks leave multiples of the step
        return f"{weeks if weeks > 1 else ''}W-" + _DAYS[(d[0].dayofweek - 1) % 7]  # labelled by its first day
    months = d.year * 12 + d.month - 1
    month_steps = np.diff(months)
    # at most one date per calendar month, every step a whole number of periods (missing ones
    # leave multiples), and dates one period apart a month's (quarter's, year's) days apart, not
    # 5 weeks; a 52/53-week fiscal year is 364 or 371 days, inferred while its year ends stay in one
    # calendar month (4-5-4 years ending on the Saturday nearest January's end cross into February:
    # no calendar period holds them, and they are refused)
    step = int(np.gcd.reduce(month_steps)) if (month_steps > 0).all() else 0
    typical = {1: (28, 31), 3: (89, 92), 12: (364, 371)}.get(step)
    one_apart = gaps[month_steps == step]
    if typical and one_apart.size and typical[0] <= np.median(one_apart) <= typical[1]:
        if step == 1:
            return "M"
        if len(set(months % step)) == 1:
            # dates in a month's first week (its first day, first business day) label the period
            # starting there; later days (month ends, fiscal year ends) the period ending there, and so
            # do the ends of a calendar of whole weeks (4-5-4: one weekday, 13 or 14 weeks apart),
            # which often fall in the next month's first days
            whole_weeks = d.dayofweek.nunique() == 1 and not (gaps % 7).any()
            starts = bool((d.day <= 7).all()) and not whole_weeks
            end_month = (months[0] + (step - 1 if starts else 0)) % 12
            return f"Q-{_quarter_anchor(end_month)}" if step == 3 else f"Y-{_MONTHS[end_month]}"
    raise ValueError(f"cannot infer a frequency: the most common gap between dates is {gap_days} days "
                     f"({len(d)} distinct dates from {d[0].date()} to {d[-1].date()}); "
                     f"set the series frequency in the configuration ({'; '.join(ACCEPTED)})")


_ORDER = ("h", "D", "W", "M", "Q", "Y")


def infer_panel_freq(dates, series_dates, agree: float = 0.8) -> str:
    """The frequency of a panel: that of the union of its dates, unless its series agree on a
    coarser one.

    The union alone is fooled when stores date the same period differently (one on month starts,
    another on month ends; one on Sundays, another on Mondays): a day apart, the union looks
    daily or irregular. ``series_dates`` are the dates of a sample of series, each inferred alone;
    when at least ``agree`` of the whole sample (a series that cannot be inferred counts against)
    share a period coarser than the union's, the panel gets that period: weeks that start where
    every store's weekly date falls in the same one (see _week_for_all), else the most common
    spelling.
    """
    try:
        union, union_error = infer_freq(dates), None
    except ValueError as exc:
        union, union_error = None, exc
    series_dates = list(series_dates)
    found = []
    for series in series_dates:
        try:
            found.append(infer_freq(series))
        except ValueError:  # a short or irregular series: it counts against any agreement
            continue
    units = pd.Series([calendar_unit(f) for f in found], dtype=object)
    if len(units):
        unit = units.mode().iloc[0]
        # shared by most of the *whole* sample: in a daily panel of slow sellers the few series
        # that happen to look monthly alone must not decide
        shared = float((units == unit).sum()) / len(series_dates)
        coarser = union is None or _longer(unit, calendar_unit(union))
        if shared >= agree and coarser:
            agreeing = [f for f in found if calendar_unit(f) == unit]
            return _week_for_all(agreeing) if unit == (1, "W") else pd.Series(agreeing).mode().iloc[0]
    if union_error is not None:
        summary = ", ".join(f"{f} {n}" for f, n in pd.Series(found, dtype=object).value_counts().items())
        raise ValueError(f"{union_error}; the sampled series, each alone: {summary or 'none inferable'}")
    return union


def _longer(unit: tuple[int, str], other: tuple[int, str]) -> bool:
    """Whether the (multiple, base) ``unit`` is a longer period than ``other``: a larger base, or
    more of the same one (fortnights over weeks, stores reporting on alternate weeks)."""
    (n, base), (m, other_base) = unit, other
    return _ORDER.index(base) > _ORDER.index(other_base) or (base == other_base and n > m)


def _week_for_all(anchors: list[str]) -> str:
    """The weekly period in which each store's weekly date falls in the same week as the others':
    the week starts on the first weekday after the longest run of weekdays no store uses (Sunday
    and Monday stores: weeks from Sunday, W-SAT; a week from Monday would part them)."""
    used = sorted({(_DAYS.index(a.split("-")[1]) + 1) % 7 for a in anchors})  # the stores' weekdays
    gaps = [((used[(i + 1) % len(used)] - day - 1) % 7, used[(i + 1) % len(used)]) for i, day in enumerate(used)]
    start = max(gaps)[1] if len(used) > 1 else used[0]
    return "W-" + _DAYS[(start - 1) % 7]
