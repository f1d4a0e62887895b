"""Models on demand: find a series' row through the set's index, forecast it, keep both in a bounded LRU.

A cache entry is one series of one production set: its model-set row (the serialized model
included, without the backtest diagnostics) and its forecast for the longest horizon asked so
far. A fitted model's forecast is a pure function of the immutable model set and the horizon,
and its first h steps are the h-step forecast (checked for every candidate in the tests), so a
warm request slices the stored forecast instead of running the forecaster again: the
forecaster runs once per series (at least its trained horizon) and per horizon increase, not
once per request. Entries are keyed
by set directory and key, so a request still running on the previous set keeps finding its
entries after the alias moves; they age out of the LRU like any other.
"""
from __future__ import annotations

import datetime as dt
import logging
import math
import os
import sys
import threading
from dataclasses import dataclass
from typing import Any

from manymodels_assets.forecasting.keys import encode_key
from manymodels_assets.forecasting.scoring import forecast_series
from manymodels_assets.serving.cache import ByteLRU, CacheStats
from manymodels_assets.serving.errors import LAKE_ERRORS, LakeUnavailable, NoProductionSet, SeriesNotFound
from manymodels_assets.model_set_index import IndexMismatch
from manymodels_assets.serving.production import ProductionFollower, ProductionSet

# Diagnostics a request never needs: left in the lake, not read, not cached.
SKIP_COLUMNS = ("backtest", "candidate_metrics", "params")
log = logging.getLogger(__name__)

METRIC_COLUMNS = ("mase", "wape", "smape", "mape", "mae", "rmse", "interval_coverage", "interval_width")
POINT_COLUMNS = ("forecast_date", "step", "yhat", "yhat_lower", "yhat_upper")


@dataclass(frozen=True)
class _Entry:
    row: dict[str, Any]
    points: tuple[tuple, ...]  # (forecast_date ISO, step, yhat, yhat_lower, yhat_upper)
    horizon: int  # steps asked for; fewer points when the model's planned calendar ends sooner

    def covers(self, horizon: int) -> bool:
        return horizon <= self.horizon or len(self.points) < self.horizon


@dataclass(frozen=True)
class Forecast:
    production: ProductionSet
    row: dict[str, Any]
    points: tuple[tuple, ...]

    def body(self) -> dict[str, Any]:
        r = self.row
        return {"store_id": r["store_id"], "item_id": r["item_id"],
                "model_set": r.get("model_set") or self.production.name, "forecaster": r.get("forecaster"),
                "status": r.get("status"), "production_set": self.production.name,
                "production_version": self.production.version,
                "forecasts": [dict(zip(POINT_COLUMNS, p)) for p in self.points]}


def _finite(x) -> float | None:
    return float(x) if x is not None and math.isfinite(x) else None


def _points(row: dict[str, Any], horizon: int) -> tuple[tuple, ...]:
    frame = forecast_series(row, horizon)
    # An infinite bound (too few backtest errors to calibrate) has no JSON number: null.
    return tuple((d.isoformat(), int(s), _finite(y), _finite(lo), _finite(hi)) for d, s, y, lo, hi in
                 zip(frame["forecast_date"], frame["step"], frame["yhat"], frame["yhat_lower"], frame["yhat_upper"]))


def forecast_points(row: dict[str, Any], horizon: int) -> tuple[tuple, ...]:
    """(forecast_date, step, yhat, yhat_lower, yhat_upper) for max(horizon, trained horizon) steps.

    Never fewer steps than the model was trained for: some forecasters are fitted for their
    horizon (sktime's MSTL refuses any other), so a shorter horizon is a prefix of this one.
    Past the trained horizon, a forecaster that refuses (a ValueError, while the trained
    horizon works) answers with the steps it has, as a calendar model stops where its calendar
    ends.
    """
    trained = int(row.get("horizon") or 1)
    steps = max(horizon, trained)
    try:
        return _points(row, steps)
    except ValueError as exc:
        if steps == trained:
            raise
        log.info("%s (%s) forecasts only its trained %d steps: %s", row.get("key"), row.get("forecaster"), trained, exc)
    return _points(row, trained)


def _as_utc(value: dt.datetime | None) -> dt.datetime | None:
    # parquet timestamps come back naive, in UTC by Spark's convention; answers carry the zone
    return value.replace(tzinfo=dt.timezone.utc) if value is not None and value.tzinfo is None else value


def _nbytes(entry: _Entry) -> int:
    # What the entry holds in memory, object headers included, so the budget bounds the RSS.
    row = sys.getsizeof(entry.row) + sum(sys.getsizeof(k) + sys.getsizeof(v) for k, v in entry.row.items())
    points = sys.getsizeof(entry.points) + sum(sys.getsizeof(p) + sum(sys.getsizeof(v) for v in p)
                                               for p in entry.points)
    return row + points + 200  # the entry, its cache key and the LRU's bookkeeping


class ModelStore:
    def __init__(self, follower: ProductionFollower, cache_bytes: int, concurrent_loads: int | None = None):
        self.follower = follower
        self.cache = ByteLRU(cache_bytes)
        # Loading is CPU work (decode, unpickle, forecast): more loads at once than cores only
        # adds memory and lock contention, so the rest wait their turn.
        self._loads = threading.BoundedSemaphore(concurrent_loads or max(2, os.cpu_count() or 2))

    def current(self) -> ProductionSet:
        return self.follower.current()

    def cached_forecast(self, production: ProductionSet, store_id: str, item_id: str,
                        horizon: int | None) -> Forecast | None:
        """The forecast from the cache alone (no I/O, no forecaster run), or None."""
        entry = self.cache.get((production.directory, encode_key(store_id, item_id)))
        if entry is None:
            return None
        h = self._horizon(entry.row, horizon)
        return Forecast(production, entry.row, entry.points[:h]) if entry.covers(h) else None

    def forecast(self, production: ProductionSet, store_id: str, item_id: str, horizon: int | None,
                 after_cached: bool = False) -> Forecast:
        """The forecast of a store-item from ``production``, loading its model if needed.

        ``after_cached``: :meth:`cached_forecast` already missed for this request (counted once).
        """
        key = encode_key(store_id, item_id)
        entry = self.cache.get((production.directory, key), count=not after_cached)
        if entry is None:
            with self._loads:
                row = self._read(production, key, store_id, item_id)
                h = self._horizon(row, horizon)
                entry = self._remember(production, key, row, h)
        else:
            h = self._horizon(entry.row, horizon)
            if not entry.covers(h):
                with self._loads:
                    entry = self._remember(production, key, entry.row, h)
        return Forecast(production, entry.row, entry.points[:h])

    def model_info(self, production: ProductionSet, store_id: str, item_id: str) -> dict[str, Any]:
        key = encode_key(store_id, item_id)
        entry = self.cache.get((production.directory, key))
        row = entry.row if entry is not None else self._read(production, key, store_id, item_id)
        trained_at = _as_utc(row.get("trained_at")) or production.registered_at
        return {"store_id": store_id, "item_id": item_id, "key": key,
                "model_set": row.get("model_set") or production.name, "production_set": production.name,
                "production_version": production.version, "forecaster": row.get("forecaster"),
                "status": row.get("status"), "trained_at": trained_at,
                "metrics": {m: _finite(row[m]) for m in METRIC_COLUMNS if m in row},
                "horizon": row.get("horizon"), "freq": row.get("freq"),
                "last_date": row.get("last_date"), "n_obs": row.get("n_obs"),
                "model_bytes": len(row["model"]) if row.get("model") else 0}

    def stats(self) -> CacheStats:
        return self.cache.stats()

    def _horizon(self, row: dict[str, Any], horizon: int | None) -> int:
        return horizon if horizon is not None else int(row.get("horizon") or 1)

    def _remember(self, production: ProductionSet, key: str, row: dict[str, Any], horizon: int) -> _Entry:
        entry = _Entry(row, forecast_points(row, horizon), max(horizon, int(row.get("horizon") or 1)))
        self.cache.put((production.directory, key), entry, _nbytes(entry))
        return entry

    def _read(self, production: ProductionSet, key: str, store_id: str, item_id: str) -> dict[str, Any]:
        try:
            row = production.reader.row(key, SKIP_COLUMNS)
        except LAKE_ERRORS as exc:
            raise LakeUnavailable(f"the model of {key!r} cannot be read from the lake ({type(exc).__name__})") from exc
        except IndexMismatch as exc:
            raise NoProductionSet(f"production set {production.name} does not match its key index: {exc}") from exc
        if row is None:
            raise SeriesNotFound(f"no model for store_id={store_id!r}, item_id={item_id!r} (series key {key!r}) "
                                 f"in production set {production.name} (v{production.version})")
        if row.get("model") is None:
            raise SeriesNotFound(f"store_id={store_id!r}, item_id={item_id!r} has no usable model in production set "
                                 f"{production.name} (status {row.get('status')!r})")
        return row

