"""MLflow registries. Training and production are two instances with their own tracking URIs.

This uses ``MlflowClient`` directly rather than dagster-mlflow's ``mlflow_tracking``: that
resource is a legacy function resource that sets process-global MLflow state and one active
run per Dagster run, which cannot talk to two registries (training and production) in one
step. Nothing here is per series: a model set is one run and one registered model version.
"""
from __future__ import annotations

import json
import os
import tempfile
from typing import Any, Optional

import dagster as dg
from pydantic import PrivateAttr

MANIFEST_PATH = "model_set"


class ModelRegistryResource(dg.ConfigurableResource):
    """An MLflow tracking server and model registry (a sqlite file by default).

    A model set is registered as one version of ``model_name``; its source is a small manifest
    artifact that points at the model set in the lake.
    """

    tracking_uri: str
    registry_uri: Optional[str] = None
    experiment_name: str
    model_name: str
    artifact_location: Optional[str] = None  # local default only; a server decides its own

    _client = PrivateAttr(default=None)

    @property
    def client(self):
        if self._client is None:
            from mlflow import MlflowClient

            self._client = MlflowClient(tracking_uri=self.tracking_uri,
                                        registry_uri=self.registry_uri or self.tracking_uri)
        return self._client

    def experiment_id(self) -> str:
        exp = self.client.get_experiment_by_name(self.experiment_name)
        if exp is not None:
            return exp.experiment_id
        try:
            return self.client.create_experiment(self.experiment_name, artifact_location=self.artifact_location)
        except Exception:  # created concurrently by another run
            return self.client.get_experiment_by_name(self.experiment_name).experiment_id

    def start_run(self, run_name: str, tags: dict[str, str]) -> str:
        return self.client.create_run(self.experiment_id(), run_name=run_name, tags=tags).info.run_id

    def log_run(self, run_id: str, params: dict[str, Any], metrics: dict[str, float],
                tables: dict[str, Any], manifest: dict[str, Any]) -> None:
        """Params, metrics, frames (as parquet artifacts) and the model-set manifest, then end the run."""
        import math

        from mlflow.entities import Metric, Param

        c = self.client
        c.log_batch(run_id,
                    params=[Param(k, str(v)[:6000]) for k, v in params.items()],
                    metrics=[Metric(k, float(v), 0, 0) for k, v in metrics.items()
                             if v is not None and math.isfinite(float(v))])
        with tempfile.TemporaryDirectory() as tmp:
            for name, frame in tables.items():
                frame.to_parquet(os.path.join(tmp, f"{name}.parquet"), index=False)
                c.log_artifact(run_id, os.path.join(tmp, f"{name}.parquet"), "tables")
            os.makedirs(os.path.join(tmp, MANIFEST_PATH))
            with open(os.path.join(tmp, MANIFEST_PATH, "manifest.json"), "w") as f:
                json.dump(manifest, f, indent=2, default=str)
            c.log_artifacts(run_id, os.path.join(tmp, MANIFEST_PATH), MANIFEST_PATH)
        c.set_terminated(run_id)

    def register_model_set(self, run_id: str, tags: dict[str, str]):
        """One new model version for a whole model set; returns the ModelVersion."""
        try:
            self.client.create_registered_model(self.model_name)
        except Exception:
            pass  # exists
        return self.client.create_model_version(self.model_name, source=f"runs:/{run_id}/{MANIFEST_PATH}",
                                                run_id=run_id, tags={k: str(v) for k, v in tags.items()})

    def version_by_alias(self, alias: str):
        try:
            return self.client.get_model_version_by_alias(self.model_name, alias)
        except Exception:
            return None

    def latest_version(self):
        try:
            versions = self.client.search_model_versions(f"name='{self.model_name}'", max_results=1,
                                                         order_by=["version_number DESC"])
        except Exception:
            return None
        return versions[0] if versions else None

    def set_alias(self, alias: str, version: str) -> None:
        self.client.set_registered_model_alias(self.model_name, alias, version)
