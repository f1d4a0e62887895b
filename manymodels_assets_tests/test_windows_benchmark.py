"""The earlier-windows benchmark on a small synthetic weekly panel, through the real first run
(the real data is not in the repository). Not a timing test."""
import json

import numpy as np

from benchmarks import windows
from benchmarks.evaluate import first_run_backtests
from benchmarks.windows import bootstrap, compare, fold_errors
from manymodels_assets.forecasting.config import TrainingConfig
from manymodels_assets_tests.test_accuracy_benchmark import weekly_panel


def test_each_fold_is_scored_with_a_combination_learned_on_the_folds_before_it(monkeypatch):
    payloads = first_run_backtests(weekly_panel(stores=12), None, config=TrainingConfig(n_folds=4))
    assert len(payloads) == 24 and all(p["fold"][-1] == 4 for p in payloads.values())
    table = compare(payloads)
    assert list(table["fold"]) == [2, 3, 4] and (table["series"] == 24).all()
    for _, row in table.iterrows():
        singles = fold_errors(payloads, row["fold"], None).mean()
        best, mase = row["best on the fold"].split()
        # the fold's best single candidate is the lowest of them all on that fold, recomputed here
        assert best == singles.idxmin() and float(mase) == round(singles.min(), 4)
        assert np.isclose(row["gain"], 1 - row["combination"] / singles.min())
        assert 0.05 < row["combination"] < 5

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
    low, high = bootstrap(0.9 * theirs, theirs)  # 10% better on every series: no spread at all
    assert np.isclose(low, 0.1) and np.isclose(high, 0.1)
    rng = np.random.default_rng(1)
    low, high = bootstrap(theirs * rng.uniform(0.7, 1.1, 50), theirs)
    assert low < 0.1 < high
