"""Command-line entry points: generate demo data, run the whole pipeline, print a summary.

    manymodels generate --stores 20 --items 10 --days 1095
    manymodels demo            # generate + every asset for every partition + summary
    manymodels summary
"""
from __future__ import annotations

import argparse
import os
import sys
import time

import pandas as pd

from manymodels_assets.sensors import all_store_items
PARTITIONED_JOBS = ("training_pipeline", "promotion_pipeline", "batch_scoring_pipeline")


def _settings():
    from manymodels_assets.settings import Settings

    return Settings.from_env()


def cmd_generate(args) -> None:
    from manymodels_assets.sales_generator import GeneratorConfig, generate

    settings = _settings()
    cfg = GeneratorConfig(stores=args.stores, items=args.items, days=args.days, seed=args.seed, start=args.start)
    landing = args.landing or os.path.join(settings.lake_root, "landing")
    t = time.perf_counter()
    files = generate(cfg, landing, fmt=args.format, drop=args.drop)
    plans = sum("/calendar/" in f for f in files)
    print(f"wrote {cfg.n_series} series x {cfg.days} days in {len(files) - plans} sales file(s) and a 28-day plan "
          f"in {plans} calendar file(s) under {landing}/ in {time.perf_counter() - t:.1f}s")


def run_all(defs, instance, log=print) -> dict[str, float]:
    """Materialize every asset for every store-item partition: ingest, then one range run per job."""
    from manymodels_assets.partitions import store_item

    timings = {}
    # Step events go to the instance (and the UI); the console gets warnings and errors only.
    quiet = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}
    t = time.perf_counter()
    defs.resolve_job_def("ingest_pipeline").execute_in_process(instance=instance, run_config=quiet)
    timings["ingest_pipeline"] = time.perf_counter() - t
    keys = instance.get_dynamic_partitions(store_item.name)
    log(f"ingest_pipeline: {len(keys)} store-items in {timings['ingest_pipeline']:.0f}s")
    tags = all_store_items(instance)
    for name in PARTITIONED_JOBS:
        t = time.perf_counter()
        defs.resolve_job_def(name).execute_in_process(instance=instance, tags=tags, run_config=quiet)
        timings[name] = time.perf_counter() - t
        log(f"{name}: {len(keys)} store-items in one run, {timings[name]:.0f}s")
    return timings


def summary(defs, instance) -> str:
    """A readable account of what the last runs produced, from the lake, registries and warehouse."""
    import dagster as dg

    from manymodels_assets.assets.common import SERIES_TABLE
    from manymodels_assets.engine.modelsets import MODELS_DIR

    res = defs.resources
    lake, warehouse = res["lake"], res["warehouse"]
    training, production = res["training_registry"], res["production_registry"]
    lines = ["", "=" * 72, "manymodels demo summary", "=" * 72]
    series_version = lake.current_version(SERIES_TABLE)
    series = pd.read_parquet(lake.uri(SERIES_TABLE, series_version), columns=["key"])
    lines.append(f"series:            {series['key'].nunique()} store-items, {len(series):,} points")
    newest = training.latest_version()
    models = pd.read_parquet(lake.uri(MODELS_DIR, newest.tags["model_set"]),
                             columns=["key", "status", "forecaster", "mase", "wape", "interval_coverage"])
    lines.append(f"model set:         {newest.tags['model_set']} ({training.model_name} v{newest.version})")
    mix = models.groupby(["forecaster", "status"]).size().rename("series").reset_index()
    lines.append("models per forecaster:")
    lines += ["  " + line for line in mix.to_string(index=False).splitlines()]
    ok = models[models["status"] == "ok"]
    q = ok[["mase", "wape"]].assign(accuracy=1 - ok["wape"]).drop(columns="wape").quantile([0.1, 0.5, 0.9])
    lines.append("backtest accuracy spread (10% / 50% / 90%):")
    for col in q.columns:
        lines.append(f"  {col:<9} {q[col].iloc[0]:.3f} / {q[col].iloc[1]:.3f} / {q[col].iloc[2]:.3f}")
    lines.append(f"  interval coverage (median, leave-fold-out): {ok['interval_coverage'].median():.3f}")
    promo = instance.get_latest_materialization_event(dg.AssetKey("promoted_models"))
    if promo is not None:
        md = promo.asset_materialization.metadata
        counts = {k: md[k].value for k in ("promoted", "kept", "provisional", "rejected") if k in md}
        lines.append("promotion:         " + ", ".join(f"{k} {v}" for k, v in counts.items()))
    live = production.version_by_alias("production")
    if live is not None:
        lines.append(f"production set:    {live.tags['model_set']} ({production.model_name} v{live.version}, "
                     f"{live.tags.get('series_count')} series)")
    wh = warehouse.query(f"SELECT COUNT(*) AS n_rows, COUNT(DISTINCT store_id || '~' || item_id) AS n_series "
                         f"FROM {warehouse.table}")
    lines.append(f"warehouse:         {int(wh['n_rows'][0]):,} forecast rows for {int(wh['n_series'][0])} series "
                 f"in table {warehouse.table}")
    lines += ["where things are:",
              f"  lake               {lake.root}",
              f"  training registry  {training.tracking_uri}",
              f"  production reg.    {production.tracking_uri}",
              f"  warehouse          {_where(warehouse)}",
              f"  Dagster runs       {instance.root_directory}  (make ui)",
              "=" * 72]
    return "\n".join(lines)


def _where(warehouse) -> str:
    # the file of a SQLite warehouse; only the dialect otherwise (the string may hold credentials)
    conn = warehouse.connection_string
    return conn.split("Database=")[-1] if warehouse.dialect == "sqlite" and "Database=" in conn else warehouse.dialect


def cmd_demo(args) -> None:
    import dagster as dg

    from manymodels_assets.definitions import build_definitions

    settings = _settings()
    t0 = time.perf_counter()
    landing = os.path.join(settings.lake_root, "landing")
    if not os.path.exists(os.path.join(landing, "sales")):
        cmd_generate(argparse.Namespace(stores=args.stores, items=args.items, days=args.days, seed=args.seed,
                                        start="2023-01-01", landing=landing, format="parquet", drop=None))
    defs = build_definitions(settings)
    instance = dg.DagsterInstance.get()
    run_all(defs, instance)
    print(summary(defs, instance))
    print(f"demo finished in {time.perf_counter() - t0:.0f}s")


def cmd_summary(args) -> None:
    import dagster as dg

    from manymodels_assets.definitions import build_definitions

    print(summary(build_definitions(_settings()), dg.DagsterInstance.get()))


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(prog="manymodels")
    sub = parser.add_subparsers(dest="command", required=True)
    g = sub.add_parser("generate", help="write a synthetic sales drop into the landing zone")
    for p in (g, sub.add_parser("demo", help="generate data (if none), run every asset, print a summary")):
        p.add_argument("--stores", type=int, default=20)
        p.add_argument("--items", type=int, default=10)
        p.add_argument("--days", type=int, default=1095)
        p.add_argument("--seed", type=int, default=7)
    g.add_argument("--start", default="2023-01-01")
    g.add_argument("--landing", default=None, help="landing folder (default: the lake's landing/)")
    g.add_argument("--format", choices=["parquet", "csv"], default="parquet")
    g.add_argument("--drop", default=None, help="drop folder name (default: derived from the data)")
    sub.add_parser("summary", help="print the summary of the last runs")
    args = parser.parse_args(argv)
    {"generate": cmd_generate, "demo": cmd_demo, "summary": cmd_summary}[args.command](args)


if __name__ == "__main__":
    sys.exit(main())
