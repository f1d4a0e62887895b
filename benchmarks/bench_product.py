"""One cycle of this product (ingest, training, promotion, scoring) through the real Dagster
assets, in a process of its own so that its process tree, peak RSS and Spark session are its own.

    python -m benchmarks.bench_product SPEC.json     (run by benchmarks.bench; writes spec["out"])

The spec names a fresh run home, the generated landing zone to copy into it, the Dagster
instance (``sqlite``: the repository's dagster.yaml; ``postgres``: a PostgreSQL server started
here, dagster-postgres run and schedule storage, BatchedPostgresEventLogStorage) and the MLflow
registries (``sqlite`` files, the default, or an ``mlflow server`` started here).
"""
from __future__ import annotations

import contextlib
import os
import shutil
import sys
import time

import dagster as dg

from benchmarks import bench_events, bench_probes
from benchmarks.bench_tree import TreeSampler

STAGES = (("ingest", "ingest_pipeline"), ("training", "training_pipeline"),
          ("promotion", "promotion_pipeline"), ("scoring", "batch_scoring_pipeline"))
EVENT_BATCH_SIZE = 1000


def dagster_home(kind: str, folder: str, stack: contextlib.ExitStack) -> str:
    """A DAGSTER_HOME with the repository's dagster.yaml, on sqlite or on a PostgreSQL started here."""
    from manymodels_assets_tests.dagster_procs import make_home

    if kind == "sqlite":
        return make_home(folder)
    from manymodels_assets_tests.servers import postgres_server

    port, user = stack.enter_context(postgres_server())
    import psycopg2

    conn = psycopg2.connect(host="127.0.0.1", port=port, user=user, dbname="postgres")
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute("CREATE DATABASE dagster")
    conn.close()
    # psycopg2 explicitly: SQLAlchemy 2.1 picks psycopg 3 for postgresql://, which breaks Dagster's NOTIFY
    url = f"postgresql+psycopg2://{user}@127.0.0.1:{port}/dagster"
    pg = {"postgres_url": url}
    return make_home(
        folder,
        run_storage={"module": "dagster_postgres.run_storage", "class": "PostgresRunStorage", "config": pg},
        schedule_storage={"module": "dagster_postgres.schedule_storage", "class": "PostgresScheduleStorage",
                          "config": pg},
        event_log_storage={"module": "manymodels_assets.dagster_instance", "class": "BatchedPostgresEventLogStorage",
                           "config": {**pg, "event_batch_size": EVENT_BATCH_SIZE}})


def settings_env(spec: dict, stack: contextlib.ExitStack) -> dict[str, str]:
    home = spec["home"]
    env = {"MANYMODELS_HOME": home, "MANYMODELS_SPARK_MASTER": spec.get("spark_master", "local[*]"),
           "MANYMODELS_LANDING_ROOT": os.path.join(home, "lake", "landing")}
    if spec.get("driver_memory"):
        env["MANYMODELS_SPARK_DRIVER_MEMORY"] = spec["driver_memory"]
    if spec["registry"] == "server":
        from manymodels_assets_tests.servers import mlflow_server

        uri, _ = stack.enter_context(mlflow_server(os.path.join(home, "mlflow-server")))
        env["MANYMODELS_TRAINING_TRACKING_URI"] = env["MANYMODELS_PRODUCTION_TRACKING_URI"] = uri
    return env


def run_cycle(spec: dict, result: dict, log=print) -> None:
    """Fills ``result`` as it goes, so a failed stage leaves the figures of those before it."""
    from manymodels_assets import layout
    from manymodels_assets.definitions import build_definitions
    from manymodels_assets.demo import run_job
    from manymodels_assets.sensors import all_store_items
    from manymodels_assets.settings import Settings
    from manymodels_assets_tests.dagster_procs import instance_at

    home = spec["home"]
    shutil.rmtree(home, ignore_errors=True)
    shutil.copytree(spec["landing"], os.path.join(home, "lake", "landing"))
    result.update(name=spec["name"], instance=spec["instance"], registry=spec["registry"], stages=[])
    with TreeSampler() as tree, contextlib.ExitStack() as stack:
        with tree.stage("servers") as up:
            env = settings_env(spec, stack)
            dhome = dagster_home(spec["instance"], os.path.join(home, "dagster"), stack)
        result["servers_start_s"] = up["wall_s"]
        settings = Settings.from_env(env)
        result["tracking_uri"] = settings.training_tracking_uri
        defs = build_definitions(settings)
        instance = stack.enter_context(instance_at(dhome))
        for stage, job in STAGES:
            tags = {} if job == "ingest_pipeline" else all_store_items(instance)
            with tree.stage(stage) as fig:
                called = time.time()
                run_job(defs, instance, job, tags)
                returned = time.time()
            [run] = instance.get_runs(filters=dg.RunsFilter(job_name=job), limit=1)
            fig["events"] = bench_events.run_figures(instance, run.run_id, called, returned)
            fig.update(stage=stage, job=job)
            result["stages"].append(fig)
            log(f"  {spec['name']}: {stage} {fig['wall_s']:.1f}s wall, {fig['cpu_s']:.1f}s CPU, "
                f"Dagster events {fig['events']['dagster_events_s']:.1f}s")
        result["series"] = len(instance.get_dynamic_partitions("store_item"))
        result.update(readback(defs, settings, result["stages"], layout))
        if spec.get("probes", True):
            result["probes"] = probes(defs, layout, result["model_set"], log)


def _metadata(stages: list[dict], step: str) -> dict:
    for s in stages:
        if step in s["events"]["steps"]:
            return s["events"]["steps"][step]["metadata"]
    return {}


def readback(defs, settings, stages: list[dict], layout) -> dict:
    """The model set's arithmetic (lake) and the registries' own timestamps (MLflow)."""
    lake = defs.resources["lake"]
    trained, promoted = _metadata(stages, "trained_models"), _metadata(stages, "promoted_models")
    model_set = trained.get("model_set")
    return {"model_set": model_set,
            "model_set_figures": bench_events.model_set_figures(lake, layout, model_set) if model_set else {},
            "mlflow_training_s": bench_events.mlflow_span(settings.training_tracking_uri,
                                                          trained.get("registered_version")),
            "mlflow_promotion_s": bench_events.mlflow_span(settings.production_tracking_uri,
                                                           promoted.get("production_version"))}


def probes(defs, layout, model_set: str | None, log) -> dict:
    from pyspark.sql import SparkSession

    lake, out = defs.resources["lake"], {}
    spark = SparkSession.getActiveSession()
    for name, probe in (("spark", lambda: bench_probes.spark_per_group(spark, lake, layout)),
                        ("serialization", lambda: bench_probes.serialization(lake, layout, model_set)),
                        ("sktime", lambda: bench_probes.sktime_checks(lake, layout))):
        try:
            out[name] = probe()
        except Exception as exc:  # noqa: BLE001 - a probe that breaks is reported, the cycle's figures stand
            out[name] = {"error": f"{type(exc).__name__}: {exc}"[:300]}
        log(f"  probe {name}: {out[name]}")
    if spark is not None:
        out["spark_parallelism"] = spark.sparkContext.defaultParallelism
    return out


def main(argv: list[str]) -> None:
    from benchmarks.bench import child_main

    child_main(argv, run_cycle)


if __name__ == "__main__":
    # Through the package, not __main__: Spark pickles this module's functions by reference then.
    from benchmarks import bench_product

    bench_product.main(sys.argv[1:])
