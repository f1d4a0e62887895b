"""A model set as an MLflow pyfunc model, for ``mlflow models serve`` or an Azure ML managed online endpoint.

Such an endpoint serves one fixed set (an MLflow model is immutable); ``manymodels serve`` is
the one that follows the production alias. The pyfunc model either references the set in the
lake (small; the endpoint needs the lake's credentials) or embeds a copy of its folder (self-
contained; the set's size). Both read rows through the set's key index and forecast with the
service's ``forecast_points`` (the core's ``forecast_series``), so both answer alike.

    save_model_set_pyfunc("prod-model", lake.uri("models", name))     # then:
    mlflow models serve -m prod-model --env-manager local
    curl -d '{"dataframe_records": [{"store_id": "S1", "item_id": "I1", "horizon": 7}]}' \\
         -H 'Content-Type: application/json' localhost:5000/invocations
"""
from __future__ import annotations

import os
from typing import Any

import mlflow.pyfunc
import pandas as pd

OUTPUT_COLUMNS = ["store_id", "item_id", "forecast_date", "step", "yhat", "yhat_lower", "yhat_upper", "forecaster",
                  "model_set"]
# What the model's environment installs (an Azure ML endpoint builds it from these).
REQUIREMENTS = ["pandas>=2.2,<3", "numpy>=1.26", "pyarrow>=15", "fsspec>=2024.3", "adlfs>=2024.4", "sktime==1.2.0",
                "statsmodels>=0.14", "statsforecast>=2.0", "mlflow>=3.17,<3.18"]


class ModelSetModel(mlflow.pyfunc.PythonModel):
    """Input: rows of store_id, item_id and optionally horizon. Output: one row per forecast step."""

    def load_context(self, context) -> None:
        from fsspec.core import url_to_fs

        from manymodels_assets.model_set_index import ModelSetReader, load_index

        location = context.artifacts.get("model_set") or context.model_config["model_set_uri"]
        fs, directory = url_to_fs(location)
        self._reader = ModelSetReader(fs, directory, load_index(fs, directory))

    def predict(self, context, model_input: pd.DataFrame, params: dict[str, Any] | None = None) -> pd.DataFrame:
        from mlflow.exceptions import INVALID_PARAMETER_VALUE, MlflowException

        from manymodels_assets.forecasting.keys import encode_key
        from manymodels_assets.serving.store import POINT_COLUMNS, SKIP_COLUMNS, forecast_points

        missing = {"store_id", "item_id"} - set(model_input.columns)
        if missing:
            raise MlflowException(f"input lacks column(s) {sorted(missing)}", INVALID_PARAMETER_VALUE)
        frames = []
        for record in model_input.to_dict("records"):
            store_id, item_id = str(record["store_id"]), str(record["item_id"])
            row = self._reader.row(encode_key(store_id, item_id), SKIP_COLUMNS)
            if row is None or row.get("model") is None:
                raise MlflowException(f"no model for store_id={store_id!r}, item_id={item_id!r} in this model set",
                                      INVALID_PARAMETER_VALUE)
            horizon = record.get("horizon")
            horizon = int(horizon) if horizon is not None and not pd.isna(horizon) else int(row.get("horizon") or 1)
            points = pd.DataFrame(forecast_points(row, horizon)[:horizon], columns=list(POINT_COLUMNS))
            frames.append(points.assign(store_id=store_id, item_id=item_id, forecaster=row.get("forecaster"),
                                        model_set=row.get("model_set")))
        return pd.concat(frames, ignore_index=True)[OUTPUT_COLUMNS] if frames else pd.DataFrame(columns=OUTPUT_COLUMNS)


def save_model_set_pyfunc(path: str, model_set_uri: str, embed: bool = False) -> str:
    """Save the model set at ``model_set_uri`` as a pyfunc model at ``path``; returns ``path``.

    ``embed``: copy the set's folder into the model (a local folder only) instead of referencing it.
    The model carries a request for one of the set's own series as its input example
    (``serving_input_example.json``: what to send an endpoint first).
    """
    from mlflow.models import ModelSignature
    from mlflow.types import ColSpec, Schema

    package = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    signature = ModelSignature(inputs=Schema([ColSpec("string", "store_id"), ColSpec("string", "item_id"),
                                              ColSpec("long", "horizon", required=False)]))
    mlflow.pyfunc.save_model(
        path, python_model=ModelSetModel(), code_paths=[package], pip_requirements=REQUIREMENTS, signature=signature,
        artifacts={"model_set": model_set_uri} if embed else None, model_config={"model_set_uri": model_set_uri},
        input_example=example_request(model_set_uri))
    return path


def example_request(model_set_uri: str, tries: int = 100) -> pd.DataFrame:
    """A request the set answers: the first of its series (by key) that has a model, at its horizon.

    Raises ValueError when none has one (a set of failed series only): it has nothing to serve.
    """
    import posixpath

    import pyarrow.parquet as pq
    from fsspec.core import url_to_fs

    from manymodels_assets.forecasting import status
    from manymodels_assets.forecasting.keys import decode_key
    from manymodels_assets.model_set_index import ModelSetReader, load_index, part_files
    from manymodels_assets.serving.store import SKIP_COLUMNS

    fs, directory = url_to_fs(model_set_uri)
    reader = ModelSetReader(fs, directory, load_index(fs, directory))
    statuses = []  # the key and status columns only, never the model bytes
    for name in part_files(fs, directory):
        with fs.open(posixpath.join(directory, name), "rb") as f:
            statuses.append(pq.read_table(f, columns=["key", "status"]).to_pandas())
    listed = pd.concat(statuses, ignore_index=True) if statuses else pd.DataFrame(columns=["key", "status"])
    for key in sorted(listed.loc[listed["status"].isin(status.WITH_MODEL), "key"])[:tries]:
        row = reader.row(key, SKIP_COLUMNS)
        if row is not None and row.get("model") is not None:
            store_id, item_id = decode_key(key)
            return pd.DataFrame({"store_id": [store_id], "item_id": [item_id],
                                 "horizon": [int(row.get("horizon") or 1)]})
    raise ValueError(f"the model set at {model_set_uri} has no series with a model: nothing to serve")
