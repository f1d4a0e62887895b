"""Run the whole pipeline on what the landing zone holds: what `make demo` and the integration tests do."""
from __future__ import annotations

import time
from collections.abc import Callable

import dagster as dg

from manymodels_assets import landing
from manymodels_assets.dagster_instance import in_process_tags
from manymodels_assets.jobs import PARTITIONED_JOBS
from manymodels_assets.partitions import store_item
from manymodels_assets.sensors import all_store_items

QUIET = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}
"""Step events go to the instance (and the UI); the console gets warnings and errors only."""


def run_all(defs: dg.Definitions, instance: dg.DagsterInstance, log: Callable[[str], None] = print) -> dict[str, float]:
    """Materialize every asset for every store-item partition: ingest, then one range run per job.

    Raises when a run fails, naming it.
    """
    timings = {}
    t = time.perf_counter()
    run_job(defs, instance, "ingest_pipeline", {})
    timings["ingest_pipeline"] = time.perf_counter() - t
    keys = instance.get_dynamic_partitions(store_item.name)
    log(f"ingest_pipeline: {len(keys)} store-items in {timings['ingest_pipeline']:.0f}s")
    tags = all_store_items(instance)
    for name in PARTITIONED_JOBS:
        t = time.perf_counter()
        run_job(defs, instance, name, tags)
        timings[name] = time.perf_counter() - t
        log(f"{name}: {len(keys)} store-items in one run, {timings[name]:.0f}s")
    return timings


def run_job(defs: dg.Definitions, instance: dg.DagsterInstance, job: str, tags: dict) -> None:
    result = defs.resolve_job_def(job).execute_in_process(
        instance=instance, tags={**tags, **in_process_tags()}, run_config=QUIET, raise_on_error=False)
    if not result.success:
        failures = [_root(e.event_specific_data.error) for e in result.all_events
                    if e.is_step_failure and e.event_specific_data and e.event_specific_data.error]
        raise RuntimeError(f"{job} failed (run {result.run_id}): {failures[0] if failures else 'see `make ui`'}")


def generate_landing(stores: int, items: int, days: int, seed: int, start: str = "2023-01-01",
                     landing: str | None = None, fmt: str = "parquet", drop: str | None = None) -> None:
    """Write a synthetic sales drop (and its planned calendar) into the landing zone."""
    from manymodels_assets.definitions import lake_resource
    from manymodels_assets.sales_generator import GeneratorConfig, generate
    from manymodels_assets.settings import Settings

    cfg = GeneratorConfig(stores=stores, items=items, days=days, seed=seed, start=start)
    with dg.build_resources({"lake": lake_resource(Settings.from_env())}) as res:
        fs = None if landing else res.lake.landing_fs
        landing = landing or res.lake.landing_uri()
        t = time.perf_counter()
        files = generate(cfg, landing, fmt=fmt, drop=drop, fs=fs)
    plans = sum("/calendar/" in f for f in files)
    print(f"wrote {cfg.n_series} series x {cfg.days} days in {len(files) - plans} sales file(s) and a 28-day "
          f"calendar in {plans} calendar file(s) under {landing}/ in {time.perf_counter() - t:.1f}s")


def run_demo(stores: int, items: int, days: int, seed: int) -> None:
    """Generate data when the landing zone has none, run every asset over every store-item, print the summary."""
    from manymodels_assets.definitions import build_definitions
    from manymodels_assets.settings import Settings
    from manymodels_assets.summary import summary

    settings = Settings.from_env()
    t0 = time.perf_counter()
    defs = build_definitions(settings)
    with dg.build_resources({"lake": defs.resources["lake"]}) as res:
        empty = not res.lake.landing_fs.exists(res.lake.landing_uri(landing.SALES.name))
    if empty:
        generate_landing(stores, items, days, seed)
    instance = dg.DagsterInstance.get()
    run_all(defs, instance)
    print(summary(defs, instance))
    print(f"demo finished in {time.perf_counter() - t0:.0f}s")


def _root(error) -> str:
    """The innermost cause of a step's error: the user's exception, not Dagster's wrapper."""
    while error.cause is not None:
        error = error.cause
    return error.message.strip()
