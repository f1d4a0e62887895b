"""The registry resource against real MLflow registries: "not found" reads as none, anything else
raises; an alias moves only from where the caller found it."""
import pandas as pd
import pytest
from mlflow.exceptions import MlflowException

from manymodels_assets.resources.registry import AliasMoved, ModelRegistryResource
from manymodels_assets_tests.servers import free_port


@pytest.fixture
def registry(tmp_path):
    return ModelRegistryResource(tracking_uri=f"sqlite:///{tmp_path}/r.db", experiment_name="e", model_name="m",
                                 artifact_location=f"file://{tmp_path}/artifacts")


def _record(registry, name):
    return registry.record_model_set(name, {"model_set": name}, {"p": 1}, {"series": 3.0},
                                     {"t": pd.DataFrame({"key": ["a"], "mase": [0.5]})})


def test_nothing_registered_reads_as_none(registry):
    assert registry.version_by_alias("production") is None  # no registered model at all
    assert registry.latest_version() is None and registry.panel_ranking() is None
    _record(registry, "ms-1")
    assert registry.version_by_alias("production") is None  # a model, but no such alias


def test_an_unreachable_registry_raises_instead_of_reading_as_none(monkeypatch):
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "2")
    down = ModelRegistryResource(tracking_uri=f"http://127.0.0.1:{free_port()}", experiment_name="e", model_name="m")
    for read in (lambda: down.version_by_alias("production"), down.latest_version, down.panel_ranking):
        with pytest.raises(MlflowException):
            read()


def test_an_alias_moves_only_from_where_it_was_found(registry):
    v1, v2, v3 = (_record(registry, f"ms-{i}") for i in (1, 2, 3))
    registry.move_alias("production", v1.version, expected=None, previous="previous")
    registry.move_alias("production", v2.version, expected=v1.version, previous="previous")
    assert registry.version_by_alias("production").version == v2.version
    assert registry.version_by_alias("previous").version == v1.version
    with pytest.raises(AliasMoved, match="points at v2 now, not v1"):
        registry.move_alias("production", v3.version, expected=v1.version, previous="previous")
    assert registry.version_by_alias("production").version == v2.version  # nothing changed
    assert registry.version_by_alias("previous").version == v1.version


def test_a_model_set_is_one_run_with_its_tables_and_manifest(registry):
    version = _record(registry, "ms-7")
    run = registry.client.get_run(version.run_id)
    assert run.data.params == {"p": "1"} and run.data.metrics == {"series": 3.0}
    artifacts = {a.path for a in registry.client.list_artifacts(version.run_id)}
    assert artifacts == {"model_set", "tables"}
    assert version.tags["model_set"] == "ms-7"
