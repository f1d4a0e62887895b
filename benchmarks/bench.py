"""The many-models benchmark of issue 11 (``make bench``; figures in docs/benchmarks.md).

    python -m benchmarks.bench [--size quick|full|tiny] [--write-docs] [--report-only]

1. Generates store x item daily sales with the project's generator into ``<home>/data`` (reused
   when the same size is there; the last date is two days before today, UTC, since ingest
   rejects rows dated in the future).
2. Runs one cycle (ingest, training, promotion, scoring) through the real Dagster assets as
   range runs, real Spark, MLflow and the SQLite ODBC warehouse, in a process of its own per
   variant (``benchmarks/bench_product.py``): the default instance (the repository's
   dagster.yaml), a Dagster instance on PostgreSQL, and (quick size) MLflow on a server.
3. Runs the reference implementations' way (``benchmarks/bench_reference.py``) on the same
   series, and Dagster's bookkeeping at 100,000 partitions (``benchmarks/bench_partitions.py``).
4. Prints per stage wall and CPU seconds of the process tree, peak RSS, series per second,
   where the time goes, the issue's targets beside the figures and the side-by-side ratio;
   ``--write-docs`` writes the same to docs/benchmarks.md.

Not a test: it prints figures. One benchmark at a time: the machine's cores are the instrument.
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import shutil
import subprocess
import sys
import time

from benchmarks import bench_report

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SIZES = {"tiny": (4, 5, 200), "quick": (10, 100, 4000), "full": (100, 100, 4000)}
"""stores, items, days: quick = 1,000 series x 4,000 days (4 M rows), full = 10,000 x 4,000 (40 M)."""
SEED = 7


def ensure_data(folder: str, stores: int, items: int, days: int, log) -> float:
    """The landing zone under ``folder`` (generated once per size); seconds spent generating."""
    from manymodels_assets.sales_generator import GeneratorConfig, generate

    marker, wanted = os.path.join(folder, "generated.json"), {"stores": stores, "items": items, "days": days,
                                                               "seed": SEED}
    if os.path.exists(marker) and {k: v for k, v in json.load(open(marker)).items() if k in wanted} == wanted:
        log(f"reusing the generated data in {folder}")
        return 0.0
    shutil.rmtree(folder, ignore_errors=True)
    start = dt.datetime.now(dt.timezone.utc).date() - dt.timedelta(days=days + 1)
    cfg = GeneratorConfig(stores=stores, items=items, days=days, start=start.isoformat(), seed=SEED)
    t = time.perf_counter()
    generate(cfg, os.path.join(folder, "landing"))
    took = time.perf_counter() - t
    json.dump({**wanted, "start": cfg.start}, open(marker, "w"))
    log(f"generated {cfg.n_series:,} series x {days:,} days from {cfg.start} in {took:.1f}s")
    return took


def child_main(argv: list[str], run, name: str | None = None) -> None:
    """A benchmark subprocess: ``run(spec, result, log)`` on the spec file ``argv[0]``; its figures,
    or the error that stopped it beside the figures it has, go to ``spec["out"]``."""
    spec = json.load(open(argv[0]))
    name = name or spec["name"]
    result: dict = {"name": name}
    try:
        run(spec, result, log=lambda m: print(m, flush=True))
    except Exception as exc:  # noqa: BLE001 - the parent reports which stage failed and why
        result["error"] = f"{type(exc).__name__}: {exc}"[:2000]
        print(f"  {name}: FAILED: {result['error']}", flush=True)
    with open(spec["out"], "w") as f:
        json.dump(result, f, indent=1, default=str)


def child(module: str, spec: dict, logs: str, log, resume: bool = False) -> dict:
    """Run ``python -m benchmarks.<module> spec`` in a process of its own; its result. With
    ``resume``, a result this variant left complete in ``logs`` is read instead of run again."""
    os.makedirs(logs, exist_ok=True)
    name = spec.get("name") or spec.get("instance") or module
    spec_path = os.path.join(logs, f"{module}-{name}.json")
    spec = {**spec, "out": spec_path.replace(".json", ".result.json")}
    if resume and os.path.exists(spec["out"]):
        result = json.load(open(spec["out"]))
        if not result.get("error"):
            log(f"  {module} {name}: reusing the figures of an earlier run ({spec['out']})")
            return {**result, "resumed": True}
    json.dump(spec, open(spec_path, "w"))
    threads = {v: "1" for v in ("OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "OMP_NUM_THREADS")}
    env = {**os.environ, **threads, "PYSPARK_PYTHON": sys.executable,
           "PYTHONPATH": os.pathsep.join(p for p in (ROOT, os.environ.get("PYTHONPATH")) if p)}
    with open(os.path.join(logs, f"{module}-{name}.log"), "w") as err:
        proc = subprocess.run([sys.executable, "-m", f"benchmarks.{module}", spec_path], cwd=ROOT, env=env,
                              stderr=err)
    if not os.path.exists(spec["out"]):
        log(f"  {module} {name} exited with {proc.returncode} and no figures; see {err.name}")
        return {"name": name, "error": f"exited with {proc.returncode}; log: {err.name}"}
    return json.load(open(spec["out"]))


def machine() -> dict:
    import psutil

    cpu = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")),
               platform.processor()) if os.path.exists("/proc/cpuinfo") else platform.processor()
    return {"cores": os.cpu_count(), "cpu": cpu, "memory_gb": psutil.virtual_memory().total / 2**30,
            "load_before": " / ".join(f"{x:.2f}" for x in os.getloadavg()), "python": platform.python_version()}


def run(a: argparse.Namespace, log) -> dict:
    stores, items, days = a.stores or SIZES[a.size][0], a.items or SIZES[a.size][1], a.days or SIZES[a.size][2]
    home = os.path.abspath(a.home or os.path.join(ROOT, ".manymodels", f"bench-{a.size}"))
    logs = os.path.join(home, "logs")
    results = {"size": a.size, "series": stores * items, "days": days, "machine": machine(),
               "date": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"), "variants": []}
    log(f"benchmark {a.size}: {stores * items:,} series x {days:,} days under {home}; load average "
        f"{results['machine']['load_before']} on {results['machine']['cores']} cores")
    results["generate_s"] = ensure_data(os.path.join(home, "data"), stores, items, days, log)
    landing = os.path.join(home, "data", "landing")
    variants = [{"name": f"{i}-instance", "instance": i, "registry": "sqlite"} for i in a.instances]
    if a.server_registry:
        variants.append({"name": "mlflow-server", "instance": "sqlite", "registry": "server"})
    for v in variants:
        log(f"{v['name']}: Dagster on {v['instance']}, MLflow {v['registry']}")
        spec = {**v, "home": os.path.join(home, "runs", v["name"]), "landing": landing, "probes": not a.no_probes,
                "spark_master": a.spark_master}
        results["variants"].append({**v, **child("bench_product", spec, logs, log, a.resume)})
    done = [v for v in results["variants"] if v.get("stages") and not v.get("error")]
    if a.reference and done:
        source = done[-1]  # the last product cycle that completed: its series and calendar
        log(f"reference side on the series of {source['name']}")
        results["reference"] = child("bench_reference", {
            "name": "reference", "home": os.path.join(home, "runs", "reference"),
            "product_home": os.path.join(home, "runs", source["name"]), "spark_master": a.spark_master}, logs, log,
            a.resume)
    results["partitions"] = []
    for instance in (a.instances if a.partitions else []):
        log(f"{a.partitions:,} partitions on {instance}")
        folder = os.path.join(home, "runs", f"partitions-{instance}")
        shutil.rmtree(folder, ignore_errors=True)
        results["partitions"].append(child("bench_partitions", {"instance": instance, "home": folder,
                                                                "partitions": a.partitions}, logs, log,
                                                                a.resume))
    results["machine"]["load_after"] = " / ".join(f"{x:.2f}" for x in os.getloadavg())
    json.dump(results, open(os.path.join(home, "results.json"), "w"), indent=1, default=str)
    return results


def parse(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m benchmarks.bench", description=__doc__.split("\n")[0])
    p.add_argument("--size", choices=sorted(SIZES), default="quick")
    p.add_argument("--stores", type=int, help="override the size's stores")
    p.add_argument("--items", type=int, help="override the size's items")
    p.add_argument("--days", type=int, help="override the size's days of history")
    p.add_argument("--home", help="bench home (default .manymodels/bench-<size>)")
    p.add_argument("--instances", default=None, help="comma-separated Dagster instances: sqlite,postgres")
    p.add_argument("--server-registry", action=argparse.BooleanOptionalAction, default=None,
                   help="also run a cycle with MLflow on an mlflow server (default: quick size)")
    p.add_argument("--reference", action=argparse.BooleanOptionalAction, default=None,
                   help="the side-by-side run (default: quick size)")
    p.add_argument("--partitions", type=int, default=None, help="the partitions probe's size (0: off)")
    p.add_argument("--no-probes", action="store_true", help="skip the Spark/serialization/sktime probes")
    p.add_argument("--spark-master", default="local[*]")
    p.add_argument("--write-docs", action="store_true", help="write the figures to docs/benchmarks.md")
    p.add_argument("--report-only", action="store_true", help="print (and write) the last results again")
    p.add_argument("--resume", action="store_true",
                   help="reuse the figures of variants an interrupted run of this size completed")
    a = p.parse_args(argv)
    quick = a.size == "quick"
    a.instances = (a.instances or ("sqlite" if a.size == "tiny" else "sqlite,postgres")).split(",")
    a.server_registry = quick if a.server_registry is None else a.server_registry
    a.reference = quick if a.reference is None else a.reference
    a.partitions = (0 if a.size == "tiny" else 100_000) if a.partitions is None else a.partitions
    return a


def main(argv: list[str] | None = None) -> None:
    a = parse(argv)
    log = lambda m: print(m, flush=True)  # noqa: E731
    if a.report_only:
        home = os.path.abspath(a.home or os.path.join(ROOT, ".manymodels", f"bench-{a.size}"))
        results = json.load(open(os.path.join(home, "results.json")))
    else:
        results = run(a, log)
    text = bench_report.render(results)
    print("\n" + text, flush=True)
    if a.write_docs:
        from benchmarks.bench_docs import write_docs

        log(f"wrote {write_docs(results, text, ROOT)}")


if __name__ == "__main__":
    main()
