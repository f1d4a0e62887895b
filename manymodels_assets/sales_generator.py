"""Synthetic store x item daily sales, written as landing-zone drops.

Each series has a level, trend, weekly and yearly seasonality, a price with occasional
discounts (price elasticity), promotions with a lift, holiday effects, and Poisson noise.
Some items are intermittent (mostly zero), some start late, some stop. Output is
deterministic by seed: every series draws from its own generator seeded by (seed, store, item),
so a chunk can be generated without the others and 10,000 x 4,000 rows never sit in memory.

Layout: ``<landing>/sales/<drop>/part-00000.parquet`` (or ``.csv``), one part per chunk, and
the planned prices and promotions of the following days in ``<landing>/calendar/<drop>/``.
Drop folders sort in arrival order; later drops win per store, item and date.
"""
from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq


@dataclass(frozen=True)
class GeneratorConfig:
    stores: int = 20
    items: int = 10
    days: int = 1095
    start: str = "2023-01-01"
    seed: int = 7
    intermittent_share: float = 0.1
    late_start_share: float = 0.1
    stopped_share: float = 0.05
    series_per_part: int = 250

    @property
    def n_series(self) -> int:
        return self.stores * self.items


def store_id(i: int) -> str:
    return f"S{i:04d}"


def item_id(j: int) -> str:
    return f"I{j:05d}"


def _holiday_effect(dates: pd.DatetimeIndex) -> np.ndarray:
    md = dates.month * 100 + dates.day
    effect = np.ones(len(dates))
    effect[np.isin(md, [1224, 1223, 1231])] = 1.8  # pre-holiday rush
    effect[np.isin(md, [1225, 101])] = 0.1  # closed or nearly
    thanksgiving = (dates.month == 11) & (dates.weekday == 3) & (dates.day >= 22) & (dates.day <= 28)
    effect[thanksgiving] = 0.3
    effect[(dates.month == 7) & (dates.day == 4)] = 1.4
    return effect


def series_frame(cfg: GeneratorConfig, s: int, i: int, dates: pd.DatetimeIndex, holidays: np.ndarray) -> pd.DataFrame:
    """One store-item's daily sales (deterministic in ``cfg.seed``, ``s`` and ``i``)."""
    rng = np.random.default_rng([cfg.seed, s, i])
    n = len(dates)
    t = np.arange(n)
    intermittent = rng.random() < cfg.intermittent_share
    store_size = np.exp(np.random.default_rng([cfg.seed, s]).normal(0, 0.4))
    item_pop = np.exp(np.random.default_rng([cfg.seed, 10**6 + i]).normal(0, 0.6))
    level = (0.15 if intermittent else 12.0) * store_size * item_pop
    trend = 1 + rng.normal(0, 0.15) * t / 365
    weekly_shape = 1 + rng.uniform(0.1, 0.4) * np.array([-0.3, -0.35, -0.2, -0.05, 0.25, 0.45, 0.2])
    weekly = weekly_shape[dates.weekday]
    yearly = 1 + rng.uniform(0, 0.3) * np.sin(2 * np.pi * (dates.dayofyear - rng.uniform(0, 365)) / 365.25)
    base_price = round(float(rng.uniform(1, 20)), 2)
    discount = rng.random(n) < 0.08
    price = np.where(discount, base_price * rng.uniform(0.7, 0.9, n), base_price).round(2)
    promo = (rng.random(n) < 0.04).astype(np.int8)
    elasticity = rng.uniform(1.0, 2.5)
    mean = level * np.clip(trend, 0.2, None) * weekly * yearly * holidays
    mean *= (price / base_price) ** -elasticity * np.where(promo == 1, 1.5, 1.0)
    units = rng.poisson(mean).astype(float)
    first = int(rng.integers(n // 3, 2 * n // 3)) if rng.random() < cfg.late_start_share else 0
    last = int(rng.integers(2 * n // 3, n)) if rng.random() < cfg.stopped_share else n
    keep = slice(first, last)
    return pd.DataFrame({
        "store_id": store_id(s), "item_id": item_id(i), "date": dates.date[keep],
        "units": units[keep], "price": price[keep], "promo": promo[keep],
    })


def plan_frame(cfg: GeneratorConfig, s: int, i: int, dates: pd.DatetimeIndex) -> pd.DataFrame:
    """Planned price and promotion of one store-item for ``dates`` (after the history)."""
    base_price = round(float(np.random.default_rng([cfg.seed, s, i]).uniform(1, 20)), 2)  # same draw as history
    rng = np.random.default_rng([cfg.seed, s, i, 1])
    n = len(dates)
    discount = rng.random(n) < 0.08
    return pd.DataFrame({"store_id": store_id(s), "item_id": item_id(i), "date": dates.date,
                         "price": np.where(discount, base_price * rng.uniform(0.7, 0.9, n), base_price).round(2),
                         "promo": (rng.random(n) < 0.04).astype(np.int8)})


def iter_plan_chunks(cfg: GeneratorConfig, days: int) -> Iterator[pd.DataFrame]:
    dates = pd.date_range(pd.Timestamp(cfg.start) + pd.Timedelta(days=cfg.days), periods=days, freq="D")
    pairs = [(s, i) for s in range(1, cfg.stores + 1) for i in range(1, cfg.items + 1)]
    for k in range(0, len(pairs), cfg.series_per_part * 10):
        yield pd.concat([plan_frame(cfg, s, i, dates) for s, i in pairs[k:k + cfg.series_per_part * 10]],
                        ignore_index=True)


def iter_chunks(cfg: GeneratorConfig) -> Iterator[pd.DataFrame]:
    """Chunks of ``cfg.series_per_part`` series each, in store-major order."""
    dates = pd.date_range(cfg.start, periods=cfg.days, freq="D")
    holidays = _holiday_effect(dates)
    pairs = [(s, i) for s in range(1, cfg.stores + 1) for i in range(1, cfg.items + 1)]
    for k in range(0, len(pairs), cfg.series_per_part):
        yield pd.concat([series_frame(cfg, s, i, dates, holidays) for s, i in pairs[k:k + cfg.series_per_part]],
                        ignore_index=True)


def drop_name(when: dt.datetime) -> str:
    """Drop folder name: UTC timestamp, so lexical order is arrival order."""
    return when.strftime("%Y%m%dT%H%M%SZ")


def write_drop(frames, landing_dir: str, drop: str, fmt: str = "parquet", fs=None, feed: str = "sales") -> list[str]:
    """Write ``frames`` (an iterable of frames) as one drop of ``feed``; returns the files written.

    Each part is written under a temporary name and renamed, so a reader never sees half a file.
    """
    import fsspec

    fs = fs or fsspec.filesystem("file")
    folder = f"{landing_dir.rstrip('/')}/{feed}/{drop}"
    fs.makedirs(folder, exist_ok=True)
    written = []
    for n, frame in enumerate(frames):
        final = f"{folder}/part-{n:05d}.{fmt}"
        tmp = f"{folder}/_tmp-part-{n:05d}.{fmt}"
        with fs.open(tmp, "wb") as f:
            if fmt == "parquet":
                table = pa.Table.from_pandas(frame, preserve_index=False)
                pq.write_table(table, f, compression="snappy")
            elif fmt == "csv":
                f.write(frame.to_csv(index=False).encode())
            else:
                raise ValueError(f"format must be parquet or csv, got {fmt!r}")
        fs.mv(tmp, final)
        written.append(final)
    return written


def generate(cfg: GeneratorConfig, landing_dir: str, fmt: str = "parquet", drop: str | None = None,
             plan_days: int = 28, fs=None) -> list[str]:
    """Generate the whole history as one sales drop in ``landing_dir``, and a calendar drop
    planning the next ``plan_days`` days (0: none); returns the files written."""
    # Default drop name: the day after the last sales date, as if the drop landed then.
    drop = drop or drop_name(dt.datetime.fromisoformat(cfg.start) + dt.timedelta(days=cfg.days))
    files = write_drop(iter_chunks(cfg), landing_dir, drop, fmt, fs=fs)
    if plan_days:
        files += write_drop(iter_plan_chunks(cfg, plan_days), landing_dir, drop, fmt, fs=fs, feed="calendar")
    return files
