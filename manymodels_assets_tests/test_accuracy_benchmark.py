"""The accuracy report's machinery on a small synthetic weekly panel (the real data is not in
the repository; `make accuracy` runs it). Not a timing test."""
import numpy as np
import pandas as pd

from benchmarks.accuracy import TABLE_CANDIDATES, run_panel
from benchmarks.panels import Panel
from benchmarks.report import paired_spread, render


def weekly_panel(stores=4, weeks=110, seed=0) -> Panel:
    rng = np.random.default_rng(seed)
    frames = []
    for s in range(stores):
        for brand in ("brand01", "brand02"):
            dates = pd.date_range("1990-01-04", periods=weeks, freq="7D")  # Thursdays, like Dominick's
            price = np.where(rng.random(weeks) < 0.2, 2.0, 2.5)
            promo = (rng.random(weeks) < 0.15).astype(int)
            units = rng.poisson(200 * (price / 2.5) ** -3 * np.where(promo == 1, 2.0, 1.0)).astype(float)
            keep = rng.random(weeks) > 0.05  # some unreported weeks
            keep[-13:] = True
            frames.append(pd.DataFrame({"store_id": str(s), "item_id": brand, "date": dates, "units": units,
                                        "price": price, "promo": promo})[keep])
    return Panel("synthetic_weekly", pd.concat(frames, ignore_index=True), "W-WED", "interpolate", "synthetic")


def test_report_has_every_method_the_cold_starts_and_the_targets():
    result = run_panel(weekly_panel(), None, None, costly_sample=2, log=lambda m: None)
    rows = result["rows"]
    scored = set(rows.loc[rows["mase"].notna(), "method"])
    assert {"selection", "selection (first run)", "statsforecast AutoETS (direct)"} <= scored
    assert set(TABLE_CANDIDATES) - {"auto_arima", "mstl"} <= scored  # the costly ones ran on 2 series
    assert (rows.loc[rows["method"] == "auto_arima", "key"].nunique()) == 2
    assert rows["seconds"].gt(0).all()
    cold = result["cold"]
    assert len(cold) == 8 and (cold["status"] == "cold_start").all() and cold["coverage"].between(0, 1).all()
    assert result["prior"].meta  # learned from the first run's backtests
    text = render([result], workers=1)
    for needle in ("| selection ", "| seasonal_naive", "selection vs seasonal naive",
                   "selection vs best single candidate", "statsforecast AutoETS run directly",
                   "95% coverage, cold starts", "default training cost per series", "paired bootstrap",
                   "the first run's backtests rank best", "best single candidate by backtest"):
        assert needle in text
    ranking = result["backtest_ranking"]  # the first run's defaults, best first
    assert set(ranking) == set(result["defaults"]) and list(ranking.values()) == sorted(ranking.values())
    # price and promotion drive these series: the regression beats seasonal naive
    mase = rows.groupby("method")["mase"].mean()
    assert mase["regression"] < mase["seasonal_naive"]


def test_the_gain_over_a_candidate_comes_with_its_wins_losses_and_spread():
    rng = np.random.default_rng(1)
    other = rng.uniform(0.5, 1.5, 200)

    def rows(selection):
        return pd.DataFrame({"key": np.tile(np.arange(200), 2), "method": ["selection"] * 200 + ["other"] * 200,
                             "mase": np.concatenate([selection, other])})

    sure = paired_spread(rows(other * 0.9), "selection", "other")
    assert (sure["wins"], sure["losses"]) == (200, 0)
    assert 9.9 < sure["low"] <= sure["high"] < 10.1  # 10% better on every series: no doubt
    noisy = paired_spread(rows(other * rng.uniform(0.7, 1.3, 200)), "selection", "other")
    assert 60 < noisy["wins"] < 140 and noisy["low"] < 0 < noisy["high"]  # a coin toss: the interval says so
