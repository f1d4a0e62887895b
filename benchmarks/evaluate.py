"""What the accuracy report runs per series (in worker processes) and how it scores a forecast."""
from __future__ import annotations

import dataclasses
import hashlib
import json
import time
from dataclasses import dataclass

import numpy as np
import pandas as pd

from manymodels_assets.forecasting import metrics as m
from manymodels_assets.forecasting.config import TrainingConfig
from manymodels_assets.forecasting.frequency import default_season_length, period_index, split_freq
from manymodels_assets.forecasting.keys import encode_key
from manymodels_assets.forecasting.panel import sample_keys
from manymodels_assets.forecasting.pooled import LEARNERS, unpack
from manymodels_assets.forecasting.scoring import forecast_series
from manymodels_assets.forecasting.series import regularize
from manymodels_assets.forecasting.training import train_series

KEEP = ("status", "forecaster", "candidate_metrics", "candidate_backtests", "reason")


@dataclass
class Series:
    key: str
    store_id: str
    item_id: str
    freq: str
    train: pd.DataFrame  # date, units, price, promo
    test: pd.DataFrame
    calendar: pd.DataFrame | None  # the held-out periods' price and promotion, as the plan
    profile: pd.Series | None = None  # the other stores' mean units of the item (cold starts)
    calibration: object = None  # forecasting.cold_start.ColdStartCalibration of the panel

    @property
    def freq_base(self) -> str:
        return split_freq(self.freq)[1]

    @property
    def season_length(self) -> int:
        return default_season_length(self.freq)


def _split(args):
    key, store, item, frame, freq, fill, horizon, plan = args
    series = regularize(frame, freq, frame["date"].max(), fill=fill)
    train, test = series.iloc[:-horizon].reset_index(drop=True), series.iloc[-horizon:].reset_index(drop=True)
    return Series(key, store, item, freq, train, test, test[["date", "price", "promo"]] if plan else None)


def prepare(panel, config: TrainingConfig, limit: int | None, pool):
    """(series, pooled payloads per key, CPU seconds per series of each pooled candidate's group
    models) of a panel."""
    from manymodels_assets.forecasting.cold_start import calibrate

    plan = bool(panel.frame.get("promo", pd.Series(dtype=float)).notna().any())
    groups = sorted(panel.frame.groupby(["store_id", "item_id"], sort=True), key=lambda g: g[0])[:limit]
    jobs = [(encode_key(s, i), s, i, g, panel.freq, panel.fill, panel.holdout, plan) for (s, i), g in groups]
    series = list(pool.map(_split, jobs, chunksize=16)) if pool else [_split(j) for j in jobs]
    _profiles(series, config)
    horizon, season_length = config.resolved(panel.freq)
    samples = [(pd.Series(s.train["units"].to_numpy(), index=period_index(s.train["date"], s.freq)), s.profile)
               for s in series[:300]]
    calibration = calibrate(samples, horizon, season_length, config.min_history(panel.freq), config.interval_level)
    for s in series:
        s.calibration = calibration
    by_item: dict[str, list[Series]] = {}
    for s in series:
        by_item.setdefault(s.item_id, []).append(s)
    # every pooled candidate's group models, each timed on its own (the table has a row for each)
    jobs = [(members, dataclasses.replace(config, candidates=(learner,)))
            for members in by_item.values() for learner in LEARNERS]
    outputs = list(pool.map(_pooled_group, jobs)) if pool else [_pooled_group(j) for j in jobs]
    payloads: dict[str, dict] = {}
    seconds = dict.fromkeys(LEARNERS, 0.0)
    for out, learner, sec in outputs:
        for key, payload in out.items():
            payloads.setdefault(key, {}).update(json.loads(payload))
        seconds[learner] += sec / max(len(series), 1)
    return series, {k: json.dumps(v) for k, v in payloads.items()}, seconds


def _pooled_group(args):
    from manymodels_assets.forecasting.pooled import group_payloads

    members, config = args
    rows = pd.concat([pd.concat([s.train.assign(is_calendar=False),
                                 (s.calendar.assign(is_calendar=True, units=np.nan) if s.calendar is not None
                                  else s.train.iloc[:0].assign(is_calendar=True))]).assign(key=s.key) for s in members])
    started = time.process_time()
    out = group_payloads(rows, config, members[0].freq)
    return dict(zip(out["key"], out["pooled"])), config.candidates[0], time.process_time() - started


def _profiles(series: list[Series], config: TrainingConfig) -> None:
    """Each series' item profile: the mean units per period of the *other* series of its item
    with enough history to backtest, over the last seasons of the training periods."""
    horizon, season_length = config.resolved(series[0].freq)
    window = max(4 * season_length, 2 * horizon)
    minimum = config.min_history(series[0].freq)
    frames = [s.train.tail(window).assign(item=s.item_id, key=s.key) for s in series if len(s.train) >= minimum]
    if not frames:
        return
    recent = pd.concat(frames)
    sums = recent.groupby(["item", "date"])["units"].agg(["sum", "count"])
    for s in series:
        if s.item_id not in sums.index.get_level_values(0):
            continue
        item = sums.loc[s.item_id].copy()
        own = s.train.tail(window).set_index("date")["units"] if len(s.train) >= minimum else None
        if own is not None:
            item.loc[own.index.intersection(item.index), "sum"] -= own
            item.loc[own.index.intersection(item.index), "count"] -= 1
        item = item[(item["count"] > 0) & (item.index <= s.train["date"].iloc[-1])]
        s.profile = (item["sum"] / item["count"]) if len(item) else None


def score(s: Series, yhat, lower, upper) -> dict:
    actual = s.test["units"].to_numpy(dtype=float)
    yhat = np.asarray(yhat, dtype=float)
    out = {"key": s.key, "mase": m.mase(actual, yhat, s.train["units"], s.season_length), "smape": m.smape(actual, yhat),
           "abs_error": float(np.abs(actual - yhat).sum()), "abs_actual": float(np.abs(actual).sum())}
    if lower is not None:
        out.update(coverage=m.interval_coverage(actual, lower, upper), width=m.interval_width(lower, upper))
    return out


def _train(s: Series, config: TrainingConfig, **kw):
    started = time.process_time()
    row = train_series(s.key, s.store_id, s.item_id, s.train, s.freq, config, calendar=s.calendar, **kw)
    seconds = time.process_time() - started
    fc = forecast_series(row, len(s.test)) if row.get("model") is not None else None
    return row, fc, seconds


def selection_rows(args) -> dict:
    """The series trained with the defaults (and a prior, for the second run)."""
    s, config, prior, pooled, keep = args
    row, fc, seconds = _train(s, config, prior=prior, pooled=unpack(pooled) if pooled else None,
                              keep_backtests=keep)
    metrics = {**score(s, fc["yhat"], fc["yhat_lower"], fc["yhat_upper"]), "seconds": seconds,
               "status": row["status"]}
    return {"row": {k: row.get(k) for k in KEEP}, "metrics": metrics}


def first_run(series: list[Series], config: TrainingConfig, pooled: dict, pool, sample: int) -> list[dict]:
    """The first training run (no prior yet) of the ``sample`` series a pipeline run would keep
    the candidates' backtests of, as :func:`selection_rows` gives them."""
    keep = set(sample_keys([s.key for s in series], sample))
    jobs = [(s, config, None, pooled.get(s.key), True) for s in series if s.key in keep]
    return list(pool.map(selection_rows, jobs, chunksize=4)) if pool else [selection_rows(j) for j in jobs]


def first_run_backtests(panel, pool, sample: int = 300, config: TrainingConfig | None = None) -> dict[str, dict]:
    """The first run's backtest payloads of the panel's sampled series, by key, each with its
    folds numbered 1..n_folds counted back from the latest (what the time-forward protocol needs)."""
    config = config or TrainingConfig()
    series, pooled, _ = prepare(panel, config, None, pool)
    out = {}
    for r in first_run(series, config, pooled, pool, sample):
        if r["row"]["candidate_backtests"]:
            p = json.loads(r["row"]["candidate_backtests"])
            n = len(p["actual"])
            out[r["metrics"]["key"]] = {**p, "fold": list(range(config.n_folds - n + 1, config.n_folds + 1))}
    return out


def single_rows(args) -> dict:
    """One candidate alone, through the same core (backtest, refit, conformal interval)."""
    s, name, pooled = args
    config = TrainingConfig(candidates=(name,), combine_top=0, use_panel_prior=False)
    row, fc, seconds = _train(s, config, pooled=unpack(pooled) if pooled else None)
    if row["forecaster"] != name:  # the candidate could not run on this series (e.g. no plan): not scored
        return {"key": s.key, "method": name, "skipped": row["status"], "seconds": seconds}
    return {**score(s, fc["yhat"], fc["yhat_lower"], fc["yhat_upper"]), "method": name, "seconds": seconds,
            "status": row["status"]}


def cold_start_rows(args) -> dict:
    """The series cut to a few points before the held-out periods: a cold start."""
    s, config, _ = args
    minimum = config.min_history(s.freq)
    digest = int(hashlib.sha1(s.key.encode()).hexdigest()[:8], 16)
    points = 1 + digest % (minimum - 1)  # 1 .. minimum - 1, spread over the series
    short = Series(s.key, s.store_id, s.item_id, s.freq, s.train.tail(points).reset_index(drop=True), s.test, None)
    row, fc, _ = _train(short, config, item_profile=s.profile, cold_start=s.calibration)
    return {**score(short, fc["yhat"], fc["yhat_lower"], fc["yhat_upper"]), "points": points,
            "status": row["status"], "forecaster": row["forecaster"]}
