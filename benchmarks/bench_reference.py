"""The same work done the way the reference implementations do it, for the side-by-side figure.

    python -m benchmarks.bench_reference SPEC.json     (run by benchmarks.bench; writes spec["out"])

The Azure "many models" accelerator and its Databricks/MLflow ports train each series inside a
Spark (or ParallelRunStep) task and register it there as its own model, then score by looking
each series' model up in the registry and downloading it. Here, on the series and planned
calendar a product cycle built (same data, same Spark settings, same cores):

- training: ``groupBy(key).applyInPandas`` calling the project's ``train_series`` with the
  product's default training settings; per series, inside the task: an MLflow run, the pickled
  model row logged as an artifact, a registered model of its own, a version, alias ``production``
  (the reference has no promotion rule; the first model of a series is deployed);
- scoring: per series, one registry lookup (the alias) and one artifact download, then the
  project's ``forecast_series``;
- load: the forecasts into a warehouse of its own through the project's ``WarehouseResource``.

MLflow on a sqlite file breaks under parallel writers, so this side talks to an ``mlflow server``
on 127.0.0.1 started here (sqlite backend, local artifact store, one worker).
"""
from __future__ import annotations

import os
import pickle
import shutil
import sys
import tempfile
import time

import pandas as pd

from benchmarks.bench_tree import TreeSampler

EXPERIMENT = "reference-many-models"
ALIAS = "production"
_clients: dict = {}


def registered_name(key: str) -> str:
    return "mm-" + key.replace("~", "--")


def _client(uri: str):
    """One MlflowClient per Python worker (workers are reused across tasks)."""
    if uri not in _clients:
        from mlflow import MlflowClient

        _clients[uri] = MlflowClient(tracking_uri=uri, registry_uri=uri)
    return _clients[uri]


def register_series(uri: str, experiment_id: str, row: dict) -> None:
    """What the reference does per series from inside its training task."""
    from mlflow.entities import Metric, Param
    from mlflow.exceptions import MlflowException

    c, name = _client(uri), registered_name(row["key"])
    run_id = c.create_run(experiment_id, run_name=row["key"],
                          tags={"store_id": row["store_id"], "item_id": row["item_id"]}).info.run_id
    metrics = [Metric(m, float(row[m]), 0, 0) for m in ("mase", "wape") if row.get(m) is not None]
    c.log_batch(run_id, metrics=metrics, params=[Param("forecaster", str(row["forecaster"]))])
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "model.pkl")
        with open(path, "wb") as f:
            pickle.dump(row, f, protocol=5)
        c.log_artifact(run_id, path, "model")
    c.set_terminated(run_id)
    try:
        c.create_registered_model(name)
    except MlflowException as exc:
        if getattr(exc, "error_code", "") != "RESOURCE_ALREADY_EXISTS":
            raise
    version = c.create_model_version(name, source=f"runs:/{run_id}/model", run_id=run_id)
    c.set_registered_model_alias(name, ALIAS, version.version)


def train_and_register(rows, config, uri: str, experiment_id: str, profiles: dict):
    """One Spark job: per series, train with the project's core, then register it in MLflow."""

    def one(pdf: pd.DataFrame) -> pd.DataFrame:
        from manymodels_assets.forecasting.training import train_series

        is_calendar = pdf["is_calendar"].astype(bool)
        history, future = pdf[~is_calendar], pdf[is_calendar][["date", "price", "promo"]]
        first = (history if len(history) else pdf).iloc[0]
        row = train_series(first["key"], first["store_id"], first["item_id"],
                           history[["date", "units", "price", "promo"]], first["freq"] or "D", config,
                           calendar=future if len(future) else None, item_profile=profiles.get(first["item_id"]))
        t, error = time.perf_counter(), None
        try:
            register_series(uri, experiment_id, row)
        except Exception as exc:  # noqa: BLE001 - counted and shown; the reference would fail its task
            error = f"{type(exc).__name__}: {exc}"[:300]
        return pd.DataFrame([{"key": row["key"], "status": row["status"], "fit_seconds": row["fit_seconds"],
                              "mlflow_seconds": time.perf_counter() - t, "error": error,
                              "model_bytes": len(row["model"] or b"")}])

    schema = "key string, status string, fit_seconds double, mlflow_seconds double, error string, model_bytes long"
    return rows.groupBy("key").applyInPandas(one, schema)


def score_each(keys, uri: str, parallelism: int):
    """One Spark job: per series, look its model up, download it, forecast."""
    from manymodels_assets.forecasting.scoring import FORECAST_ROW

    def batches(iterator):
        from manymodels_assets.forecasting.scoring import forecast_series

        c = _client(uri)
        for pdf in iterator:
            frames = []
            for key in pdf["key"]:
                t0 = time.perf_counter()
                mv = c.get_model_version_by_alias(registered_name(key), ALIAS)
                t1 = time.perf_counter()
                with tempfile.TemporaryDirectory() as d:
                    with open(c.download_artifacts(mv.run_id, "model/model.pkl", d), "rb") as f:
                        row = pickle.load(f)
                t2 = time.perf_counter()
                frame = forecast_series(row, int(row["horizon"]))
                first = frame["step"] == frame["step"].min()
                frame["lookup_s"], frame["download_s"] = (first * (t1 - t0)), (first * (t2 - t1))
                frame["score_s"] = first * (time.perf_counter() - t2)
                frames.append(frame)
            if frames:
                yield pd.concat(frames, ignore_index=True)

    schema = FORECAST_ROW.spark_ddl() + ", lookup_s double, download_s double, score_s double"
    return keys.repartition(parallelism, "key").mapInPandas(batches, schema)


def run_reference(spec: dict, result: dict, log=print) -> None:
    from pyspark.sql import SparkSession
    from pyspark.sql import functions as F

    from manymodels_assets import layout
    from manymodels_assets.assets.models import TrainingSettings
    from manymodels_assets.definitions import build_resources
    from manymodels_assets.engine.tables import read_current
    from manymodels_assets.engine.training import calendar_rows, item_profiles
    from manymodels_assets.resources.spark import spark_config
    from manymodels_assets.resources.warehouse import WarehouseResource
    from manymodels_assets.schemas import FORECASTS
    from manymodels_assets.settings import Settings
    from manymodels_assets_tests.servers import mlflow_server

    home = spec["home"]
    shutil.rmtree(home, ignore_errors=True)
    os.makedirs(os.path.join(home, "warehouse"))
    lake = build_resources(Settings.from_env({"MANYMODELS_HOME": spec["product_home"]}))["lake"]
    result.update(name="reference", registry="mlflow server (sqlite backend, 1 worker)", stages=[])
    with TreeSampler() as tree, mlflow_server(os.path.join(home, "mlflow-server")) as (uri, _):
        from mlflow import MlflowClient

        result["tracking_uri"] = uri
        conf = spark_config(master=spec.get("spark_master", "local[*]"))
        builder = SparkSession.builder
        for k, v in conf.items():
            builder = builder.config(k, v)
        spark = builder.getOrCreate()  # started before the clock, as the product's is by its ingest run
        experiment_id = MlflowClient(tracking_uri=uri).create_experiment(EXPERIMENT)
        config = TrainingSettings().to_core()
        with tree.stage("training") as fig:
            series = read_current(spark, lake, layout.SERIES)
            end = series.agg(F.max("date").alias("end"), F.first("freq").alias("freq")).first()
            cols = ["key", "store_id", "item_id", "date", "units", "price", "promo", "freq"]
            rows = series.select(*cols).withColumn("is_calendar", F.lit(False))
            raw_calendar = read_current(spark, lake, layout.RAW_CALENDAR)
            if raw_calendar is not None:
                pairs = series.select("key", "store_id", "item_id").distinct()
                planned_rows = (calendar_rows(raw_calendar, pairs, end["end"])
                           .withColumn("units", F.lit(None).cast("double"))
                           .withColumn("freq", F.lit(None).cast("string")).select(*cols)
                           .withColumn("is_calendar", F.lit(True)))
                rows = rows.unionByName(planned_rows)
            profiles = item_profiles(series, series, config, end["freq"], end["end"])
            trained = train_and_register(rows, config, uri, experiment_id, profiles).toPandas()
        fig.update(stage="training", series=len(trained), fit_seconds_sum=float(trained["fit_seconds"].sum()),
                   mlflow_seconds_sum=float(trained["mlflow_seconds"].sum()),
                   errors=int(trained["error"].notna().sum()),
                   first_error=next(iter(trained["error"].dropna()), None))
        result["stages"].append(fig)
        log(f"  reference: training + per-series registration {fig['wall_s']:.1f}s "
            f"({fig['errors']} registration errors)")
        ok = spark.createDataFrame(trained.loc[trained["error"].isna(), ["key"]])
        with tree.stage("scoring") as fig:
            scored = score_each(ok, uri, max(2, 2 * spark.sparkContext.defaultParallelism)).toPandas()
        fig.update(stage="scoring", lookup_s=float(scored["lookup_s"].sum()),
                   download_s=float(scored["download_s"].sum()), score_s=float(scored["score_s"].sum()),
                   series=int(scored["key"].nunique()))
        result["stages"].append(fig)
        log(f"  reference: scoring with a lookup and a download per series {fig['wall_s']:.1f}s")
        with tree.stage("load") as fig:
            frame = scored.assign(production_version="per-series",
                                  scored_at=pd.Timestamp.now(tz="UTC").tz_localize(None).floor("s"))
            pairs = frame[["key", "store_id", "item_id"]].drop_duplicates()
            odbc = f"Driver={{SQLite3}};Database={home}/warehouse/forecasts.db"
            warehouse = WarehouseResource(connection_string=odbc, dialect="sqlite")
            fig["rows"] = warehouse.replace_forecasts(frame[FORECASTS.names], pairs)
        fig["stage"] = "load"
        result["stages"].append(fig)
        log(f"  reference: warehouse load {fig['wall_s']:.1f}s")
        spark.stop()


def main(argv: list[str]) -> None:
    from benchmarks.bench import child_main

    child_main(argv, run_reference, "reference")


if __name__ == "__main__":
    # Through the package, not __main__: Spark pickles this module's functions by reference then.
    from benchmarks import bench_reference

    bench_reference.main(sys.argv[1:])
