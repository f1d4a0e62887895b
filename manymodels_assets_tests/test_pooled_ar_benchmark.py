"""The pooled autoregression benchmark's tables on a small synthetic quarterly panel (the tourism
data is not in the repository). Not a timing test."""
import numpy as np

from benchmarks import pooled_ar
from manymodels_assets_tests.test_reconciliation_benchmark import panel


def test_the_tables_on_a_small_quarterly_panel(monkeypatch):
    monkeypatch.setattr(pooled_ar, "SETTINGS", {k: pooled_ar.SETTINGS[k] for k in ("log-5-item", "level-2-all")})
    printed = []
    tables = pooled_ar.run(panel(quarters=56), "Q-DEC", "zero", held_out=("log-5-item",), workers=1, relabel=2,
                           candidates=("seasonal_naive", "theta"), out=printed.append)
    alone, combined = tables["alone"], tables["combination"]
    assert list(alone["setting"]) == ["log-5-item", "level-2-all", "seasonal_naive", "theta"]
    assert alone[["fold 1", "fold 2", "fold 3"]].notna().all().all() and alone["all folds"].between(0.1, 5).all()
    assert list(combined["candidates"]) == ["defaults", "+ log-5-item", "+ level-2-all"]
    assert combined[["series halves", "time forward"]].notna().all().all()
    # the rule's column says what the two percentages say
    for _, row in combined.iloc[1:].iterrows():
        passes = (row["series halves"] <= 0.997 * combined["series halves"][0]
                  and row["time forward"] <= 0.997 * combined["time forward"][0])
        assert row["both >= 0.3%"] == passes
    # names are not data: every relabelling learns the same combination as table 2
    relabelled = tables["relabelled"]
    assert len(relabelled) == 2 and (relabelled.drop(columns="relabelling").nunique() == 1).all()
    assert relabelled["defaults: halves"][0] == combined["series halves"][0]
    assert relabelled["defaults: time forward"][0] == combined["time forward"][0]
    held = tables["held_out"]
    assert list(held["forecast"]) == ["seasonal_naive", "theta", "combination", "log-5-item alone",
                                      "combination + log-5-item"]
    assert held["mean MASE"].between(0.1, 5).all()
    assert "a diagnosis, not a decision" in "\n".join(printed)


def test_a_fold_of_the_benchmark_never_sees_the_periods_after_its_origin():
    frame = panel()
    from benchmarks.reconciliation import bottom_series

    B, _, items, index = bottom_series(frame, "Q-DEC", "zero")
    settings, group = pooled_ar.SETTINGS["log-5-item"]
    before = pooled_ar.pooled_forecasts(B, index, items, 30, 8, 4, settings, group)
    changed = B.copy()
    changed[:, 30:] *= 10
    np.testing.assert_allclose(pooled_ar.pooled_forecasts(changed, index, items, 30, 8, 4, settings, group), before)
