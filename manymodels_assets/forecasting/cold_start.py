"""Stand-in models for series the candidates cannot serve, and how wide their intervals are.

A **cold start** has too little history to backtest: it gets its item's average across the
item's established stores, scaled to this store's sales so far (``item_profile``), or the mean
of its last season when the item sells nowhere else (``window_mean``). A **fallback** is a long
series whose candidates all failed: the mean of its last season stands in. An **inactive**
series (no recent sales) gets a zero forecast (``zero``).

A cold start has no backtest of its own to calibrate an interval on, so its interval comes
from the panel (:class:`ColdStartCalibration`): established series are cut short at a past
origin, forecast exactly as a cold start would be, and the errors of all of them give a
conformal half-width on the log1p scale, per length of the short history. Without a
calibration the interval is normal-theory from the spread of what is known.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from statistics import NormalDist

import numpy as np
import pandas as pd

from manymodels_assets.forecasting import intervals, status
from manymodels_assets.forecasting.candidates import ITEM_PROFILE, WINDOW_MEAN, ZERO, describe, fit_predict
from manymodels_assets.forecasting.serialization import dump_model


@dataclass(frozen=True)
class ColdStartCalibration:
    """Conformal half-widths (log1p scale) of cold-start forecasts, by stand-in model and by the
    number of points the short series had (the entry for the longest length not above it)."""
    level: float
    halfwidths: dict[str, dict[int, float]] = field(default_factory=dict)  # model -> length -> half-width
    counts: dict[str, int] = field(default_factory=dict)  # model -> errors measured

    def halfwidth(self, model: str, n_obs: int) -> float | None:
        by_length = self.halfwidths.get(model) or {}
        fitting = [k for k in by_length if k <= n_obs]
        return by_length[max(fitting)] if fitting else None

    def to_json(self) -> str:
        return json.dumps({"level": self.level, "halfwidths": self.halfwidths, "counts": self.counts})

    @classmethod
    def from_json(cls, text: str) -> "ColdStartCalibration":
        d = json.loads(text)
        return cls(d["level"], {m: {int(k): v for k, v in h.items()} for m, h in d["halfwidths"].items()}, d["counts"])


def cold_start_forecast(y: pd.Series, horizon: int, season_length: int, item_profile: pd.Series | None = None):
    """(stand-in name, fitted model, forecast, note) of a cold start: the one path training and
    the calibration both use."""
    synthetic = scaled_profile(y, item_profile)[0]
    if synthetic is not None:
        fitted, forecast = fit_predict(ITEM_PROFILE, synthetic, horizon, season_length)
        return ITEM_PROFILE, fitted, forecast, "forecast from the item's profile across stores, scaled to this store"
    fitted, forecast = fit_predict(WINDOW_MEAN, y, horizon, season_length)
    return WINDOW_MEAN, fitted, forecast, "mean of the last season"


def stand_in(y: pd.Series, horizon: int, season_length: int, level: float, kind: str, reason: str,
             item_profile: pd.Series | None = None, calibration: ColdStartCalibration | None = None) -> dict:
    """The model-set fields of a stand-in model; ``kind`` is ``status.COLD_START``,
    ``status.FALLBACK`` or ``status.INACTIVE``. ``reason`` says why the series needs one; the
    returned ``reason`` adds which model stands in."""
    try:
        if kind == status.INACTIVE:
            fitted, _ = fit_predict(ZERO, y, horizon, season_length)
            return {"status": kind, "forecaster": ZERO, "params": json.dumps(describe(fitted)),
                    "model": dump_model(fitted), "interval_halfwidth": 0.0, "interval_width": 0.0,
                    "interval_scale": "additive", "reason": f"{reason}; zero forecast"}
        profile = item_profile if kind == status.COLD_START else None
        name, fitted, forecast, note = cold_start_forecast(y, horizon, season_length, profile)
    except Exception as exc:  # noqa: BLE001 - the series is then failed, with the reason, and its siblings go on
        return {"status": status.FAILED, "reason": reason, "error": f"{kind} model failed: {type(exc).__name__}: {exc}"}
    out = {"status": kind, "forecaster": name, "params": json.dumps(describe(fitted)), "model": dump_model(fitted),
           "reason": f"{reason}; {note}"}
    calibrated = calibration.halfwidth(name, y.size) if calibration and kind == status.COLD_START else None
    if calibrated is not None:
        lower, upper = intervals.bounds(forecast, calibrated, "log")
        out.update(interval_halfwidth=calibrated, interval_scale="log", interval_width=float(np.mean(upper - lower)),
                   reason=out["reason"] + "; interval calibrated on the panel's series cut short")
        return out
    z = NormalDist().inv_cdf((1 + level) / 2)
    spread = _spread(y, season_length, scaled_profile(y, item_profile)[1] if name == ITEM_PROFILE else None)
    out.update(interval_halfwidth=z * spread, interval_width=2 * z * spread, interval_scale="additive")
    return out


def _spread(y: pd.Series, season_length: int, residual: np.ndarray | None) -> float:
    if residual is not None and residual.size > 1:
        return float(np.std(residual))
    recent = y.to_numpy()[-max(season_length, 1):]
    return float(np.std(recent)) if recent.size > 1 else float(abs(recent[-1]))


def calibrate(samples, horizon: int, season_length: int, max_length: int, level: float) -> ColdStartCalibration:
    """Cold-start interval calibration from established series cut short.

    samples: (y, item profile or None) per established series, each y a PeriodIndex series
    ending where the panel ends. Each is cut at one horizon before its end and its last k
    points (k = 1, 2, 4, ... below ``max_length``, the fewest points that are backtested)
    forecast as a cold start; the absolute log1p errors over the final horizon give, per
    stand-in model and k, the conformal half-width at ``level``.
    """
    errors: dict[str, dict[int, list]] = {}
    lengths = [k for k in (2 ** i for i in range(12)) if k < max_length]
    for y, profile in samples:
        if y.size < max_length + horizon:
            continue
        actual, before = y.to_numpy()[-horizon:], y.iloc[:-horizon]
        cut_profile = profile[pd.to_datetime(profile.index) <= before.index[-1].start_time] if profile is not None \
            else None
        for k in lengths:
            name, _, forecast, _ = cold_start_forecast(before.iloc[-k:], horizon, season_length, cut_profile)
            errors.setdefault(name, {}).setdefault(k, []).append(
                np.abs(intervals.transform(actual, "log") - intervals.transform(forecast, "log")))
    halfwidths = {name: {k: intervals.conformal_halfwidth(np.concatenate(e), level) for k, e in by_k.items()}
                  for name, by_k in errors.items()}
    counts = {name: int(sum(np.concatenate(e).size for e in by_k.values())) for name, by_k in errors.items()}
    return ColdStartCalibration(level, halfwidths, counts)


def scaled_profile(y: pd.Series, profile: pd.Series | None):
    """(item profile scaled to this store and ending where y ends, residuals on the overlap) or (None, None)."""
    if profile is None or len(profile) == 0:
        return None, None
    prof = pd.Series(profile.to_numpy(dtype=float),
                     index=pd.PeriodIndex(pd.to_datetime(profile.index), freq=y.index.freqstr)).sort_index()
    # a late store's series end before the panel's, and so before its item's profile
    prof = prof[~prof.index.duplicated() & (prof.index <= y.index[-1])]
    if len(prof) == 0 or prof.index[-1] != y.index[-1]:
        return None, None
    overlap = prof.reindex(y.index)
    ok = overlap.notna().to_numpy()
    denominator = float(overlap[ok].sum())
    if not ok.any() or denominator <= 0:
        return None, None
    scale = float(y[ok].sum()) / denominator
    return prof * scale, (y[ok] - overlap[ok] * scale).to_numpy()
