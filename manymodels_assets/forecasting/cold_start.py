"""Stand-in models for series the candidates cannot serve.

A **cold start** has too little history to backtest: it gets its item's average across the
item's established stores, scaled to this store's sales so far (``item_profile``), or the mean
of its last season when the item sells nowhere else (``window_mean``). A **fallback** is a long
series whose candidates all failed: the mean of its last season stands in. Neither has a
backtest to calibrate an interval on, so the interval is normal-theory from the spread of what
is known.
"""
from __future__ import annotations

import json
from statistics import NormalDist

import numpy as np
import pandas as pd

from manymodels_assets.forecasting import status
from manymodels_assets.forecasting.candidates import ITEM_PROFILE, WINDOW_MEAN, describe, fit_predict
from manymodels_assets.forecasting.serialization import dump_model


def stand_in(y: pd.Series, horizon: int, season_length: int, level: float, kind: str, reason: str,
             item_profile: pd.Series | None = None) -> dict:
    """The model-set fields of a stand-in model; ``kind`` is ``status.COLD_START`` or ``status.FALLBACK``.

    ``reason`` says why the series needs one; the returned ``reason`` adds which model stands in.
    """
    z = NormalDist().inv_cdf((1 + level) / 2)
    synthetic, residual = scaled_profile(y, item_profile) if kind == status.COLD_START else (None, None)
    if synthetic is not None:
        name, history = ITEM_PROFILE, synthetic
        note = "forecast from the item's profile across stores, scaled to this store"
        spread = float(np.std(residual)) if residual.size > 1 else float(np.mean(np.abs(y.to_numpy())))
    else:
        recent = y.to_numpy()[-max(season_length, 1):]
        name, history, note = WINDOW_MEAN, y, "mean of the last season"
        spread = float(np.std(recent)) if recent.size > 1 else float(abs(recent[-1]))
    try:
        fitted, _ = fit_predict(name, history, horizon, season_length)
    except Exception as exc:  # noqa: BLE001 - the series is then failed, with the reason, and its siblings go on
        return {"status": status.FAILED, "reason": reason,
                "error": f"{kind} model {name} failed: {type(exc).__name__}: {exc}"}
    return {"status": kind, "forecaster": name, "params": json.dumps(describe(fitted)),
            "model": dump_model(fitted), "interval_halfwidth": z * spread, "interval_width": 2 * z * spread,
            "interval_scale": "additive", "reason": f"{reason}; {note}"}


def scaled_profile(y: pd.Series, profile: pd.Series | None):
    """(item profile scaled to this store and ending where y ends, residuals on the overlap) or (None, None)."""
    if profile is None or len(profile) == 0:
        return None, None
    prof = pd.Series(profile.to_numpy(dtype=float),
                     index=pd.PeriodIndex(pd.to_datetime(profile.index), freq=y.index.freqstr)).sort_index()
    prof = prof[~prof.index.duplicated()]
    if prof.index[-1] != y.index[-1]:
        return None, None
    overlap = prof.reindex(y.index)
    ok = overlap.notna().to_numpy()
    denominator = float(overlap[ok].sum())
    if not ok.any() or denominator <= 0:
        return None, None
    scale = float(y[ok].sum()) / denominator
    return prof * scale, (y[ok] - overlap[ok] * scale).to_numpy()
