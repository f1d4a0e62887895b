"""The service end to end: `manymodels serve` as a real uvicorn process on a free port, over a real
lake folder and a real MLflow registry (sqlite) holding real models."""
import os
import shutil
import subprocess
import sys
import threading
import time
from contextlib import contextmanager
from urllib.parse import quote

import httpx
import numpy as np
import pytest

from benchmarks.serving_set import Deployment, fit_templates
from manymodels_assets.forecasting.scoring import forecast_series
from manymodels_assets_tests.servers import free_port, http_process

# S0001/I00001 is the schema's example: schemathesis's example phase reaches a real model with it.
IDS = [("S 1", "it'em/7"), ("S~2", "100%"), ("Ä.ö", "x,y|z"), ("S3", "I3"), ("S/4", "I~4"), ("S5", "I5"),
       ("S0001", "I00001")]
BAD = ("S-corrupt", "I-corrupt")
MAX_HORIZON, MAX_BATCH = 60, 700
API_KEY = "k3y-for-tests-\u00e9-only"  # never a real secret: only this process tree sees it


@contextmanager
def serve(home, tmp_path, **env):
    """`manymodels serve` on a free port over MANYMODELS_HOME=home; yields (base url, log path)."""
    port = free_port()
    clean = {k: v for k, v in os.environ.items() if not k.startswith("MANYMODELS_")}
    env = {**clean, "MANYMODELS_HOME": str(home), "MANYMODELS_SERVING_ALIAS_TTL_SECONDS": "0.3",
           "MANYMODELS_SERVING_MAX_HORIZON": str(MAX_HORIZON), "MANYMODELS_SERVING_MAX_BATCH": str(MAX_BATCH),
           "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0", **env}
    log = str(tmp_path / f"serve-{port}.log")
    argv = [sys.executable, "-m", "manymodels_assets.cli", "serve", "--port", str(port)]
    with http_process(argv, port, env=env, ready_path="/health/live", log_path=log):
        yield f"http://127.0.0.1:{port}", log


@pytest.fixture(scope="module")
def rows():
    good = fit_templates(IDS, "ms-a", days=150)
    corrupt = dict(fit_templates([BAD], "ms-a", days=150)[0], model=b"not a model")
    return good + [corrupt]


@pytest.fixture(scope="module")
def home(tmp_path_factory, rows):
    deployment = Deployment(tmp_path_factory.mktemp("home"))
    deployment.publish("prod-a", rows)
    return deployment.home


@pytest.fixture(scope="module")
def service(home, tmp_path_factory):
    with serve(home, tmp_path_factory.mktemp("logs")) as (url, log):
        with httpx.Client(base_url=url, timeout=30) as client:
            yield client


def copy_of(home, tmp_path) -> Deployment:
    shutil.copytree(home, tmp_path / "home")
    return Deployment(tmp_path / "home")


def test_a_forecast_for_ids_with_any_characters_is_the_production_models(service, rows):
    for row in rows[:len(IDS)]:
        r = service.post("/forecast", json={"store_id": row["store_id"], "item_id": row["item_id"], "horizon": 9})
        assert r.status_code == 200, r.text
        body = r.json()
        assert {"store_id", "item_id", "model_set", "forecaster", "forecasts"} <= body.keys()
        assert (body["store_id"], body["item_id"], body["forecaster"], body["model_set"]) == \
            (row["store_id"], row["item_id"], row["forecaster"], "ms-a")
        assert (body["production_set"], body["production_version"]) == ("prod-a", "1")
        want = forecast_series(row, 9)
        assert [p["forecast_date"] for p in body["forecasts"]] == [d.isoformat() for d in want["forecast_date"]]
        assert list(body["forecasts"][0]) == ["forecast_date", "step", "yhat", "yhat_lower", "yhat_upper"]
        np.testing.assert_allclose([p["yhat"] for p in body["forecasts"]], want["yhat"])
        np.testing.assert_allclose([p["yhat_lower"] for p in body["forecasts"]], want["yhat_lower"])
    default = service.post("/forecast", json={"store_id": "S3", "item_id": "I3"}).json()
    assert len(default["forecasts"]) == rows[3]["horizon"]  # no horizon: the trained one


def test_the_batch_form_answers_each_store_item_from_one_set(service):
    items = [{"store_id": s, "item_id": i, "horizon": 3} for s, i in IDS] + [{"store_id": "S3", "item_id": "nope"}]
    r = service.post("/forecast/batch", json={"items": items})
    assert r.status_code == 200, r.text
    body = r.json()
    assert [(f["store_id"], f["item_id"]) for f in body["forecasts"]] == IDS
    assert all(len(f["forecasts"]) == 3 for f in body["forecasts"])
    assert body["not_found"] == [{"store_id": "S3", "item_id": "nope", "detail": body["not_found"][0]["detail"]}]
    assert body["production_version"] == "1"


def test_model_metadata_by_path_with_encoded_ids(service, rows):
    for row in rows[:len(IDS)]:
        r = service.get(f"/models/{quote(row['store_id'], safe='')}/{quote(row['item_id'], safe='')}")
        assert r.status_code == 200, r.text
        body = r.json()
        assert (body["store_id"], body["item_id"], body["key"], body["forecaster"]) == \
            (row["store_id"], row["item_id"], row["key"], row["forecaster"])
        assert body["model_set"] == "ms-a" and body["trained_at"]
        assert body["metrics"]["mase"] == pytest.approx(row["mase"])


def test_an_unknown_store_item_is_404_with_a_clear_message(service):
    r = service.post("/forecast", json={"store_id": "S 1", "item_id": "no such item", "horizon": 3})
    assert r.status_code == 404
    assert "no model for store_id='S 1', item_id='no such item'" in r.json()["detail"]
    assert service.get("/models/S%201/missing").status_code == 404
    assert service.get("/models/S%201").status_code == 404


@pytest.mark.parametrize("body", [
    {"store_id": "S3", "item_id": "I3", "horizon": MAX_HORIZON + 1},
    {"store_id": "S3", "item_id": "I3", "horizon": 0},
    {"store_id": "S3", "item_id": "I3", "horizon": "5"},
    {"store_id": "S3", "item_id": "I3", "horizon": 2.5},
    {"store_id": "S3", "item_id": "I3", "horizon": True},
    {"store_id": "S3"},
    {"store_id": "", "item_id": "I3"},
    {"store_id": 3, "item_id": "I3"},
    {"store_id": "S3", "item_id": "I3", "horizn": 5},
    [],
])
def test_malformed_input_is_422(service, body):
    r = service.post("/forecast", json=body)
    assert r.status_code == 422, r.text


def test_more_malformed_input_is_422_never_500(service):
    assert service.post("/forecast", content=b'{"store_id": "S3", ', headers={"Content-Type": "application/json"}
                        ).status_code == 422
    surrogate = b'{"store_id": "\\ud800", "item_id": "I3"}'  # valid JSON, not text
    assert service.post("/forecast", content=surrogate, headers={"Content-Type": "application/json"}
                        ).status_code == 422
    assert service.post("/forecast/batch", json={"items": []}).status_code == 422
    too_many = [{"store_id": "S3", "item_id": "I3"}] * (MAX_BATCH + 1)
    assert service.post("/forecast/batch", json={"items": too_many}).status_code == 422
    assert service.get("/models/%FF/I3").status_code == 422  # not UTF-8


def test_an_unexpected_failure_is_a_bare_500_logged_server_side(service):
    r = service.post("/forecast", json={"store_id": BAD[0], "item_id": BAD[1]})
    assert r.status_code == 500
    assert r.json() == {"detail": "internal error; the server log has the details"}
    assert "Traceback" not in r.text


def test_the_openapi_schema_is_published_with_the_limits(service):
    schema = service.get("/openapi.json").json()
    assert {"/forecast", "/forecast/batch", "/models/{store_id}/{item_id}", "/health"} <= schema["paths"].keys()
    request = schema["components"]["schemas"]["ForecastRequest"]["properties"]["horizon"]["anyOf"][0]
    assert request["maximum"] == MAX_HORIZON and request["minimum"] == 1


def test_health_reports_the_set_and_the_cache(service):
    body = service.get("/health").json()
    assert body["status"] == "ok" and body["production_set"] == "prod-a" and body["series"] == len(IDS) + 1
    assert 0 < body["cache"]["bytes"] <= body["cache"]["budget_bytes"]


def test_schemathesis_finds_no_failure_against_the_live_schema(service, tmp_path):
    url = str(service.base_url)
    run = subprocess.run(
        [os.path.join(os.path.dirname(sys.executable), "st"), "run", f"{url}/openapi.json",
         "--checks", "all", "--exclude-checks", "use_after_free,ensure_resource_availability",
         "--max-examples", "40", "--seed", "7", "--generation-database", "none", "--workers", "2",
         "--phases", "examples,coverage,fuzzing", "--no-color"],
        capture_output=True, text=True, timeout=600, cwd=tmp_path)
    assert run.returncode == 0, run.stdout[-6000:] + run.stderr[-2000:]


def test_api_key_is_required_when_configured_and_never_echoed(home, tmp_path):
    with serve(home, tmp_path, MANYMODELS_SERVING_API_KEY=API_KEY) as (url, log), httpx.Client(base_url=url) as c:
        ask = {"store_id": "S3", "item_id": "I3", "horizon": 2}
        assert c.post("/forecast", json=ask).status_code == 401
        assert c.post("/forecast", json=ask, headers={"X-API-Key": "wrong"}).status_code == 401
        assert c.get("/models/S3/I3").status_code == 401
        assert c.post("/forecast", json=ask, headers={"X-API-Key": API_KEY.encode()}).status_code == 200
        assert c.get("/health").status_code == 200  # probes need no key
        schema = c.get("/openapi.json").text
        assert "X-API-Key" in schema and API_KEY not in schema and API_KEY not in c.get("/health").text
    assert API_KEY not in open(log).read()


def test_registry_unreachable_is_503_and_liveness_still_answers(home, tmp_path):
    down = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    with serve(home, tmp_path, MANYMODELS_PRODUCTION_TRACKING_URI=down) as (url, _), httpx.Client(base_url=url) as c:
        r = c.post("/forecast", json={"store_id": "S3", "item_id": "I3"})
        assert r.status_code == 503 and "registry did not answer" in r.json()["detail"]
        assert int(r.headers["Retry-After"]) >= 1
        assert c.get("/health").status_code == 503 and c.get("/health/live").status_code == 200


def test_lake_unreachable_is_503_and_the_service_recovers_without_a_restart(home, tmp_path):
    d = copy_of(home, tmp_path)
    with serve(d.home, tmp_path) as (url, _), httpx.Client(base_url=url) as c:
        assert c.post("/forecast", json={"store_id": "S3", "item_id": "I3"}).status_code == 200
        lake, away = d.lake.root, d.lake.root + ".away"
        os.rename(lake, away)
        r = c.post("/forecast", json={"store_id": "S5", "item_id": "I5"})
        assert r.status_code == 503 and "lake" in r.json()["detail"]
        assert c.post("/forecast", json={"store_id": "S3", "item_id": "I3"}).status_code == 200  # cached
        os.rename(away, lake)
        assert c.post("/forecast", json={"store_id": "S5", "item_id": "I5"}).status_code == 200


def test_no_production_set_is_503(tmp_path):
    with serve(tmp_path / "empty", tmp_path) as (url, _), httpx.Client(base_url=url) as c:
        r = c.post("/forecast", json={"store_id": "S3", "item_id": "I3"})
        assert r.status_code == 503 and "alias 'production'" in r.json()["detail"]


def test_a_promotion_is_followed_without_restart_and_requests_in_flight_finish_on_their_set(home, rows, tmp_path):
    d = copy_of(home, tmp_path)
    swapped = [dict(r, model=rows[(i + 1) % len(IDS)]["model"], forecaster=rows[(i + 1) % len(IDS)]["forecaster"],
                    model_set="ms-b") for i, r in enumerate(rows[:len(IDS)])]
    # A cache of one byte keeps nothing: every item of the batch loads from the lake, so it runs for seconds.
    with serve(d.home, tmp_path, MANYMODELS_SERVING_CACHE_BYTES="1") as (url, _), \
            httpx.Client(base_url=url, timeout=120) as c:
        items = [{"store_id": s, "item_id": i, "horizon": 5} for s, i in IDS] * (MAX_BATCH // len(IDS))
        batch = {}

        def send():
            batch["response"] = c.post("/forecast/batch", json={"items": items})
            batch["done"] = time.monotonic()

        sender = threading.Thread(target=send)
        sender.start()
        deadline = time.monotonic() + 30
        while c.get("/health").json()["cache"]["misses"] < 20:  # the batch is loading models
            assert time.monotonic() < deadline and "done" not in batch, "the batch did not start"
            time.sleep(0.02)
        assert d.publish("prod-b", swapped) == "2"
        deadline = time.monotonic() + 20
        while c.get("/health").json()["production_version"] != "2":
            assert time.monotonic() < deadline, "the new production version was not picked up"
            time.sleep(0.05)
        switched = time.monotonic()
        new = c.post("/forecast", json={"store_id": "S3", "item_id": "I3", "horizon": 5}).json()
        assert (new["production_set"], new["forecaster"]) == ("prod-b", swapped[3]["forecaster"])
        sender.join()
        assert batch["done"] > switched, "the batch should still have been running when the alias moved"
        assert batch["response"].status_code == 200, batch["response"].text
        old = batch["response"].json()
        assert {f["production_version"] for f in old["forecasts"]} == {"1"} and old["production_set"] == "prod-a"
        assert {f["forecaster"] for f in old["forecasts"] if f["store_id"] == "S3"} == {rows[3]["forecaster"]}
