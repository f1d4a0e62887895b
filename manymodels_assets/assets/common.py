"""What the stage assets share: the selected keys of a run, run-scoped ids, and how a range is labelled."""
from __future__ import annotations

import contextlib
import datetime as dt
import time

import dagster as dg
import pandas as pd

from manymodels_assets.forecasting.keys import decode_keys


def selected_keys(context: dg.AssetExecutionContext) -> list[str]:
    """The store-item keys this run materializes (a single key, a range, or all of a backfill)."""
    return list(context.partition_keys)


def key_pairs(keys: list[str]) -> pd.DataFrame:
    """key, store_id, item_id for each key (decoded with the one key codec)."""
    stores, items = decode_keys(keys)
    return pd.DataFrame({"key": keys, "store_id": stores, "item_id": items})


def stamped_id(prefix: str, run_id: str) -> str:
    """Sortable, unique id such as ``ms-20260101T120000-1a2b3c4d`` (UTC time, then the Dagster run)."""
    return f"{prefix}-{dt.datetime.now(dt.timezone.utc):%Y%m%dT%H%M%S}-{run_id[:8]}"


def partition_range(keys: list[str]) -> str:
    """How a run's keys are named in metadata, tags and logs: one key, or ``first...last (n keys)``."""
    return keys[0] if len(keys) == 1 else f"{keys[0]}...{keys[-1]} ({len(keys)} keys)"


class Stopwatch:
    """Seconds an asset spends in each of its stages, shown as metadata ``seconds_<stage>``
    (the benchmark reads them to say where a run's time goes)."""

    def __init__(self):
        self.seconds: dict[str, float] = {}

    @contextlib.contextmanager
    def __call__(self, stage: str):
        started = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[stage] = self.seconds.get(stage, 0.0) + time.perf_counter() - started

    def metadata(self) -> dict[str, float]:
        return {f"seconds_{stage}": round(s, 3) for stage, s in self.seconds.items()}
