"""MLflow registries. Training and production are two instances with their own tracking URIs.

This uses ``MlflowClient`` directly rather than dagster-mlflow's ``mlflow_tracking``: that
resource is a legacy function resource that sets process-global MLflow state and one active
run per Dagster run, which cannot talk to two registries (training and production) in one
step. Nothing here is per series: a model set is one run and one registered model version.
"""
from __future__ import annotations

import math
from typing import Any, Optional

import dagster as dg
import pandas as pd
from pydantic import ConfigDict, PrivateAttr

MANIFEST = "model_set/manifest.json"
RANKING_TAG = "panel_ranking"


class RegistryNotFound(LookupError):
    """The registry answered that the thing does not exist (not: could not be reached)."""


class AliasMoved(RuntimeError):
    """An alias no longer points where a run expected it to."""


def _is_not_found(exc: Exception) -> bool:
    code = getattr(exc, "error_code", "")
    # A missing alias comes back as INVALID_PARAMETER_VALUE "... alias ... not found" (MLflow 3.17).
    return code == "RESOURCE_DOES_NOT_EXIST" or (code == "INVALID_PARAMETER_VALUE" and "not found" in str(exc))


class ModelRegistryResource(dg.ConfigurableResource):
    """An MLflow tracking server and model registry (a sqlite file by default).

    A model set is registered as one version of ``model_name``; its source is a small manifest
    artifact that points at the model set in the lake. Reads that find nothing return None;
    a registry that cannot be reached or answers with an error raises, so no step ever mistakes
    an outage for "no model".
    """

    model_config = ConfigDict(use_attribute_docstrings=True)

    tracking_uri: str
    """The MLflow tracking server: a sqlite file, `http://...`, `azureml://...` or `databricks`."""
    registry_uri: Optional[str] = None
    """The model registry, when not the tracking server itself."""
    experiment_name: str
    """The MLflow experiment each run's model set is logged to."""
    model_name: str
    """The registered model whose versions are model sets."""
    artifact_location: Optional[str] = None
    """Where the experiment keeps artifacts; set for the local default only (a server decides its own)."""

    _client = PrivateAttr(default=None)

    @property
    def client(self):
        if self._client is None:
            from mlflow import MlflowClient

            self._client = MlflowClient(tracking_uri=self.tracking_uri,
                                        registry_uri=self.registry_uri or self.tracking_uri)
        return self._client

    def _experiment_id(self) -> str:
        from mlflow.exceptions import MlflowException

        exp = self.client.get_experiment_by_name(self.experiment_name)
        if exp is not None:
            return exp.experiment_id
        try:
            return self.client.create_experiment(self.experiment_name, artifact_location=self.artifact_location)
        except MlflowException as exc:
            if getattr(exc, "error_code", "") != "RESOURCE_ALREADY_EXISTS":
                raise
            return self.client.get_experiment_by_name(self.experiment_name).experiment_id  # created concurrently

    def record_model_set(self, model_set: str, tags: dict[str, str], params: dict[str, Any],
                         metrics: dict[str, float], tables: dict[str, pd.DataFrame]):
        """One MLflow run for a model set (params, metrics, tables, a manifest pointing at the
        lake), then one registered model version for it; returns the ModelVersion.

        The version is created last: if anything before it fails, no version points at a
        half-logged run.
        """
        from mlflow.entities import Metric, Param

        c = self.client
        run_id = c.create_run(self._experiment_id(), run_name=model_set, tags=tags).info.run_id
        c.log_batch(run_id, params=[Param(k, str(v)[:6000]) for k, v in params.items()],
                    metrics=[Metric(k, float(v), 0, 0) for k, v in metrics.items()
                             if v is not None and math.isfinite(float(v))])
        for name, frame in tables.items():
            c.log_table(run_id, data=frame, artifact_file=f"tables/{name}.json")
        c.log_dict(run_id, {**tags, "model_set": model_set}, MANIFEST)
        c.set_terminated(run_id)
        self._ensure_registered_model()
        return c.create_model_version(self.model_name, source=f"runs:/{run_id}/{MANIFEST.split('/')[0]}",
                                      run_id=run_id, tags={k: str(v) for k, v in tags.items()})

    def _ensure_registered_model(self) -> None:
        from mlflow.exceptions import MlflowException

        try:
            self.client.create_registered_model(self.model_name)
        except MlflowException as exc:
            if getattr(exc, "error_code", "") != "RESOURCE_ALREADY_EXISTS":
                raise

    def version_by_alias(self, alias: str):
        """The version the alias points at, or None when the model or alias does not exist."""
        from mlflow.exceptions import MlflowException

        try:
            return self.client.get_model_version_by_alias(self.model_name, alias)
        except MlflowException as exc:
            if _is_not_found(exc):
                return None
            raise

    def version(self, version: str | int):
        """A version by number; raises RegistryNotFound when it does not exist."""
        from mlflow.exceptions import MlflowException

        try:
            return self.client.get_model_version(self.model_name, str(version))
        except MlflowException as exc:
            if _is_not_found(exc):
                raise RegistryNotFound(f"{self.model_name} v{version} does not exist") from None
            raise

    def latest_version(self):
        """The newest version, or None when none is registered."""
        versions = self.client.search_model_versions(f"name='{self.model_name}'", max_results=1,
                                                     order_by=["version_number DESC"])
        return versions[0] if versions else None

    def set_alias(self, alias: str, version: str | int) -> None:
        self.client.set_registered_model_alias(self.model_name, alias, str(version))

    def move_alias(self, alias: str, to: str | int, expected: str | int | None, previous: str | None = None) -> None:
        """Point ``alias`` at version ``to`` if it still points at ``expected`` (None: nowhere),
        keeping the version it left under ``previous``; raises AliasMoved otherwise.

        Callers serialise promotions with a lock; this check catches a move made outside it (a
        rollback by hand, another deployment) instead of silently overwriting it.
        """
        now = self.version_by_alias(alias)
        if (str(now.version) if now is not None else None) != (str(expected) if expected is not None else None):
            raise AliasMoved(f"{self.model_name}@{alias} points at "
                             f"{'v' + str(now.version) if now is not None else 'nothing'} now, not "
                             f"{'v' + str(expected) if expected is not None else 'nothing'} as when this run read it; "
                             "nothing was changed: rerun to promote on top of the new production set")
        if previous and expected is not None:
            self.set_alias(previous, expected)
        self.set_alias(alias, to)
        moved = self.version_by_alias(alias)
        if moved is None or str(moved.version) != str(to):
            raise AliasMoved(f"{self.model_name}@{alias} was moved by someone else while this run moved it")

    def panel_ranking(self) -> list[str] | None:
        """The candidate ranking stored on the newest model set (the next run's panel prior)."""
        newest = self.latest_version()
        ranking = [c for c in (newest.tags.get(RANKING_TAG, "") if newest else "").split(",") if c]
        return ranking or None


def ranking_tag(ranking: list[str]) -> dict[str, str]:
    return {RANKING_TAG: ",".join(ranking)}


def model_set_of(version) -> Optional[str]:
    """The model set a registered version stands for."""
    return version.tags.get("model_set") if version is not None else None
