"""Deployment: the Dockerfile and the AKS manifest pass their validators (no Docker engine or cluster
here), and the MLflow pyfunc wrapper serves a model set as the service does."""
import json
import os
import shutil
import subprocess
import sys
import warnings

import httpx
import mlflow.pyfunc
import numpy as np
import pandas as pd
import pytest
import yaml
from mlflow.exceptions import MlflowException

from benchmarks.serving_set import Deployment, fit_templates
from manymodels_assets.forecasting.scoring import forecast_series
from manymodels_assets.serving.pyfunc import save_model_set_pyfunc
from manymodels_assets.settings import Settings
from manymodels_assets_tests.servers import free_port, http_process

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEPLOY = os.path.join(ROOT, "deploy", "serving")
BIN = os.path.dirname(sys.executable)
IDS = [("S 1", "it'em/7"), ("S2", "I2"), ("S3", "I3")]


def run(*argv):
    return subprocess.run(argv, capture_output=True, text=True, timeout=120)


def test_the_dockerfile_passes_hadolint_and_a_bad_one_does_not(tmp_path):
    good = run(os.path.join(BIN, "hadolint"), os.path.join(DEPLOY, "Dockerfile"))
    assert good.returncode == 0, good.stdout + good.stderr
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM python\nRUN apt-get install curl\n")
    assert run(os.path.join(BIN, "hadolint"), str(bad)).returncode != 0


def test_the_dockerfile_runs_the_serve_command_on_all_interfaces():
    text = open(os.path.join(DEPLOY, "Dockerfile")).read()
    assert 'CMD ["manymodels", "serve", "--host", "0.0.0.0", "--port", "8000"]' in text
    assert "USER 10001" in text and "MALLOC_ARENA_MAX=2" in text


def manifest():
    with open(os.path.join(DEPLOY, "manymodels-serving.yaml")) as f:
        return [d for d in yaml.safe_load_all(f) if d]


def test_the_manifest_validates_against_the_kubernetes_schema_and_a_broken_one_does_not(tmp_path):
    path = os.path.join(DEPLOY, "manymodels-serving.yaml")
    ok = run(os.path.join(BIN, "kubernetes-validate"), "--strict", path)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    broken = tmp_path / "broken.yaml"
    broken.write_text(open(path).read().replace("failureThreshold: 60", "failureTreshold: 60"))
    assert run(os.path.join(BIN, "kubernetes-validate"), "--strict", str(broken)).returncode != 0


def test_the_deployment_has_probes_limits_and_its_settings_are_what_the_service_reads():
    docs = {d["kind"]: d for d in manifest()}
    container = docs["Deployment"]["spec"]["template"]["spec"]["containers"][0]
    assert container["readinessProbe"]["httpGet"]["path"] == "/health"
    assert container["livenessProbe"]["httpGet"]["path"] == "/health/live"
    assert container["startupProbe"]["httpGet"]["path"] == "/health/live"
    limits = container["resources"]["limits"]
    assert limits["cpu"] and limits["memory"].endswith("Mi")
    config = docs["ConfigMap"]["data"]
    settings = Settings.from_env({**config, "MANYMODELS_SERVING_API_KEY": "set-from-the-secret"})
    assert settings.lake_root == config["MANYMODELS_LAKE_ROOT"]
    assert settings.production_tracking_uri == config["MANYMODELS_PRODUCTION_TRACKING_URI"]
    assert settings.serving_cache_bytes == int(config["MANYMODELS_SERVING_CACHE_BYTES"])
    assert settings.serving_api_key_set
    # the memory limit leaves room for the cache budget plus the process's own ~500 MiB
    assert int(limits["memory"][:-2]) * 2**20 >= settings.serving_cache_bytes + 800 * 2**20
    secret = container["env"][0]["valueFrom"]["secretKeyRef"]
    assert container["env"][0]["name"] == "MANYMODELS_SERVING_API_KEY" and secret["optional"] is True


@pytest.fixture(scope="module")
def production(tmp_path_factory):
    rows = fit_templates(IDS, "ms-py", days=150)
    deployment = Deployment(tmp_path_factory.mktemp("home"))
    deployment.publish("prod-py", rows)
    return deployment, rows


@pytest.mark.parametrize("embed", [False, True], ids=["lake-reference", "embedded"])
def test_the_pyfunc_model_loads_with_mlflow_and_forecasts_like_the_core(production, tmp_path, embed):
    deployment, rows = production
    source = deployment.set_directory("prod-py")
    if embed:  # a copy that is gone once saved: the model must hold the set itself
        source = shutil.copytree(source, str(tmp_path / "copy"))
    path = save_model_set_pyfunc(str(tmp_path / "model"), source, embed=embed)
    if embed:
        shutil.rmtree(source)
    model = mlflow.pyfunc.load_model(path)
    asked = pd.DataFrame({"store_id": [r["store_id"] for r in rows], "item_id": [r["item_id"] for r in rows],
                          "horizon": [5, 12, 3]})
    out = model.predict(asked)
    assert len(out) == 5 + 12 + 3
    for row, h in zip(rows, (5, 12, 3)):
        got = out[(out["store_id"] == row["store_id"]) & (out["item_id"] == row["item_id"])]
        want = forecast_series(row, h)
        np.testing.assert_allclose(got["yhat"], want["yhat"])
        assert got["forecast_date"].tolist() == [d.isoformat() for d in want["forecast_date"]]
        assert set(got["forecaster"]) == {row["forecaster"]}
    with pytest.raises(MlflowException, match="no model"):
        model.predict(pd.DataFrame({"store_id": ["S2"], "item_id": ["nope"]}))


def test_mlflow_models_serve_answers_from_the_set(production, tmp_path):
    deployment, rows = production
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)  # e.g. MLflow's "An input example was not provided"
        path = save_model_set_pyfunc(str(tmp_path / "model"), deployment.set_directory("prod-py"))
    with open(os.path.join(path, "serving_input_example.json")) as f:
        example = json.load(f)  # the set's first series by key, at its horizon
    first = min(rows, key=lambda r: r["key"])
    assert example == {"dataframe_split": {"columns": ["store_id", "item_id", "horizon"],
                                           "data": [[first["store_id"], first["item_id"], int(first["horizon"])]]}}
    port = free_port()
    env = {**os.environ, "PATH": BIN + os.pathsep + os.environ.get("PATH", "")}  # its uvicorn is the venv's
    argv = [os.path.join(BIN, "mlflow"), "models", "serve", "-m", path, "--env-manager", "local",
            "-h", "127.0.0.1", "-p", str(port)]
    with http_process(argv, port, env=env, ready_path="/ping", log_path=str(tmp_path / "mlflow.log"), timeout=120):
        ask = {"dataframe_records": [{"store_id": rows[0]["store_id"], "item_id": rows[0]["item_id"], "horizon": 4}]}
        r = httpx.post(f"http://127.0.0.1:{port}/invocations", json=ask, timeout=60)
        from_example = httpx.post(f"http://127.0.0.1:{port}/invocations", json=example, timeout=60)
    assert r.status_code == 200, r.text
    got = r.json()["predictions"]
    np.testing.assert_allclose([p["yhat"] for p in got], forecast_series(rows[0], 4)["yhat"])
    assert from_example.status_code == 200, from_example.text
    np.testing.assert_allclose([p["yhat"] for p in from_example.json()["predictions"]],
                               forecast_series(first, int(first["horizon"]))["yhat"])


def test_the_example_skips_series_without_a_model(production, tmp_path):
    from manymodels_assets.serving.pyfunc import example_request

    deployment, rows = production
    first, *others = sorted(rows, key=lambda r: r["key"])
    deployment.publish("prod-first-failed", [{**first, "model": None, "status": "failed"}, *others])
    example = example_request(deployment.set_directory("prod-first-failed"))
    assert example[["store_id", "item_id"]].values.tolist() == [[others[0]["store_id"], others[0]["item_id"]]]


def test_a_set_with_nothing_to_serve_is_refused_when_saved(production, tmp_path):
    deployment, rows = production
    failed = [{**r, "model": None, "status": "failed"} for r in rows]
    deployment.publish("prod-failed", failed)
    with pytest.raises(ValueError, match="no series with a model"):
        save_model_set_pyfunc(str(tmp_path / "model"), deployment.set_directory("prod-failed"))
    assert not os.path.exists(tmp_path / "model")
