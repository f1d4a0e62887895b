"""The model store in-process: a real lake folder, a real MLflow registry (sqlite), real models."""
import os
import shutil

import numpy as np
import pandas as pd
import pytest

from benchmarks.serving_set import Deployment, daily_history, fit_templates
from manymodels_assets.forecasting.candidates import CANDIDATES
from manymodels_assets.forecasting.keys import encode_key
from manymodels_assets.forecasting.scoring import forecast_series
from manymodels_assets.forecasting.training import TrainingConfig, train_series
from manymodels_assets.serving.cache import ByteLRU
from manymodels_assets.serving.errors import LakeUnavailable, NoProductionSet, RegistryUnavailable, SeriesNotFound
from manymodels_assets.serving.production import ProductionFollower, resolve_alias
from manymodels_assets.serving.store import ModelStore
from manymodels_assets_tests.servers import free_port

IDS = [("S 1", "it'em/7"), ("S~2", "100%"), ("S3", "I3"), ("S4", "I4"), ("S5", "I5"), ("S6", "I6"), ("S7", "I7")]


def store_of(d: Deployment, cache_bytes=64 * 2**20) -> ModelStore:
    follower = ProductionFollower(lambda: resolve_alias(d.registry), d.set_directory, d.lake.fs)
    follower.refresh()
    return ModelStore(follower, cache_bytes)


@pytest.fixture(scope="module")
def rows():
    return fit_templates(IDS, "ms-a", days=150)


@pytest.fixture()
def deployed(tmp_path, rows):
    d = Deployment(tmp_path)
    d.publish("prod-a", rows)
    return d


def test_forecasts_are_the_cores_from_the_production_row(deployed, rows):
    store = store_of(deployed)
    production = store.current()
    assert (production.name, production.version) == ("prod-a", "1")
    assert store.stats().entries == 0  # nothing loaded at start: the index only
    for row in rows:
        got = store.forecast(production, row["store_id"], row["item_id"], 10)
        want = forecast_series(row, 10)
        assert [p[0] for p in got.points] == [d.isoformat() for d in want["forecast_date"]]
        np.testing.assert_allclose([p[2] for p in got.points], want["yhat"])
        np.testing.assert_allclose([p[4] for p in got.points], want["yhat_upper"])
        body = got.body()
        assert (body["store_id"], body["item_id"], body["forecaster"]) == (row["store_id"], row["item_id"],
                                                                           row["forecaster"])
    assert store.stats().entries == len(rows)


def test_the_model_is_found_by_its_key_codec_not_by_string_concatenation(deployed):
    store = store_of(deployed)
    production = store.current()
    assert store.forecast(production, "S~2", "100%", 3).row["key"] == encode_key("S~2", "100%")
    with pytest.raises(SeriesNotFound, match="S~2"):
        store.forecast(production, "S", "2~100%", 3)  # the same text joined differently is another series


@pytest.mark.parametrize("name", sorted(CANDIDATES))
def test_a_warm_shorter_horizon_is_the_cold_forecast_of_that_horizon(tmp_path, name):
    hist = daily_history(140, seed=3).assign(price=10.0, promo=0)
    hist.loc[hist.index % 9 == 0, ["price", "promo"]] = [8.0, 1]
    calendar = pd.DataFrame({"date": pd.date_range(hist["date"].iloc[-1] + pd.Timedelta(days=1), periods=28),
                             "price": 10.0, "promo": np.arange(28) % 9 == 0})
    row = train_series(encode_key("S", name), "S", name, hist, "D",
                       TrainingConfig(candidates=(name,), combine_top=0, horizon=14), calendar=calendar)
    assert row["forecaster"] == name
    d = Deployment(tmp_path)
    d.publish("prod-h", [dict(row, model_set="prod-h")])
    store = store_of(d)
    production = store.current()
    store.forecast(production, "S", name, 14)  # computes 14 steps
    trained = forecast_series(row, 14)[["yhat", "yhat_lower", "yhat_upper"]].to_numpy()
    for h in (1, 5, 14):
        warm = np.array([p[2:] for p in store.cached_forecast(production, "S", name, h).points], dtype=float)
        np.testing.assert_allclose(warm, trained[:h])
        np.testing.assert_allclose(warm, core_forecast(row, h, trained)[:h])
    assert store.cached_forecast(production, "S", name, 20) is None  # longer: the forecaster runs again
    longer = np.array([p[2:] for p in store.forecast(production, "S", name, 20).points], dtype=float)
    np.testing.assert_allclose(longer, core_forecast(row, 20, trained))


def core_forecast(row, h, trained):
    """What the core forecasts for h steps. Some forecasters are fitted for their horizon and
    refuse another (sktime's MSTL) or a longer one: the service answers with the trained steps."""
    try:
        return forecast_series(row, h)[["yhat", "yhat_lower", "yhat_upper"]].to_numpy()
    except ValueError:
        return trained


def test_the_cache_stays_within_its_byte_budget_and_reloads_what_it_evicted(deployed, rows):
    one = store_of(deployed)
    one.forecast(one.current(), *IDS[0], 28)
    entry_bytes = one.stats().bytes
    store = store_of(deployed, cache_bytes=int(entry_bytes * 3.5))
    production = store.current()
    for store_id, item_id in IDS * 2:
        store.forecast(production, store_id, item_id, 28)
        assert store.stats().bytes <= store.stats().budget_bytes
    assert store.stats().evictions > 0 and 1 <= store.stats().entries <= 4
    assert store.forecast(production, *IDS[0], 28).row["model"]  # evicted earlier, loaded again


def test_lru_evicts_the_least_recently_used_and_keeps_nothing_larger_than_the_budget():
    lru = ByteLRU(100)
    lru.put("a", 1, 40), lru.put("b", 2, 40)
    assert lru.get("a") == 1  # a is now the most recent
    lru.put("c", 3, 40)
    assert lru.get("b") is None and lru.get("a") == 1 and lru.get("c") == 3
    lru.put("huge", 4, 101)
    assert lru.get("huge") is None and lru.stats().bytes == 80


def test_a_new_production_version_is_followed_and_a_request_in_flight_keeps_its_set(deployed, rows):
    store = store_of(deployed)
    before = store.current()
    first = store.forecast(before, *IDS[2], 7)
    changed = [dict(r, model=rows[(i + 1) % len(rows)]["model"], forecaster=rows[(i + 1) % len(rows)]["forecaster"],
                    model_set="ms-b") for i, r in enumerate(rows)]
    assert deployed.publish("prod-b", changed) == "2"
    assert store.current().version == "1"  # until the next poll
    store.follower.refresh()
    after = store.current()
    assert (after.name, after.version) == ("prod-b", "2")
    # a request that took the old set before the switch finishes on it, even for a model it had not loaded
    assert store.forecast(before, *IDS[3], 7).body()["production_set"] == "prod-a"
    assert store.forecast(before, *IDS[2], 7).points == first.points
    new = store.forecast(after, *IDS[2], 7)
    assert new.body()["forecaster"] == changed[2]["forecaster"] and new.body()["production_version"] == "2"


def test_registry_unreachable_no_alias_and_lake_unreachable_are_told_apart(tmp_path, rows, monkeypatch):
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    down = Deployment(tmp_path / "down", {"MANYMODELS_PRODUCTION_TRACKING_URI": f"http://127.0.0.1:{free_port()}"})
    with pytest.raises(RegistryUnavailable):
        resolve_alias(down.registry)
    empty = Deployment(tmp_path / "empty")
    with pytest.raises(NoProductionSet, match="alias"):
        resolve_alias(empty.registry)

    lost = Deployment(tmp_path / "lost")
    lost.publish("prod-a", rows)
    shutil.rmtree(lost.set_directory("prod-a"))
    follower = ProductionFollower(lambda: resolve_alias(lost.registry), lost.set_directory, lost.lake.fs)
    follower.refresh()
    with pytest.raises(LakeUnavailable, match="prod-a"):
        follower.current()


def test_a_model_the_lake_cannot_give_is_unavailable_while_cached_ones_still_serve(deployed):
    store = store_of(deployed)
    production = store.current()
    store.forecast(production, *IDS[0], 7)
    for name in os.listdir(production.directory):
        if name.startswith("part-"):
            os.chmod(os.path.join(production.directory, name), 0o000)
            os.rename(os.path.join(production.directory, name), os.path.join(production.directory, "gone-" + name))
    with pytest.raises(LakeUnavailable):
        store.forecast(production, *IDS[1], 7)
    assert store.forecast(production, *IDS[0], 7).points  # cached: no lake read


def test_trained_at_comes_from_the_model_set_else_from_the_registry_version(tmp_path, rows):
    import datetime as dt

    stamped = Deployment(tmp_path / "stamped")
    when = dt.datetime(2026, 3, 1, 6, 30)
    stamped.publish("prod-t", [dict(r, trained_at=when) for r in rows])
    info = store_of(stamped).model_info(store_of(stamped).current(), *IDS[0])
    assert info["trained_at"] == when.replace(tzinfo=dt.timezone.utc)
    assert info["metrics"]["mase"] == pytest.approx(rows[0]["mase"]) and info["model_set"] == "ms-a"

    plain = Deployment(tmp_path / "plain")
    plain.publish("prod-p", [{k: v for k, v in r.items() if k != "trained_at"} for r in rows])
    store = store_of(plain)
    registered = store.current().registered_at
    assert registered is not None and store.model_info(store.current(), *IDS[0])["trained_at"] == registered
