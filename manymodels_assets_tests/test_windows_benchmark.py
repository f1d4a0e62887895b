"""The earlier-windows benchmark on a small synthetic weekly panel, through the real first run
(the real data is not in the repository). Not a timing test."""
import json

import numpy as np
import pandas as pd

from benchmarks import windows
from benchmarks.evaluate import first_run_backtests
from benchmarks.report import bootstrap_gain
from benchmarks.windows import compare, fold_errors
from manymodels_assets.forecasting.config import TrainingConfig
from manymodels_assets_tests.test_accuracy_benchmark import weekly_panel


def test_each_fold_is_scored_with_a_combination_learned_on_the_folds_before_it(monkeypatch):
    payloads = first_run_backtests(weekly_panel(stores=12), None, config=TrainingConfig(n_folds=4))
    assert len(payloads) == 24 and all(p["fold"][-1] == 4 for p in payloads.values())
    table = compare(payloads)
    assert list(table["fold"]) == [2, 3, 4] and (table["series"] == 24).all()
    for _, row in table.iterrows():
        fold = row["fold"]
        per_series = fold_errors(payloads, fold, None)
        singles = per_series.mean()
        best, mase = row["best on the fold"].split()
        # the fold's best single candidate is the lowest of them all on that fold, recomputed here
        assert best == singles.idxmin() and float(mase) == round(singles.min(), 4)
        assert np.isclose(row["gain"], 1 - row["combination"] / singles.min())
        # a weighted mean of forecasts errs no more than its worst member, series by series
        assert 0.05 < row["combination"] <= per_series.max(axis=1).mean() + 1e-12
        # the candidate ranked in advance is the best on the folds before this one only
        before = pd.concat([fold_errors(payloads, f, None) for f in range(max(1, fold - 3), fold)]).mean()
        assert row["best on the earlier folds"].split()[0] == before.idxmin()
        assert np.isclose(row["gain over it"], 1 - row["combination"] / singles[before.idxmin()])

    # each combination is learned from the folds before its own (all three here), and nothing else
    seen = []
    learn = windows.combination.learn_prior

    def spy(texts, *args, **kwargs):
        seen.append([json.loads(t)["actual"] for t in texts])
        return learn(texts, *args, **kwargs)

    monkeypatch.setattr(windows.combination, "learn_prior", spy)
    again = compare(payloads)
    np.testing.assert_allclose(again["combination"], table["combination"])
    actuals = [p["actual"] for p in payloads.values()]
    assert seen == [[a[:t - 1] for a in actuals] for t in (2, 3, 4)]
    seen.clear()
    compare(payloads, learn_from=2)  # a sliding window: fold 4's from folds 2 and 3 only
    assert seen == [[a[max(0, t - 3):t - 1] for a in actuals] for t in (2, 3, 4)]


def test_the_bootstrap_is_paired_over_the_series():
    theirs = np.linspace(1.0, 2.0, 50)
    low, high = bootstrap_gain(0.9 * theirs, theirs)  # 10% better on every series: no spread at all
    assert np.isclose(low, 0.1) and np.isclose(high, 0.1)
    rng = np.random.default_rng(1)
    low, high = bootstrap_gain(theirs * rng.uniform(0.7, 1.1, 50), theirs)
    assert low < 0.1 < high


def test_the_candidate_ranked_in_advance_is_ranked_without_the_fold_it_is_scored_on():
    # "a" is the better candidate on folds 1 and 2 and far the worse on fold 3
    rng = np.random.default_rng(0)
    payloads = {}
    for k in range(30):
        actual = [[10.0] * 4 for _ in range(3)]
        payloads[f"s{k}"] = {"fold": [1, 2, 3], "actual": actual, "scale": [1.0] * 3,
                             "features": [rng.normal(size=6).tolist() for _ in range(3)],
                             "forecast": {"a": [[10.5] * 4, [10.5] * 4, [20.0] * 4],
                                          "b": [[11.0] * 4, [11.0] * 4, [10.2] * 4]}}
    last = compare(payloads).set_index("fold").loc[3]
    assert last["best on the fold"] == "b 0.2000" and last["best on the earlier folds"] == "a 10.0000"
