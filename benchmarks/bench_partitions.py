"""Dagster's bookkeeping at 100,000 store-item partitions, on the instance the product ships.

    python -m benchmarks.bench_partitions SPEC.json     (run by benchmarks.bench; writes spec["out"])

No 100,000-series data set is needed to measure what Dagster itself costs there: a fresh
instance (sqlite from the repository's dagster.yaml, or PostgreSQL), the keys added the way
``raw_sales`` adds them (``partitions.add_store_items``), then one range run over all of them of
an asset that does nothing but report the metadata a stage asset reports. The parent relates
the run's bookkeeping to the length of a real run at that size (per-series cost x keys).
"""
# No `from __future__ import annotations` here: Dagster reads the asset's `context` annotation as a type.
import contextlib
import json
import sys
import time

import dagster as dg


def _noop_definitions() -> dg.Definitions:
    from manymodels_assets.assets import report
    from manymodels_assets.assets.common import Stopwatch, partition_range, selected_keys
    from manymodels_assets.partitions import store_item

    @dg.asset(partitions_def=store_item, backfill_policy=dg.BackfillPolicy.single_run(), group_name="bench")
    def bookkeeping_only(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
        """Materializes its range and reports what a stage asset reports (numbers on every partition)."""
        keys, timed = selected_keys(context), Stopwatch()
        with timed("work"):
            pass
        return report.result(context, keys, data_version="bench", metadata={
            "series": len(keys), "partition_range": partition_range(keys), "model_set": "ms-bench",
            "median_mase": 0.9, "median_wape": 0.3, "registered_version": "bench v1",
            "path": dg.MetadataValue.path("/lake/models/ms-bench"), **timed.metadata()})

    job = dg.define_asset_job("bookkeeping_pipeline", selection=[bookkeeping_only], partitions_def=store_item)
    return dg.Definitions(assets=[bookkeeping_only], jobs=[job], executor=dg.in_process_executor)


def measure(spec: dict, log=print) -> dict:
    from benchmarks import bench_events
    from benchmarks.bench_product import dagster_home
    from manymodels_assets.demo import run_job
    from manymodels_assets.forecasting.keys import encode_key
    from manymodels_assets.partitions import add_store_items
    from manymodels_assets.sensors import all_store_items
    from manymodels_assets_tests.dagster_procs import instance_at

    n = int(spec["partitions"])
    keys = [encode_key(f"S{i // 1000:04d}", f"I{i % 1000:05d}") for i in range(n)]
    with contextlib.ExitStack() as stack:
        home = dagster_home(spec["instance"], spec["home"], stack)
        instance = stack.enter_context(instance_at(home))
        t = time.perf_counter()
        add_store_items(instance, keys)
        added = time.perf_counter() - t
        log(f"  {spec['instance']}: {n:,} partitions added in {added:.1f}s")
        called = time.time()
        run_job(_noop_definitions(), instance, "bookkeeping_pipeline", all_store_items(instance))
        returned = time.time()
        [run] = instance.get_runs(filters=dg.RunsFilter(job_name="bookkeeping_pipeline"), limit=1)
        events = bench_events.run_figures(instance, run.run_id, called, returned)
        events.pop("steps")
        log(f"  {spec['instance']}: one range run over them {returned - called:.1f}s")
    return {"instance": spec["instance"], "partitions": n, "add_s": added, "run": events}


def main(argv: list[str]) -> None:
    spec = json.load(open(argv[0]))
    try:
        result = measure(spec, log=lambda m: print(m, flush=True))
    except Exception as exc:  # noqa: BLE001 - reported beside the other figures
        result = {"instance": spec["instance"], "error": f"{type(exc).__name__}: {exc}"[:2000]}
        print(f"  partitions probe on {spec['instance']}: FAILED: {result['error']}", flush=True)
    with open(spec["out"], "w") as f:
        json.dump(result, f, indent=1, default=str)


if __name__ == "__main__":
    from benchmarks import bench_partitions

    bench_partitions.main(sys.argv[1:])
