"""Costs the runs cannot report themselves, measured after them on the same data and session.

- Spark per group: a no-op ``applyInPandas`` over every series against a plain ``groupBy().count()``
  of the same table (same scan and shuffle, no Python): the difference is the per-group cost of
  moving a group to a Python worker and back (Arrow conversion, pandas frame, the call).
- Serialization: unpickling (zlib + pickle) and pickling each model of the model set, and
  scoring it (``forecast_series``: the scoring arithmetic), one core, in this process.
- sktime's checks: ``train_series`` on a sample of series under cProfile; the share of its time
  spent inside sktime's input checks and conversions (``_check_X_y``, ``_check_fh``,
  ``_update_y_X``, and ``convert_to`` called by ``predict``). The profiler slows Python calls
  more than numeric code, so the share is an upper bound.
"""
from __future__ import annotations

import cProfile
import pstats
import time

import pandas as pd

_CHECKS = ("_check_X_y", "_check_fh", "_update_y_X")


def spark_per_group(spark, lake, layout) -> dict:
    """Wall ms per group of a no-op applyInPandas over the series table (the second of two runs)."""
    from manymodels_assets.engine.tables import read_current

    series = read_current(spark, lake, layout.SERIES)
    n = series.select("key").distinct().count()

    def noop(pdf: pd.DataFrame) -> pd.DataFrame:
        return pd.DataFrame({"key": [pdf["key"].iloc[0]], "n": [len(pdf)]})

    def timed(job) -> float:
        t = time.perf_counter()
        job()
        return time.perf_counter() - t

    plain = lambda: series.groupBy("key").count().collect()  # noqa: E731
    python = lambda: series.groupBy("key").applyInPandas(noop, "key string, n long").collect()  # noqa: E731
    timed(python)  # starts the Python workers
    scan, grouped = min(timed(plain), timed(plain)), timed(python)
    return {"groups": n, "scan_shuffle_s": scan, "apply_s": grouped,
            "per_group_ms": max(0.0, grouped - scan) / n * 1e3 if n else 0.0}


def serialization(lake, layout, model_set: str, sample: int = 500) -> dict:
    """Per series: ms to load (unzip + unpickle) and dump a model, ms to score it, model bytes."""
    from manymodels_assets.forecasting.scoring import forecast_series
    from manymodels_assets.forecasting.serialization import dump_model, load_model

    frame = pd.read_parquet(lake.uri(layout.model_set(model_set)))
    rows = frame[frame["model"].notna()].head(sample).to_dict("records")
    if not rows:
        return {}
    t = time.perf_counter()
    models = [load_model(r["model"]) for r in rows]
    load_s = time.perf_counter() - t
    t = time.perf_counter()
    for m in models:
        dump_model(m)
    dump_s = time.perf_counter() - t
    t = time.perf_counter()
    for r in rows:
        forecast_series(r, int(r["horizon"]))
    score_s = time.perf_counter() - t
    n = len(rows)
    return {"sample": n, "load_ms": load_s / n * 1e3, "dump_ms": dump_s / n * 1e3, "score_ms": score_s / n * 1e3,
            "model_kb": float(frame["model"].dropna().map(len).mean() / 1e3)}


def sktime_checks(lake, layout, sample: int = 20) -> dict:
    """Share of ``train_series`` time inside sktime's checks, on ``sample`` series, one core."""
    from manymodels_assets.assets.models import TrainingSettings
    from manymodels_assets.forecasting.training import train_series

    path = lake.uri(layout.SERIES, lake.current_version(layout.SERIES))
    keys = pd.read_parquet(path, columns=["key"])["key"].drop_duplicates().sort_values()
    chosen = list(keys.iloc[:: max(1, len(keys) // sample)][:sample])
    series = pd.read_parquet(path, filters=[("key", "in", chosen)])
    calendar = _planned(lake, layout, series)
    config = TrainingSettings().to_core()
    profile = cProfile.Profile()
    t = time.perf_counter()
    profile.enable()
    for key, g in series.groupby("key"):
        first = g.iloc[0]
        plan = calendar.get((first["store_id"], first["item_id"]))
        train_series(key, first["store_id"], first["item_id"], g[["date", "units", "price", "promo"]],
                     first["freq"], config, calendar=plan)
    profile.disable()
    total = time.perf_counter() - t
    stats = pstats.Stats(profile).stats  # (file, line, name) -> (cc, nc, tt, ct, callers)
    checks = 0.0
    for (file, _, name), (_, _, _, cumulative, callers) in stats.items():
        if "sktime" not in file:
            continue
        if name in _CHECKS and file.endswith("forecasting/base/_base.py"):
            checks += cumulative
        elif name == "convert_to":
            checks += sum(c[3] for (cf, _, cn), c in callers.items()
                          if cf.endswith("forecasting/base/_base.py") and cn.startswith("predict"))
    return {"series": len(chosen), "profiled_s": total, "checks_s": checks,
            "checks_share": checks / total if total else 0.0}


def _planned(lake, layout, series: pd.DataFrame) -> dict[tuple[str, str], pd.DataFrame]:
    """(store_id, item_id) -> the planned price and promotion after the history, as training gets it."""
    version = lake.current_version(layout.RAW_CALENDAR)
    if version is None:
        return {}
    plan = pd.read_parquet(lake.uri(layout.RAW_CALENDAR, version))
    plan = plan[pd.to_datetime(plan["date"]) > pd.to_datetime(series["date"]).max()]
    return {k: g[["date", "price", "promo"]].sort_values("date") for k, g in plan.groupby(["store_id", "item_id"])}
