"""The accuracy report's machinery on a small synthetic weekly panel (the real data is not in
the repository; `make accuracy` runs it). Not a timing test."""
import numpy as np
import pandas as pd

from benchmarks.accuracy import HOLDOUT, evaluate, report


def weekly_panel(n_series=4, weeks=110, seed=0):
    rng = np.random.default_rng(seed)
    frames = {}
    for s in range(n_series):
        dates = pd.date_range("1990-01-04", periods=weeks, freq="7D")  # Thursdays, like Dominick's
        price = np.where(rng.random(weeks) < 0.2, 2.0, 2.5)
        promo = (rng.random(weeks) < 0.15).astype(int)
        units = rng.poisson(200 * (price / 2.5) ** -3 * np.where(promo == 1, 2.0, 1.0)).astype(float)
        keep = rng.random(weeks) > 0.05  # some unreported weeks
        keep[-HOLDOUT - 1:] = True
        frames[f"{s}~brand01"] = pd.DataFrame({"date": dates, "units": units, "price": price, "promo": promo})[keep]
    return frames


def test_report_has_every_method_and_the_targets():
    candidates = ["seasonal_naive", "ets", "tsb", "regression"]
    rows = pd.DataFrame([r for key, frame in weekly_panel().items()
                         for r in evaluate((key, frame, candidates, "W-WED",
                                            {"n_folds": 3, "combine_top": 2, "metric": "mase"}, None, False))])
    assert set(rows["method"]) == {"selection", "naive", "seasonal_naive", "ets", "tsb", "regression"}
    text = report(rows, elapsed=1.0, n_series=4, workers=1)
    for needle in ("| selection", "| naive", "| seasonal_naive", "selection vs seasonal naive",
                   "selection vs best single candidate", "95% interval coverage", "oracle"):
        assert needle in text
    sel = rows[rows["method"] == "selection"]
    assert sel["coverage"].between(0, 1).all() and (sel["mase"] > 0).all()
    # price and promotion drive these series: the regression beats seasonal naive
    mase = rows.groupby("method")["mase"].mean()
    assert mase["regression"] < mase["seasonal_naive"]
