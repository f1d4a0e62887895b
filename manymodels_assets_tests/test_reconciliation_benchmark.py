"""The reconciliation benchmark's maths, and its tables on a small synthetic grouped panel (the
tourism data is not in the repository). Not a timing test."""
import numpy as np
import pandas as pd
import pytest

from benchmarks.reconciliation import (grouped_problem, grouped_wls, reconcile, residual_variances, run,
                                       shrink_covariance, structural_variances, summing_matrix)


def grid(n_stores, n_items):
    stores = np.repeat([f"store {k}" for k in range(n_stores)], n_items)
    items = np.tile([f"item {k}" for k in range(n_items)], n_stores)
    return summing_matrix(stores, items)[0]


def assert_coherent(S, nodes, n_stores, n_items):
    """Every aggregate of the node forecasts is the sum of the bottom ones under it."""
    bottom = nodes[1 + n_stores + n_items:].reshape(n_stores, n_items, -1)
    np.testing.assert_allclose(nodes[0], bottom.sum((0, 1)), rtol=1e-10)
    np.testing.assert_allclose(nodes[1:1 + n_stores], bottom.sum(1), rtol=1e-10)
    np.testing.assert_allclose(nodes[1 + n_stores:1 + n_stores + n_items], bottom.sum(0), rtol=1e-10)


@pytest.mark.parametrize("n_stores, n_items", [(7, 5), (5, 7)])  # either grouping is the one eliminated
def test_the_closed_form_is_the_dense_weighted_least_squares(n_stores, n_items):
    rng = np.random.default_rng(n_stores)
    S = grid(n_stores, n_items)
    yhat, _ = grouped_problem(n_stores, n_items, 8, rng)
    variances = rng.uniform(0.1, 50, len(S))
    dense = np.linalg.solve(S.T @ np.diag(1 / variances) @ S, S.T @ np.diag(1 / variances) @ yhat)
    closed = grouped_wls(yhat, variances, n_stores, n_items)
    assert closed.shape == (n_stores * n_items, 8)
    np.testing.assert_allclose(closed, dense, rtol=0, atol=1e-10 * np.abs(dense).max())
    np.testing.assert_allclose(grouped_wls(yhat[:, 0], variances, n_stores, n_items), dense[:, 0],
                               rtol=0, atol=1e-10 * np.abs(dense).max())
    assert_coherent(S, S @ closed, n_stores, n_items)
    assert np.abs(closed - yhat[1 + n_stores + n_items:]).max() > 1e-3  # incoherent input: it did move


def test_every_reconciliation_is_coherent_and_keeps_coherent_forecasts():
    rng = np.random.default_rng(3)
    n_stores, n_items = 6, 4
    S = grid(n_stores, n_items)
    yhat, _ = grouped_problem(n_stores, n_items, 8, rng)
    E = rng.standard_normal((40, len(S))) * rng.uniform(0.5, 5, len(S))
    W, lam = shrink_covariance(E)
    assert 0 <= lam <= 1 and np.allclose(W, W.T) and np.all(np.linalg.eigvalsh(W) > 0)
    cov = E.T @ E / len(E)
    np.testing.assert_allclose(W, lam * np.diag(np.diag(cov)) + (1 - lam) * cov)
    coherent = S @ rng.uniform(1, 100, (S.shape[1], 8))
    for W in (structural_variances(S), residual_variances(E), W):
        bottom = reconcile(S, yhat, W)
        assert_coherent(S, S @ bottom, n_stores, n_items)
        # the normal equations of min (yhat - S b)' W^-1 (yhat - S b) hold
        Winv = np.diag(1 / W) if W.ndim == 1 else np.linalg.inv(W)
        np.testing.assert_allclose(S.T @ Winv @ (yhat - S @ bottom), 0, atol=1e-8 * np.abs(S.T @ Winv @ yhat).max())
        # forecasts that already add up are left as they are
        np.testing.assert_allclose(reconcile(S, coherent, W), coherent[-S.shape[1]:], rtol=1e-9)
    np.testing.assert_allclose(structural_variances(S)[:1 + n_stores + n_items], [24] + [4] * 6 + [6] * 4)


def test_the_states_hierarchy_adds_states_and_state_by_item():
    stores = ["a, X", "a, X", "b, X", "b, X", "c, Y", "c, Y"]
    items = ["p", "q"] * 3
    S, names = summing_matrix(stores, items, [s.split(", ")[-1] for s in stores])
    assert names[:3] == ["total", "state:X", "state:Y"]
    assert names[-6:] == [f"{s}|{i}" for s, i in zip(stores, items)]
    assert S.shape == (1 + 2 + 3 + 2 + 4 + 6, 6)
    np.testing.assert_array_equal(S[names.index("state x item:X|q")], [0, 1, 0, 1, 0, 0])


def panel(n_stores=5, n_items=4, quarters=40, seed=0) -> pd.DataFrame:
    """Seasonal quarterly sales with store and item levels and noise, on one calendar. 20 series:
    the fewest (series, fold) rows learn_prior learns a combination from, on one fold."""
    rng = np.random.default_rng(seed)
    dates = pd.period_range("2000Q1", periods=quarters, freq="Q-DEC").start_time
    season = np.array([1.0, 1.3, 0.8, 1.1])[np.arange(quarters) % 4]
    frames = []
    for s in range(n_stores):
        for i in range(n_items):
            units = rng.uniform(20, 200) * (1 + 0.01 * rng.normal() * np.arange(quarters)) * season \
                * rng.lognormal(0, 0.15, quarters)
            frames.append(pd.DataFrame({"store_id": f"store {s}, {'AB'[s % 2]}", "item_id": f"item {i}",
                                        "date": dates, "units": units}))
    return pd.concat(frames, ignore_index=True)


def test_the_tables_on_a_small_grouped_panel():
    printed = []
    tables = run(panel(), "Q-DEC", "zero", held_out=True, workers=1, candidates=("seasonal_naive", "auto_theta"),
                 out=printed.append)
    text = "\n".join(printed)
    t1 = tables["table1"]
    assert list(zip(t1["candidate"], t1["method"])) == [
        ("auto_theta", "base"), ("auto_theta", "WLS structural"), ("auto_theta", "WLS variance"),
        ("auto_theta", "MinT shrink"), ("seasonal_naive", "base (reference)")]
    assert list(t1.columns) == ["candidate", "method", "fold 1", "fold 2", "fold 3", "mean"]
    assert t1[["fold 1", "fold 2", "fold 3"]].notna().all().all() and t1["mean"].between(0.1, 5).all()
    assert list(tables["table2"]["candidates"]) == ["defaults", "+wlsv_*", "wlsv_* in place", "+mint_*",
                                                    "mint_* in place"]
    assert tables["table2"][["series halves", "time forward", "fold 2", "fold 3"]].notna().all().all()
    assert tables["table2"]["halves vs defaults"][0] == "+0.00%"
    assert list(tables["table3"]["forecast"]) == ["combination", "reconciled, W = diag MSE on earlier folds",
                                                  "reconciled, W = structural"]
    assert list(tables["table3"].columns[1:4]) == ["fold 2", "fold 3", "mean"]
    assert list(tables["heldout2"]["candidates"]) == list(tables["table2"]["candidates"])
    assert len(tables["heldout1"]) == 2 and len(tables["heldout3"]) == 3
    # 30 nodes: the total, 5 stores, 4 items, 20 series; the closed form checked on the panel itself
    assert "30 nodes (10 aggregates + 20 bottom series)" in text
    assert "| auto_theta     | MinT shrink" in text
    assert "a diagnosis, never used to decide" in text
    assert float(text.split("max relative difference ")[1].split()[0]) < 1e-10
