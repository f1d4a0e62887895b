"""Frequencies: inferred from dates with gaps, any pandas spelling normalised or refused, the
season length and horizon of each, and regularize bucketing dates into the right periods."""
import os

import numpy as np
import pandas as pd
import pytest

from manymodels_assets.forecasting.config import TrainingConfig
from manymodels_assets.forecasting.frequency import default_horizon, default_season_length, normalize_freq, period_index
from manymodels_assets.forecasting.inference import infer_freq, infer_panel_freq
from manymodels_assets.forecasting.series import regularize


def with_gaps(dates: pd.DatetimeIndex, every: int = 5) -> pd.DatetimeIndex:
    """Drop every ``every``-th date after the first: the data has missing periods."""
    keep = np.ones(len(dates), dtype=bool)
    keep[every::every] = False
    return dates[keep]


# (dates of a regular series, frequency inferred, season length, horizon)
CASES = {
    "daily": (pd.date_range("2024-01-01", periods=60, freq="D"), "D", 7, 28),
    "weekly, Thursday labels": (pd.date_range("1989-09-14", periods=60, freq="7D"), "W-WED", 52, 12),
    "weekly, Sunday labels": (pd.date_range("2024-01-07", periods=60, freq="7D"), "W-SAT", 52, 12),
    "monthly, month starts": (pd.date_range("2020-01-01", periods=40, freq="MS"), "M", 12, 12),
    "monthly, month ends": (pd.date_range("2020-01-31", periods=40, freq="ME"), "M", 12, 12),
    "monthly, mid-month": (pd.date_range("2020-01-01", periods=40, freq="MS") + pd.Timedelta(days=14), "M", 12, 12),
    "quarterly, quarter starts": (pd.date_range("1998-01-01", periods=40, freq="QS"), "Q-DEC", 4, 8),
    "quarterly, quarter ends": (pd.date_range("1998-03-31", periods=40, freq="QE"), "Q-DEC", 4, 8),
    "quarterly, fiscal (Feb starts)": (pd.date_range("1998-02-01", periods=40, freq="QS-FEB"), "Q-OCT", 4, 8),
    # a quarter's first or last business day: the quarter it starts or ends, not one two months off
    "quarterly, first business days": (pd.date_range("1998-01-01", periods=40, freq="BQS"), "Q-DEC", 4, 8),
    "quarterly, last business days": (pd.date_range("1998-01-01", periods=40, freq="BQE"), "Q-DEC", 4, 8),
    "yearly, first business days": (pd.date_range("1990-01-01", periods=20, freq="BYS"), "Y-DEC", 1, 4),
    # a month's or quarter's first Monday: four or five weeks apart, yet months, not weeks with gaps
    "monthly, first Mondays": (pd.date_range("2019-01-01", periods=40, freq="WOM-1MON"), "M", 12, 12),
    "quarterly, first Mondays": (pd.date_range("2019-01-01", periods=160, freq="WOM-1MON")[::3], "Q-DEC", 4, 8),
    "hourly": (pd.date_range("2024-01-01", periods=200, freq="h"), "h", 24, 48),
    "yearly": (pd.date_range("1990-01-01", periods=20, freq="YS"), "Y-DEC", 1, 4),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_each_frequency_is_inferred_from_dates_with_gaps_and_regularized(case):
    dates, freq, season, horizon = CASES[case]
    sparse = with_gaps(dates)
    assert infer_freq(sparse) == freq
    assert (default_season_length(freq), default_horizon(freq)) == (season, horizon)
    raw = pd.DataFrame({"date": sparse, "units": np.arange(1.0, len(sparse) + 1)})
    out = regularize(raw, freq, dates[-1])
    assert len(out) == len(dates)  # one row per period, the missing ones filled
    assert (out["units"] == 0).sum() == len(dates) - len(sparse)
    assert out["units"].sum() == raw["units"].sum()
    assert out["date"].is_monotonic_increasing and out["date"].is_unique


@pytest.mark.parametrize("spelling, normalised, season", [
    ("D", "D", 7), ("W", "W-SUN", 52), ("W-SUN", "W-SUN", 52), ("W-WED", "W-WED", 52), ("2W", "2W-SUN", 26),
    ("M", "M", 12), ("ME", "M", 12), ("MS", "M", 12), ("3M", "3M", 4), ("3MS", "3M", 4), ("6ME", "6M", 2),
    ("Q", "Q-DEC", 4), ("QE", "Q-DEC", 4), ("QS", "Q-DEC", 4), ("Q-DEC", "Q-DEC", 4), ("QE-DEC", "Q-DEC", 4),
    ("QS-JAN", "Q-DEC", 4), ("Q-MAR", "Q-DEC", 4), ("QS-FEB", "Q-OCT", 4), ("QE-NOV", "Q-NOV", 4),
    ("Y", "Y-DEC", 1), ("YS", "Y-DEC", 1), ("A", "Y-DEC", 1), ("H", "h", 24), ("h", "h", 24), ("6h", "6h", 4),
    # a multiple of a larger unit is that unit: a week of days has the weeks' season, not none
    ("7D", "7D", 52), ("14D", "14D", 26), ("24h", "24h", 7), ("168h", "168h", 52), ("2Y", "2Y-DEC", 1), ("24M", "24M", 1), ("8Q", "8Q-DEC", 1),
])
def test_every_pandas_spelling_gets_its_period_and_season(spelling, normalised, season):
    assert normalize_freq(spelling) == normalised
    assert default_season_length(spelling) == season


@pytest.mark.parametrize("spelling, message", [
    ("B", "not supported"), ("SM", "not supported"), ("min", "not supported"), ("BME", "not supported"),
    ("fortnightly", "unknown frequency"), ("2D", "no whole-number season"), ("5M", "no whole-number season"),
])
def test_unsupported_spellings_are_refused_clearly(spelling, message):
    with pytest.raises(ValueError, match=message):
        default_season_length(spelling)


def test_start_and_end_spellings_of_a_period_give_the_same_series():
    starts = pd.date_range("2020-01-01", periods=12, freq="MS")
    raw = pd.DataFrame({"date": starts + pd.Timedelta(days=9), "units": 1.0})
    by_start, by_end = regularize(raw, "MS", starts[-1]), regularize(raw, "ME", starts[-1])
    pd.testing.assert_frame_equal(by_start, by_end)
    assert list(by_start["date"]) == list(starts)  # a row is dated by its period's first day


def test_a_multiple_buckets_the_same_dates_together_whatever_the_first_date():
    a = pd.DataFrame({"date": pd.to_datetime(["2024-01-15", "2024-02-15", "2024-04-15"]), "units": 1.0})
    b = pd.DataFrame({"date": pd.to_datetime(["2024-03-15", "2024-04-15"]), "units": 1.0})
    out_a, out_b = regularize(a, "3M", "2024-06-30"), regularize(b, "3M", "2024-06-30")
    assert list(out_a["date"]) == [pd.Timestamp("2024-01-01"), pd.Timestamp("2024-04-01")]
    assert list(out_a["units"]) == [2.0, 1.0]
    assert list(out_b["date"]) == list(out_a["date"])  # same calendar quarters


def test_a_multiple_of_a_larger_unit_gets_that_units_defaults():
    assert (default_horizon("7D"), default_horizon("24h")) == (default_horizon("W"), default_horizon("D"))
    config = TrainingConfig()
    assert config.candidates_for("7D") == config.candidates_for("W-SUN")
    assert config.inactive_periods("7D") == config.inactive_periods("W-SUN") == 52


@pytest.mark.parametrize("one, other, freq", [
    (("MS", "2020-01-01"), ("ME", "2020-01-31"), "M"),  # month starts in one store, month ends in another
    (("QS", "2020-01-01"), ("QE", "2020-03-31"), "Q-DEC"),
    (("W-SUN", "2020-01-05"), ("W-MON", "2020-01-06"), "W-SAT"),  # Sundays in one store, Mondays in another
])
def test_stores_that_date_the_same_period_differently_get_that_period(one, other, freq):
    a = pd.date_range(one[1], periods=36, freq=one[0])
    b = pd.date_range(other[1], periods=36, freq=other[0])
    try:
        alone = infer_freq(a.append(b))
    except ValueError:
        alone = None
    assert alone != freq  # the union alone is fooled: a day apart looks daily (or irregular)
    assert infer_panel_freq(a.append(b), [a, b, a]) == freq
    out = regularize(pd.DataFrame({"date": b, "units": 1.0}), freq, b[-1])
    assert len(out) == 36 and (out["units"] == 1.0).all()  # one row per period, nothing padded


def test_a_daily_panel_of_intermittent_series_stays_daily():
    days = pd.date_range("2024-01-01", periods=90, freq="D")
    assert infer_panel_freq(days, [days[::3], days[::2], days[1::5], days]) == "D"
    # slow sellers say nothing alone; the few that look monthly or weekly must not decide for all
    slow = [pd.to_datetime(["2024-01-03", "2024-02-20"])] * 45
    monthly_looking = [pd.to_datetime(["2024-01-05", "2024-02-05", "2024-03-05"])] * 5
    weekly_looking = [pd.to_datetime(["2024-01-05", "2024-01-12", "2024-01-19"])] * 5
    assert infer_panel_freq(days, slow + monthly_looking) == infer_panel_freq(days, slow + weekly_looking) == "D"


@pytest.mark.parametrize("stores, freq", [
    ({"W-SUN": 20, "W-MON": 30}, "W-SAT"),  # weeks from Sunday keep a Sunday and the next Monday together,
    ({"W-SUN": 30, "W-MON": 20}, "W-SAT"),  # whichever weekday most stores use
    ({"W-SAT": 10, "W-SUN": 10, "W-MON": 10}, "W-FRI"),
])
def test_one_week_holds_every_stores_weekly_date(stores, freq):
    sets = {day: pd.date_range({"W-SAT": "2020-01-04", "W-SUN": "2020-01-05", "W-MON": "2020-01-06"}[day],
                               periods=30, freq=day) for day in stores}
    union = sets[list(stores)[0]]
    for day in list(stores)[1:]:
        union = union.append(sets[day])
    assert infer_panel_freq(union, [sets[day] for day, n in stores.items() for _ in range(n)]) == freq
    weeks = {day: period_index(dates, freq) for day, dates in sets.items()}
    assert all(w.equals(weeks[list(stores)[0]]) for w in weeks.values())  # same week, every store


def test_sparse_months_and_fiscal_years_are_still_inferred():
    months = pd.to_datetime(["2019-02-01", "2019-03-01", "2019-05-01", "2019-08-01", "2019-10-01", "2019-12-01",
                             "2020-01-01", "2020-03-01", "2020-05-01", "2020-07-01", "2020-10-01", "2020-11-01",
                             "2021-02-01", "2021-03-01", "2021-05-01", "2021-06-01", "2021-08-01", "2021-11-01"])
    assert infer_freq(months) == "M"  # two months apart more often than one: still months
    assert infer_freq(pd.date_range("2012-09-29", periods=6, freq="364D")) == "Y-SEP"  # 52-week fiscal years
    # 4-5-4 retail quarter ends (Saturdays) fall in a month's first days and still end their quarter
    nrf = ["2018-02-03", "2018-05-05", "2018-08-04", "2018-11-03", "2019-02-02", "2019-05-04", "2019-08-03"]
    assert infer_freq(nrf) == "Q-NOV"


def test_fiscal_months_are_refused_first_mondays_start_quarters_and_slow_weekly_sellers_stay_weekly():
    weeks = np.cumsum([0] + [4, 4, 5] * 8)  # 4-4-5 fiscal months: two of them end in March 2019
    fiscal = pd.Timestamp("2019-02-02") + pd.to_timedelta(7 * weeks, unit="D")
    with pytest.raises(ValueError, match=r"two in one calendar month \(2019-03-02 and 2019-03-30\), as in a 4-4-5"):
        infer_freq(fiscal)
    # a quarter's first Monday, 13 or 14 weeks apart as a 4-5-4 calendar's quarter ends are, yet on the
    # 6th (2020-01-06): no quarter end falls that far into a month; it labels the quarter it starts
    mondays = pd.date_range("2020-01-01", "2024-12-31", freq="WOM-1MON")
    assert infer_freq(mondays[mondays.month % 3 == 1]) == "Q-DEC"
    # a weekly seller sold every four to six weeks: six weeks in one month apart is no month
    slow = pd.Timestamp("2024-01-07") + pd.to_timedelta(7 * np.cumsum([0, 4, 5, 4, 6, 4, 5, 4]), unit="D")
    assert infer_freq(slow) == "W-SAT"


def test_series_that_agree_on_nothing_leave_the_unions_error_with_what_they_said():
    odd = pd.to_datetime(["2024-01-01", "2024-01-11", "2024-01-21", "2024-01-31"])
    with pytest.raises(ValueError, match="most common gap between dates is 10 days.*each alone: none inferable"):
        infer_panel_freq(odd, [odd[:2]])


@pytest.mark.parametrize("weeks, freq", [(2, "2W-SAT"), (4, "4W-SAT")])
def test_fortnightly_and_four_weekly_dates_are_not_padded_with_zero_weeks(weeks, freq):
    dates = with_gaps(pd.date_range("2020-01-05", periods=40, freq=f"{weeks}W-SUN"))
    assert infer_freq(dates) == freq and default_season_length(freq) == 52 // weeks
    out = regularize(pd.DataFrame({"date": dates, "units": 1.0}), freq, dates[-1])
    assert len(out) == 40 and (out["units"] == 0).sum() == 40 - len(dates)


def test_dates_five_weeks_apart_are_not_monthly():
    with pytest.raises(ValueError, match="most common gap between dates is 35 days"):
        infer_freq(pd.date_range("2020-01-05", periods=26, freq="5W-SUN"))


def test_too_few_dates_and_other_units_of_time():
    for few in ([], ["2020-01-31"], ["2021-02-01", "2021-03-01"]):  # 28 days: four weeks or a February?
        with pytest.raises(ValueError, match="cannot infer a frequency from"):
            infer_freq(few)
    days = pd.date_range("2020-01-01", periods=40, freq="D")
    assert infer_freq(days.as_unit("us")) == infer_freq(days.as_unit("s")) == "D"
    with pytest.raises(ValueError, match="30 minutes"):
        infer_freq(pd.date_range("2020-01-01", periods=60, freq="30min"))


def test_hours_across_a_daylight_saving_change_are_counted_in_utc():
    hours = pd.date_range("2020-03-28", periods=72, freq="h", tz="Europe/Berlin")  # 02:00 on the 29th is skipped
    out = regularize(pd.DataFrame({"date": hours, "units": 1.0}), "h", hours[-1])
    assert len(out) == 72 and (out["units"] == 1.0).all()
    local_days = pd.date_range("2020-03-27", periods=5, freq="D", tz="Europe/Berlin")
    assert list(period_index(local_days, "D").day) == [27, 28, 29, 30, 31]  # dates keep their local day


def test_local_dates_and_hours_across_either_clock_change_are_inferred():
    autumn = pd.date_range("2024-10-26 20:00", "2024-10-28", freq="h", tz="Europe/Berlin")  # 02:00 twice
    assert infer_freq(autumn) == infer_panel_freq(autumn, [autumn]) == "h"
    # local midnights a fortnight apart across the spring change are 13 days 23 hours apart in UTC
    fortnights = pd.date_range("2024-03-03", periods=10, freq="14D", tz="Europe/Berlin")
    assert infer_freq(fortnights) == infer_freq(fortnights.tz_localize(None)) == "2W-SAT"
    out = regularize(pd.DataFrame({"date": fortnights, "units": 5.0}), "2W-SAT", fortnights[-1])
    assert len(out) == 10 and (out["units"] == 5.0).all()  # no zero weeks in between


def test_stores_reporting_fortnightly_on_alternate_weeks_make_a_fortnightly_panel():
    first = pd.date_range("2024-01-07", periods=20, freq="14D")
    second = first + pd.Timedelta(weeks=1)
    freq = infer_panel_freq(first.append(second), [first, second] * 2)  # the union alone looks weekly
    assert freq == "2W-SAT"
    for dates in (first, second):
        out = regularize(pd.DataFrame({"date": dates, "units": 10.0}), freq, dates[-1])
        assert (out["units"] == 10.0).all() and len(out) == 20  # one report per fortnight, no zeros between


def test_irregular_dates_are_refused_with_a_hint():
    with pytest.raises(ValueError, match="set the series frequency"):
        infer_freq(pd.to_datetime(["2024-01-01", "2024-01-11", "2024-01-21", "2024-01-31"]))


def test_the_engine_infers_a_panel_whose_stores_date_months_differently():
    from manymodels_assets.engine.series import infer_frequency
    from manymodels_assets_tests.servers import spark_session

    starts, ends = pd.date_range("2020-01-01", periods=24, freq="MS"), pd.date_range("2020-01-31", periods=24, freq="ME")
    raw = pd.concat([pd.DataFrame({"store_id": f"S{s}", "item_id": f"I{i}", "date": (starts if s % 2 else ends).date,
                                   "units": 1.0}) for s in range(6) for i in range(5)], ignore_index=True)
    assert infer_frequency(spark_session().createDataFrame(raw)) == "M"


RAW_COLUMNS = ["store_id", "item_id", "date", "units", "price", "promo", "drop"]


def _raw(stores, dates, units=1.0, drop="d1") -> pd.DataFrame:
    """raw_sales rows of item I1 in ``stores`` on ``dates``."""
    return pd.DataFrame([(s, "I1", d, units, 2.0, 0, drop) for s in stores for d in dates], columns=RAW_COLUMNS)


def _pairs(stores) -> pd.DataFrame:
    from manymodels_assets.forecasting.keys import encode_key

    return pd.DataFrame({"key": [encode_key(s, "I1") for s in stores], "store_id": list(stores), "item_id": "I1"})


def _lake(tmp_path):
    """A real Spark session and a local lake, and how to publish a raw_sales version in it."""
    from manymodels_assets import layout
    from manymodels_assets.engine.tables import stage_version
    from manymodels_assets.resources.lake import LakeResource
    from manymodels_assets_tests.servers import spark_session

    spark, lake = spark_session(), LakeResource(root=str(tmp_path / "lake"))

    def publish(raw: pd.DataFrame, run: str) -> None:
        lake.publish(layout.RAW_SALES, stage_version(lake, layout.RAW_SALES, spark.createDataFrame(raw), run,
                                                     partition_by=("store_id",), sort_by=("store_id",)))
    return spark, lake, publish


def test_a_run_that_would_mix_frequencies_in_the_series_table_is_refused(tmp_path):
    from manymodels_assets import layout
    from manymodels_assets.engine.series import update_series

    spark, lake, publish = _lake(tmp_path)
    stores = [f"S{s}" for s in range(4)]
    publish(_raw(stores, pd.date_range("2022-01-01", periods=24, freq="MS").date), "r0")
    pairs = _pairs(stores)
    assert update_series(spark, lake, pairs, "Auto", "zero", "r1").freq == "M"
    before = lake.current_version(layout.SERIES)
    with pytest.raises(ValueError, match=r"would be at frequency 'D' and the table's other store-items are at \['M'\]"):
        update_series(spark, lake, pairs.iloc[:2], "D", "zero", "r2")
    assert lake.current_version(layout.SERIES) == before  # nothing published
    assert update_series(spark, lake, pairs, "D", "zero", "r3").freq == "D"  # every store-item: a new frequency
    # a table written by an older release holds the spelling as configured (MS): the same period as M
    from manymodels_assets.engine.tables import stage_version
    from pyspark.sql import functions as F
    update_series(spark, lake, pairs, "M", "zero", "r4")
    older = spark.read.parquet(lake.spark_uri(layout.SERIES, lake.current_version(layout.SERIES)))
    lake.publish(layout.SERIES, stage_version(lake, layout.SERIES, older.withColumn("freq", F.lit("MS")), "r5"))
    # ... which trains as M, planned calendar and all (pandas periods refuse the spelling MS)
    from manymodels_assets.engine.training import Retraining, train_model_set
    from manymodels_assets.forecasting.config import TrainingConfig

    plan = _raw(stores, pd.date_range("2024-01-01", periods=6, freq="MS").date).drop(columns="units")
    lake.publish(layout.RAW_CALENDAR, stage_version(
        lake, layout.RAW_CALENDAR, spark.createDataFrame(plan, "store_id string, item_id string, date date, "
                                                               "price double, promo int, drop string"),
        "c1", partition_by=("store_id",), sort_by=("store_id",)))
    trained = train_model_set(spark, lake, pairs.iloc[:1], TrainingConfig(candidates=("seasonal_naive",)), "ms-old",
                              None, Retraining({}, None, "v1"))
    assert trained.summary["freq"].tolist() == ["M"] and "failed" not in trained.summary["status"].tolist()
    assert update_series(spark, lake, pairs.iloc[:2], "MS", "zero", "r6").freq == "M"


def test_a_deleted_partition_does_not_pin_the_series_tables_frequency(tmp_path):
    """A store-item whose partition was deleted in the UI can never be selected again: its series
    are dropped at the next build, so rebuilding every partition can still change the frequency."""
    from manymodels_assets import layout
    from manymodels_assets.engine.series import update_series

    spark, lake, publish = _lake(tmp_path)
    stores = [f"S{s}" for s in range(3)]
    publish(_raw(stores, pd.date_range("2022-01-01", periods=24, freq="MS").date), "r0")
    pairs = _pairs(stores)
    update_series(spark, lake, pairs, "auto", "zero", "r1", live_keys=lambda: list(pairs["key"]))
    live = pairs.iloc[:2]  # S2's partition deleted: every partition is now S0 and S1
    with pytest.raises(ValueError, match="other store-items are at"):
        update_series(spark, lake, live, "D", "zero", "r2")  # without knowing the partitions: pinned
    built = update_series(spark, lake, live, "D", "zero", "r3", live_keys=lambda: list(live["key"]))
    table = spark.read.parquet(lake.spark_uri(layout.SERIES, built.version)).toPandas()
    assert set(table["key"]) == set(live["key"]) and set(table["freq"]) == {"D"}
    # a partial rebuild still keeps the other live store-items, and still refuses to mix frequencies
    with pytest.raises(ValueError, match=r"other store-items are at \['D'\]"):
        update_series(spark, lake, live.iloc[:1], "M", "zero", "r4", live_keys=lambda: list(live["key"]))
    kept = update_series(spark, lake, live.iloc[:1], "D", "zero", "r5", live_keys=lambda: list(live["key"]))
    assert set(spark.read.parquet(lake.spark_uri(layout.SERIES, kept.version)).toPandas()["key"]) == set(live["key"])

    def asked_under_the_lock() -> list[str]:
        # a run that published while this one waited for the lock may hold a store-item added since
        # this run started: the partitions are asked for once the lock is ours
        import fcntl
        fd = os.open(os.path.join(lake.root, layout.LOCKS, layout.SERIES.replace("/", "_") + ".lock"), os.O_RDWR)
        try:
            with pytest.raises(BlockingIOError):
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        finally:
            os.close(fd)
        return list(live["key"])

    update_series(spark, lake, live.iloc[:1], "D", "zero", "r6", live_keys=asked_under_the_lock)


@pytest.mark.parametrize("end, freq, data_freq, open_days, complete", [
    ("2024-06-03", "M", "D", range(7), "2024-05-31"),          # June 1-3 of daily sales: June waits
    ("2024-06-30", "M", "D", range(7), "2024-06-30"),          # the month's last day: June is whole
    ("2024-06-29", "M", "D", range(6), "2024-06-29"),          # closed on Sundays, June 30 is one
    ("2024-06-28", "M", "D", range(6), "2024-05-31"),          # Saturday June 29 is still to come
    ("2024-06-29", "W-SUN", "D", range(6), "2024-06-29"),      # Monday-Saturday shops, weeks to Sunday
    ("2024-06-27", "W-SUN", "D", range(6), "2024-06-23"),
    ("2024-04-01", "Q-DEC", "M", range(7), "2024-03-31"),      # April of monthly data: Q2 waits
    ("2024-06-01", "Q-DEC", "M", range(7), "2024-06-01"),      # June's report closes Q2
    ("2024-06-23", "M", "W-SAT", range(7), "2024-05-31"),      # Sunday-dated weeks: June 30 still to come
    ("2024-06-30", "M", "W-SAT", range(7), "2024-06-30"),
    ("2024-05-15", "3M", "D", range(7), "2024-03-31"),         # multiples are aligned on the epoch: Apr-Jun
    ("2024-06-03", "D", "D", range(7), "2024-06-03"),
    ("2026-07-19", "M", "2W-SAT", range(7), "2026-07-19"),     # fortnightly: next report Aug 2, July is whole
    ("2026-07-12", "M", "2W-SAT", range(7), "2026-06-30"),     # next report Jul 26: July waits
    ("2024-06-24", "W-SUN", "D", (0, 2, 4), "2024-06-23"),     # Mon/Wed/Fri shops: Wed and Fri to come
])
def test_the_last_complete_period(end, freq, data_freq, open_days, complete):
    from manymodels_assets.forecasting.frequency import last_complete_day

    assert str(last_complete_day(end, freq, data_freq, open_days)) == complete


def test_daily_sales_set_to_months_wait_for_the_month_to_complete(tmp_path):
    from manymodels_assets import layout
    from manymodels_assets.engine.series import update_series

    spark, lake, publish = _lake(tmp_path)
    days = pd.date_range("2023-01-01", "2024-06-03", freq="D")
    stores = ["S0", "S1"]
    raw = _raw(stores, days[days.weekday < 6].date, units=10.0)  # closed on Sundays
    publish(raw, "r0")
    pairs = _pairs(stores)
    built = update_series(spark, lake, pairs, "MS", "zero", "r1")
    assert (built.freq, str(built.end)) == ("M", "2024-05-31")
    assert built.held_back == "rows from 2024-06-01 to 2024-06-03 wait for their M period to complete"
    series = spark.read.parquet(lake.spark_uri(layout.SERIES, built.version)).toPandas()
    assert str(series["date"].max()) == "2024-05-01" and series["units"].min() > 200  # no partial June
    assert update_series(spark, lake, pairs, "auto", "zero", "r2").held_back == ""  # daily: D, nothing waits
    # through Saturday June 29 with Sunday June 30 closed: June is whole
    more = pd.date_range("2024-06-04", "2024-06-29", freq="D")
    publish(pd.concat([raw, _raw(stores, more[more.weekday < 6].date, units=10.0, drop="d2")]), "r3")
    built = update_series(spark, lake, pairs, "MS", "zero", "r4")
    assert (str(built.end), built.held_back) == ("2024-06-29", "")


def test_a_panel_too_irregular_to_infer_still_waits_for_whole_periods(tmp_path):
    """Shops open Monday, Wednesday and Friday: "auto" cannot name the frequency (gaps of 2 and 3
    days), so the team sets weeks by hand; the week that has only its Monday is not built yet."""
    from manymodels_assets import layout
    from manymodels_assets.engine.series import update_series

    spark, lake, publish = _lake(tmp_path)
    days = pd.date_range("2024-01-01", "2024-06-24", freq="D")
    publish(_raw(["S1"], days[days.weekday.isin([0, 2, 4])].date, units=10.0), "r0")
    pairs = _pairs(["S1"])
    with pytest.raises(ValueError, match="cannot infer a frequency"):
        update_series(spark, lake, pairs, "auto", "zero", "r1")
    built = update_series(spark, lake, pairs, "W-SUN", "zero", "r2")
    assert (str(built.end), built.held_back) == (
        "2024-06-23", "rows from 2024-06-24 to 2024-06-24 wait for their W-SUN period to complete")
    series = spark.read.parquet(lake.spark_uri(layout.SERIES, built.version)).toPandas()
    assert series["units"].min() == 30.0  # every built week whole: Monday, Wednesday and Friday
    # monthly reports on irregular days (also set by hand) are not days: taken as they come
    reports = pd.to_datetime(["2024-01-05", "2024-02-12", "2024-03-03", "2024-04-20", "2024-05-09", "2024-06-14"])
    publish(_raw(["S1"], reports.date, units=10.0, drop="d2"), "r3")
    built = update_series(spark, lake, pairs, "Q", "zero", "r4")
    assert (str(built.end), built.held_back) == ("2024-06-14", "")


def test_report_dates_auto_cannot_name_are_days_only_when_a_few_days_apart():
    from manymodels_assets.forecasting.inference import report_freq

    days = pd.date_range("2024-05-01", "2024-06-24", freq="D")
    assert report_freq(days[days.weekday.isin([0, 2, 4])]) == "D"  # Mon/Wed/Fri shops
    assert report_freq(["2024-05-09", "2024-06-14"]) is None  # too few to say
    assert report_freq(["2024-01-05", "2024-02-12", "2024-03-03", "2024-04-20", "2024-05-09"]) is None  # monthly


def test_a_late_store_ends_at_its_own_last_date_and_a_stopped_one_is_zero_filled(tmp_path):
    """Stores' feeds arrive on different days: S1's last two days are not in yet. Taken for zero
    sales they would drag its forecasts down (a naive forecast of a fake zero day is zero). S2 has
    sold nothing for three weeks: it stopped, and its zeros are real."""
    from manymodels_assets import layout
    from manymodels_assets.engine.series import update_series
    from manymodels_assets.engine.training import calendar_rows, plan_after

    spark, lake, publish = _lake(tmp_path)
    days = pd.date_range("2024-01-01", "2024-06-30", freq="D")  # ends on a Sunday
    weekdays = days[days.weekday < 6].date  # S3 closes on Sundays: its Sunday zero is real
    days = days.date
    publish(pd.concat([_raw(["S0"], days, 10.0), _raw(["S1"], days[:-2], 10.0), _raw(["S2"], days[:-21], 10.0),
                       _raw(["S3"], weekdays, 10.0)]), "r0")
    pairs = _pairs(["S0", "S1", "S2", "S3"])

    def built_series(version):
        series = spark.read.parquet(lake.spark_uri(layout.SERIES, version)).toPandas()
        return series, series.groupby("store_id")["date"].max().astype(str).to_dict()

    built = update_series(spark, lake, pairs, "auto", "zero", "r1")
    series, ends = built_series(built.version)
    assert ends == {"S0": "2024-06-30", "S1": "2024-06-28", "S2": "2024-06-30", "S3": "2024-06-30"}
    assert series.loc[series["store_id"] == "S1", "units"].min() == 10.0  # no fake zero days
    assert (series.loc[series["store_id"] == "S2", "units"].tail(21) == 0).all()
    assert built.behind[["store_id", "periods_behind"]].values.tolist() == [["S1", 2], ["S2", 21]]
    assert built.behind["series"].tolist() == ["end in 2024-06-28 (late)", "zero-filled to 2024-06-30 (stopped)"]
    # the late store's planned calendar reaches back to the day after its own last date, and the
    # core reads its whole horizon from it (by date: the rows before a series' end are ignored)
    from manymodels_assets.forecasting.calendar import history_and_calendar_regressors

    plan = pd.DataFrame([(s, "I1", d, 1.5, 1) for s in ("S0", "S1") for d in pd.date_range("2024-06-29", periods=40).date],
                        columns=["store_id", "item_id", "date", "price", "promo"])
    planned = calendar_rows(spark.createDataFrame(plan), spark.createDataFrame(pairs),
                            plan_after(pd.Timestamp("2024-06-30").date(), "D")).toPandas()
    late = series[series["store_id"] == "S1"].assign(promo=lambda f: (f["date"].map(lambda d: d.day) == 1).astype(int))
    _, X_calendar, note = history_and_calendar_regressors(late, planned[planned["store_id"] == "S1"],
                                                          pd.Period("2024-06-28", "D"), 28, "D")
    assert X_calendar is not None and len(X_calendar) == 28 and X_calendar["promo"].eq(1).all(), note
    # 0: every series to the raw data's last date, the missing days zero
    series, ends = built_series(update_series(spark, lake, pairs, "auto", "zero", "r2", late_periods=0).version)
    assert set(ends.values()) == {"2024-06-30"} and series.loc[series["store_id"] == "S1", "units"].tail(2).sum() == 0
    # monthly reports: a store whose December report is not in yet is one month late
    spark, lake, publish = _lake(tmp_path / "monthly")
    months = pd.date_range("2023-01-01", "2023-12-01", freq="MS").date
    publish(pd.concat([_raw(["S0"], months, 10.0), _raw(["S1"], months[:-1], 10.0)]), "r3")
    built = update_series(spark, lake, pairs.iloc[:2], "auto", "zero", "r4")
    assert built.freq == "M" and built_series(built.version)[1] == {"S0": "2023-12-01", "S1": "2023-11-01"}


ALL_WEEK = tuple(range(7))


@pytest.mark.parametrize("last, end, freq, data_freq, open_days, series_end, status", [
    # daily: up to a week behind is late, more is stopped
    ("2025-12-29", "2025-12-31", "D", "D", ALL_WEEK, "2025-12-29", "late"),
    ("2025-12-24", "2025-12-31", "D", "D", ALL_WEEK, "2025-12-24", "late"),
    ("2025-12-23", "2025-12-31", "D", "D", ALL_WEEK, "2025-12-31", "stopped"),
    # closed on Sundays, the panel ends on a Sunday: its zero is real, the store is on time
    ("2025-12-27", "2025-12-28", "D", "D", (0, 1, 2, 3, 4, 5), "2025-12-28", "on time"),
    # monthly and quarterly reports: one report behind is late whatever the months' lengths
    ("2024-01-01", "2024-02-01", "M", "M", ALL_WEEK, "2024-01-01", "late"),
    ("2024-05-01", "2024-06-01", "M", "M", ALL_WEEK, "2024-05-01", "late"),
    ("2023-12-01", "2024-02-01", "M", "M", ALL_WEEK, "2024-02-01", "stopped"),
    ("2024-10-01", "2025-01-01", "Q-DEC", "Q-DEC", ALL_WEEK, "2024-10-01", "late"),
    # weekly, stores reporting on Sundays and Mondays (one week): the Sunday store's report is not in
    ("2024-06-23", "2024-07-01", "W-SAT", "W-SAT", ALL_WEEK, "2024-06-23", "late"),
    ("2024-06-30", "2024-07-01", "W-SAT", "W-SAT", ALL_WEEK, "2024-07-01", "on time"),
    # daily sales into weeks by hand: a store stopping on Thursday ends at its own last whole week
    ("2024-06-27", "2024-06-30", "W-SUN", "D", ALL_WEEK, "2024-06-23", "late"),
    # ... unless it does not open on the days after: then its week is whole
    ("2024-06-27", "2024-06-30", "W-SUN", "D", (0, 1, 2, 3), "2024-06-30", "on time"),
    # monthly reports on irregular days (no nameable frequency): periods of the series, one behind is late
    ("2024-05-09", "2024-06-14", "Q", None, ALL_WEEK, "2024-06-14", "on time"),
    ("2024-03-03", "2024-06-14", "Q", None, ALL_WEEK, "2024-03-03", "late"),
    # multiples: one report of fortnightly or quarter-yearly data; 7D is a week, not seven periods
    ("2024-06-15", "2024-06-29", "2W-SAT", "2W-SAT", ALL_WEEK, "2024-06-15", "late"),
    ("2024-03-31", "2024-06-30", "3M", None, ALL_WEEK, "2024-03-31", "late"),
    ("2024-06-23", "2024-06-30", "7D", None, ALL_WEEK, "2024-06-23", "late"),
    ("2024-05-12", "2024-06-30", "7D", None, ALL_WEEK, "2024-06-30", "stopped"),
    # weekly data: the days a store opens on do not matter, its report does
    ("2024-06-22", "2024-06-29", "W-SAT", "W-SAT", (0,), "2024-06-22", "late"),
    # no sales for over 8 weeks, so no open weekdays to judge by: stopped, and listed
    ("2024-04-21", "2024-06-30", "D", "D", (), "2024-06-30", "stopped"),
])
def test_a_store_behind_is_late_for_a_week_of_days_or_one_report(last, end, freq, data_freq, open_days,
                                                                    series_end, status):
    import datetime as dt

    from manymodels_assets.forecasting.series import store_ends

    last, end = dt.date.fromisoformat(last), dt.date.fromisoformat(end)
    ends, behind = store_ends({"S": (last, open_days)}, end, end, freq, data_freq)
    assert str(ends["S"]) == series_end
    assert (behind["series"].str.extract(r"\((\w[\w ]*)\)$")[0].tolist() or ["on time"]) == [status]
    assert store_ends({"S": (last, open_days)}, end, end, freq, data_freq, late_periods=0)[0] == {"S": end}


def test_with_periods_waiting_a_store_is_behind_the_last_complete_one():
    """Daily sales summed into months, June whole and July 1-3 waiting: lateness is judged against
    June 30, where the on-time stores' series end."""
    import datetime as dt

    from manymodels_assets.forecasting.series import store_ends

    feeds = {"on time": (dt.date(2024, 7, 1), ALL_WEEK), "late": (dt.date(2024, 6, 27), ALL_WEEK),
             "stopped": (dt.date(2024, 6, 20), ALL_WEEK), "closed on Sundays": (dt.date(2024, 6, 29), (0, 1, 2, 3, 4, 5))}
    ends, behind = store_ends(feeds, dt.date(2024, 7, 3), dt.date(2024, 6, 30), "M", "D")
    assert {k: str(v) for k, v in ends.items()} == {"on time": "2024-06-30", "late": "2024-05-31",
                                                    "stopped": "2024-06-30", "closed on Sundays": "2024-06-30"}
    assert behind.values.tolist() == [["late", dt.date(2024, 6, 27), 3, "end in 2024-05 (late)"],
                                      ["stopped", dt.date(2024, 6, 20), 10, "zero-filled to 2024-06 (stopped)"]]


def test_the_series_run_lists_the_stores_behind_in_its_metadata(tmp_path):
    """What a person sees in the UI: the series run's stores_behind table and its log line."""
    import dagster as dg

    from manymodels_assets.assets.series import store_item_series
    from manymodels_assets.resources.spark import spark_resource

    spark, lake, publish = _lake(tmp_path)
    days = pd.date_range("2024-05-01", "2024-06-30", freq="D").date
    publish(pd.concat([_raw(["S0"], days, 10.0), _raw(["S1"], days[:-2], 10.0), _raw(["S2"], days[:-21], 10.0)]), "r0")
    instance = dg.DagsterInstance.ephemeral()
    keys = _pairs(["S0", "S1", "S2"])["key"].tolist()
    instance.add_dynamic_partitions("store_item", keys)
    result = dg.materialize([store_item_series], instance=instance, partition_key=keys[1],
                            resources={"lake": lake, "spark": spark_resource(master="local[2]", driver_memory="2g")})
    metadata = result.asset_materializations_for_node("store_item_series")[0].metadata
    rows = [[cell.strip() for cell in line.strip("|").split("|")] for line in metadata["stores_behind"].value.splitlines()]
    # only the run's own stores: this run built S1's series alone, so S2 is not its concern
    assert rows[2:] == [["S1", "2024-06-28", "2", "end in 2024-06-28 (late)"]]
    logs = [r.user_message or "" for r in instance.all_logs(result.run_id)]
    assert any("1 stores' feeds are behind the raw data's last date: 1 late, 0 stopped" in m for m in logs), logs
