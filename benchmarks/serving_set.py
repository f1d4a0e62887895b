"""A production model set without Spark, for the serving tests and benchmark.

The models are real: :func:`fit_templates` trains series with the core's ``train_series``.
A large set reuses their serialized bytes across keys (:func:`replicate`): what the service
reads, caches and runs per request is then exactly what a trained set holds, at no training
cost. :func:`write_set` lays rows out as the pipeline's Spark writer does
(``repartition("key").sortWithinPartitions("key")``: keys hashed over part files, sorted inside
each; row groups of up to 128 MB), and :func:`register_production` registers the set in a real
MLflow registry and points the ``production`` alias at it, as promotion does.
"""
from __future__ import annotations

import datetime as dt
import posixpath
import zlib
from typing import Iterable

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

SPARK_ROW_GROUP_BYTES = 128 * 2**20  # parquet.block.size, Spark's default
SPARK_SHUFFLE_PARTITIONS = 8  # resources/spark.py: spark.sql.shuffle.partitions


def daily_history(n: int, seed: int, level: float = 10.0, weekly: bool = True) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    shape = np.resize([0.7, 0.8, 0.9, 1.0, 1.3, 1.6, 0.7], n) if weekly else np.ones(n)
    units = np.clip(level * shape + rng.normal(0, level * 0.1, n), 0, None)
    return pd.DataFrame({"date": pd.date_range("2024-01-01", periods=n, freq="D"), "units": units})


# One candidate set per template, so the set mixes forecasters as a trained panel does.
TEMPLATE_CANDIDATES = (("ets",), ("theta",), ("seasonal_naive",), ("tsb",), ("naive",), ("croston",),
                       ("seasonal_naive", "ets", "theta", "tsb"))


def fit_templates(ids: Iterable[tuple[str, str]], model_set: str, days: int = 400,
                  trained_at: dt.datetime | None = None) -> list[dict]:
    """Train one real model per (store_id, item_id), cycling through TEMPLATE_CANDIDATES."""
    from manymodels_assets.forecasting.keys import encode_key
    from manymodels_assets.forecasting.training import TrainingConfig, train_series

    rows = []
    for i, (store, item) in enumerate(ids):
        cands = TEMPLATE_CANDIDATES[i % len(TEMPLATE_CANDIDATES)]
        config = TrainingConfig(candidates=cands, combine_top=2 if len(cands) > 1 else 0)
        row = train_series(encode_key(store, item), store, item, daily_history(days, seed=i, level=5 + i % 20),
                           "D", config)
        row["model_set"] = model_set
        if trained_at is not None:
            row["trained_at"] = trained_at
        rows.append(row)
    return rows


def replicate(templates: list[dict], n: int, model_set: str, stores: int = 400) -> pd.DataFrame:
    """``n`` rows, store S0001.. x item I00001.., each a copy of a template (same model bytes)."""
    from manymodels_assets.forecasting.keys import encode_keys

    frame = pd.DataFrame(templates)
    frame = frame.iloc[np.arange(n) % len(frame)].reset_index(drop=True)
    store_ids = [f"S{i % stores + 1:04d}" for i in range(n)]
    item_ids = [f"I{i // stores + 1:05d}" for i in range(n)]
    return frame.assign(store_id=store_ids, item_id=item_ids, key=encode_keys(store_ids, item_ids),
                        model_set=model_set)


def _arrow(frame: pd.DataFrame) -> pa.Table:
    table = pa.Table.from_pandas(frame, preserve_index=False)
    if "model" in table.column_names and table.schema.field("model").type == pa.null():
        at = table.schema.get_field_index("model")
        table = table.set_column(at, "model", table.column("model").cast(pa.binary()))
    return table


def write_set(fs, directory: str, rows: pd.DataFrame | list[dict], n_files: int = SPARK_SHUFFLE_PARTITIONS,
              row_group_bytes: int = SPARK_ROW_GROUP_BYTES) -> list[str]:
    """Write rows as Spark's part files; returns their paths."""
    frame = pd.DataFrame(rows) if isinstance(rows, list) else rows
    part = np.array([zlib.crc32(k.encode()) % n_files for k in frame["key"]])
    fs.makedirs(directory, exist_ok=True)
    paths = []
    for p in range(n_files):
        chunk = frame[part == p].sort_values("key")
        if chunk.empty:
            continue
        row_bytes = max(1, int(chunk["model"].map(lambda b: len(b) if b is not None else 0).mean()) + 500)
        per_group = max(1, row_group_bytes // row_bytes)
        path = posixpath.join(directory, f"part-{p:05d}-serving.snappy.parquet")
        schema = _arrow(chunk.iloc[:1]).schema
        # The models are distinct per series in a trained set: no dictionary for them, as
        # Spark's writer gives up on it for large unique values.
        dictionary = [c for c in schema.names if c != "model"]
        with fs.open(path, "wb") as f, pq.ParquetWriter(f, schema, compression="snappy",
                                                        use_dictionary=dictionary) as writer:
            for start in range(0, len(chunk), per_group):
                writer.write_table(_arrow(chunk.iloc[start:start + per_group]).cast(schema))
        paths.append(path)
    return paths


def register_production(registry, model_set: str, lake_uri: str, series: int) -> str:
    """Register a model set in a real MLflow registry and move ``production`` to it; the version."""
    from mlflow.exceptions import MlflowException

    client = registry.client
    exp = client.get_experiment_by_name(registry.experiment_name)
    exp_id = exp.experiment_id if exp else client.create_experiment(registry.experiment_name,
                                                                    artifact_location=registry.artifact_location)
    tags = {"model_set": model_set, "lake_uri": lake_uri, "series_count": str(series)}
    run_id = client.create_run(exp_id, run_name=model_set, tags=tags).info.run_id
    client.set_terminated(run_id)
    try:
        client.create_registered_model(registry.model_name)
    except MlflowException as exc:
        if exc.error_code != "RESOURCE_ALREADY_EXISTS":
            raise
    version = client.create_model_version(registry.model_name, source=f"runs:/{run_id}/model_set", run_id=run_id,
                                          tags=tags)
    client.set_registered_model_alias(registry.model_name, "production", version.version)
    return str(version.version)


class Deployment:
    """A MANYMODELS_HOME with the lake and production registry built from settings as the pipeline
    builds them; :meth:`publish` writes a set there and makes it production."""

    def __init__(self, home, env: dict | None = None):
        from manymodels_assets.definitions import build_resources
        from manymodels_assets.settings import Settings

        self.home = str(home)
        self.settings = Settings.from_env({"MANYMODELS_HOME": self.home, **(env or {})})
        resources = build_resources(self.settings)
        self.lake, self.registry = resources["lake"], resources["production_registry"]

    def set_directory(self, name: str) -> str:
        from manymodels_assets import layout

        return self.lake.uri(layout.model_set(name))

    def publish(self, name: str, rows, n_files: int = 2, row_group_bytes: int = 60_000) -> str:
        """Write ``rows`` as model set ``name``, register it, move ``production`` to it; the version."""
        write_set(self.lake.fs, self.set_directory(name), rows, n_files=n_files, row_group_bytes=row_group_bytes)
        return register_production(self.registry, name, self.set_directory(name), len(rows))
