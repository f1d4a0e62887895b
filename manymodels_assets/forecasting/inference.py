"""Infer a series' or a panel's frequency from its dates (the spellings, season lengths and
periods are in :mod:`forecasting.frequency`)."""
from __future__ import annotations

import numpy as np
import pandas as pd

from manymodels_assets.forecasting.frequency import ACCEPTED, _DAYS, _MONTHS, _quarter_anchor, calendar_unit


def report_freq(dates) -> str | None:
    """The period of report dates that ``infer_freq`` cannot name (such panels are the ones set by
    hand): days ("D") when they come a few days apart (shops open Monday, Wednesday and Friday),
    else None: irregular reports, each taken as it comes."""
    stamps = pd.DatetimeIndex(sorted(set(pd.to_datetime(dates))))
    return "D" if len(stamps) >= 3 and np.median(np.diff(stamps.asi8)) <= 3 * 86_400 * 10**9 else None


def infer_freq(dates) -> str:
    """The period frequency of a set of dates, tolerating gaps (missing periods).

    Hourly (``h``) when times of day vary, else daily (``D``), weekly (``W-<DAY>``, labelled by
    the week's first day, so the period ends the day before; ``2W-<DAY>``, ``3W-<DAY>``... when
    every gap is a whole number of that many weeks), monthly (``M``, dates on any one day of the
    month, starts and ends alike, or on one weekday four or five weeks apart, such as the first
    Monday), quarterly (``Q-<MON>``) or yearly (``Y-<MON>``: dates in a month's first week label
    the period starting there, later ones, and those of a calendar of whole weeks, the period
    ending there) from the most common step between consecutive dates. Raises, saying what it
    saw, for anything else.
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
    months = d.year * 12 + d.month - 1
    month_steps = np.diff(months)
    one_weekday = d.dayofweek.nunique() == 1 and not (gaps % 7).any()
    if one_weekday and gap_days in (28, 35) and gaps.min() >= 28 and np.gcd.reduce(gaps) == 7:
        # four and five weeks apart, never fewer: months dated on a weekday (the first Monday), not
        # weeks with three in four missing, which would be padded with zero weeks
        monthly = _months_on_a_weekday(d, gaps, month_steps)
        if monthly:
            return monthly
    if gap_days % 7 == 0 and gap_days <= 28 and one_weekday:
        weeks = int(np.gcd.reduce(gaps)) // 7  # missing weeks leave multiples of the step
        return f"{weeks if weeks > 1 else ''}W-" + _DAYS[(d[0].dayofweek - 1) % 7]  # labelled by its first day
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
            # dates in a month's first week (its first day, first business day, first Monday) label
            # the period starting there; later days (month ends, fiscal year ends) the period ending
            # there, and so do the ends of a calendar of whole weeks (4-5-4: one weekday, always 13 or
            # 14 weeks apart), which fall within five days of a month's end, often in the next
            # month's first days. A first Monday on the 6th or 7th, or 12 weeks after the last, is
            # no such end; first Mondays that all fall on the 1st to the 5th cannot be told from
            # them and are read as ends (set the frequency by hand: QS)
            near_month_ends = bool(((d.day <= 5) | (d.day >= 22)).all())
            whole_weeks = one_weekday and near_month_ends and bool(np.isin(one_apart, (91, 98, 364, 371)).all())
            starts = bool((d.day <= 7).all()) and not whole_weeks
            end_month = (months[0] + (step - 1 if starts else 0)) % 12
            return f"Q-{_quarter_anchor(end_month)}" if step == 3 else f"Y-{_MONTHS[end_month]}"
    raise ValueError(f"cannot infer a frequency: the most common gap between dates is {gap_days} days "
                     f"({len(d)} distinct dates from {d[0].date()} to {d[-1].date()}); "
                     f"set the series frequency in the configuration ({'; '.join(ACCEPTED)})")


def _months_on_a_weekday(d: pd.DatetimeIndex, gaps: np.ndarray, month_steps: np.ndarray) -> str | None:
    """Monthly (``M``) for dates on one weekday four or five weeks apart that fall one per calendar
    month (missing months leave multiples). Refused when every gap is four or five weeks yet two
    dates share a calendar month: a 4-4-5 or 4-5-4 fiscal calendar, or four-week periods with a
    five-week one now and then, which no calendar period holds. None (weeks, with gaps) for
    anything else."""
    if (month_steps >= 1).all() and ((gaps >= 28 * month_steps) & (gaps <= 35 * month_steps)).all():
        return "M"
    if np.isin(gaps, (28, 35)).all() and (month_steps == 0).any():
        i = int(np.argmax(month_steps == 0))
        raise ValueError(
            f"cannot infer a frequency: dates four or five weeks apart on a {d[0].day_name()}, two in one "
            f"calendar month ({d[i].date()} and {d[i + 1].date()}), as in a 4-4-5 or 4-5-4 fiscal calendar "
            f"or one of 13 four-week periods with a five-week one now and then, whose periods no calendar "
            f"period holds; date each row by its calendar month, or set the series frequency in the "
            f"configuration ({'; '.join(ACCEPTED)})")
    return None


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
