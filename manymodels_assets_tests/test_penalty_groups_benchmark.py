"""The penalty-groups benchmark on a small synthetic weekly panel, through the real first run
(the real data is not in the repository). Not a timing test."""
import numpy as np

from benchmarks.evaluate import first_run_backtests
from benchmarks.penalty_groups import WAYS, compare
from manymodels_assets_tests.test_accuracy_benchmark import weekly_panel


def test_the_ways_of_drawing_the_penalty_groups_on_a_first_runs_backtests():
    payloads = first_run_backtests(weekly_panel(stores=12), None)
    assert len(payloads) == 24
    # folds are numbered back from the latest, so the time-forward protocol lines them up
    assert all(p["fold"][-1] == 3 and len(p["fold"]) == len(p["actual"]) for p in payloads.values())
    table = compare(payloads, draws=2)
    assert list(table["way"]) == list(WAYS)
    for side in ("halves", "forward"):
        assert table[f"{side} mean"].between(0.05, 5).all()
        assert (table[f"{side} low"] <= table[f"{side} mean"] + 1e-12).all()
        assert (table[f"{side} mean"] <= table[f"{side} high"] + 1e-12).all()
    assert table["penalties (time forward)"].str.contains(" x").all()

    # renaming the candidates changes nothing a way that orders by content learns
    rename = {n: f"z{i}_{n}" for i, n in enumerate(sorted(next(iter(payloads.values()))["forecast"]))}
    renamed = {k: {**p, "forecast": {rename[n]: v for n, v in p["forecast"].items()}} for k, p in payloads.items()}
    again = compare(renamed, draws=2)
    content = table["way"].str.contains("content")
    columns = ["halves mean", "halves low", "halves high", "forward mean", "forward low", "forward high"]
    np.testing.assert_allclose(again.loc[content, columns].to_numpy(float), table.loc[content, columns].to_numpy(float),
                               atol=1e-6)
