"""Champion against challenger: score the production model and the new one on the newest data
that neither trained on.

The production model (champion) was trained up to its last date C; the new model's training
run (challenger) up to N > C. The challenger's own backtest holds the out-of-sample forecast of
its last fold (the ``horizon`` periods before N, made from data before that fold). The window
is that fold's periods after C: new to the champion, unseen by the challenger's fold model.
The champion forecasts them as it does in production, from C (a model on the calendar gets the
price and promotion that actually happened); both are scored with the same metric on the same
actuals (MASE scaled by the history before the window). A champion at another frequency (the
series was rebuilt at weekly periods, say) forecasts other periods, and one trained on inputs
since changed (a corrected history, a new plan) with no new periods has nothing to be compared
on: either is replaced.
"""
from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from manymodels_assets.forecasting import metrics
from manymodels_assets.forecasting.calendar import reference_price, regressors
from manymodels_assets.forecasting.frequency import normalize_freq, period_index
from manymodels_assets.forecasting.serialization import load_model

SCORES = ("points", "window_start", "champion_score", "challenger_score", "note", "comparable")
"""What :func:`challenge` returns for a series."""


def challenge(history: pd.DataFrame, champion: Mapping[str, Any], challenger: Mapping[str, Any],
              metric: str = "mase") -> dict[str, Any]:
    """Score both models of one series on the newest window neither trained on.

    history: date, units (and price, promo), regular at the challenger's frequency, through its
    last date. champion: the production model-set row (model, last_date, freq, season_length,
    calendar_regressors, data_version); challenger: the new row (backtest, freq, data_version).
    ``points`` is 0, with the reason in ``note``, when there is no such window; ``comparable`` is
    False when the champion is no rival: at another frequency, or trained on inputs since
    changed (the data versions differ: sales, prices, the planned calendar) with no new periods
    to compare on.
    """
    out = {**dict.fromkeys(SCORES), "points": 0, "comparable": True}
    freq = challenger["freq"]
    if normalize_freq(str(champion.get("freq") or freq)) != normalize_freq(freq):
        return {**out, "comparable": False, "note": f"the frequency changed from {champion['freq']} to {freq}: "
                                                    "the production model forecasts other periods"}
    try:
        folds = json.loads(challenger.get("backtest") or "{}")
        start, forecast = pd.Period(folds["starts"][-1], freq=freq), np.asarray(folds["forecast"][-1], dtype=float)
    except (KeyError, IndexError, TypeError, ValueError):
        return {**out, "note": "the new model has no backtest (a stand-in model)"}
    history = history.sort_values("date").reset_index(drop=True)
    periods = period_index(history["date"], freq)
    champion_end = period_index([pd.Timestamp(champion["last_date"])], freq)[0]
    trained_to = int(np.searchsorted(periods.asi8, champion_end.ordinal, side="right"))  # positions the champion saw
    fold_at = int(np.searchsorted(periods.asi8, start.ordinal))
    positions = np.arange(max(trained_to, fold_at), min(fold_at + forecast.size, len(periods)))
    if positions.size == 0:
        if champion.get("data_version") and challenger.get("data_version") and \
                champion["data_version"] != challenger["data_version"]:
            return {**out, "comparable": False,
                    "note": "its inputs changed with no new periods to compare on (a corrected history or price, "
                            "a new planned calendar): the model trained on them replaces the production one"}
        return {**out, "note": "no new data since the production model was trained"}
    steps = positions - trained_to + 1  # the champion's lead times
    try:
        production = _champion_forecast(champion, history, trained_to, int(steps.max()))
    except Exception as exc:  # noqa: BLE001 - a production model that cannot forecast loses to one that can
        return {**out, "points": int(positions.size), "window_start": str(periods[positions[0]]),
                "challenger_score": _score(history, positions, forecast[positions - fold_at], champion, metric),
                "note": f"the production model cannot forecast the window: {type(exc).__name__}: {exc}"[:300]}
    reach = steps <= production.size  # a pooled forecast ends at its horizon
    positions, steps = positions[reach], steps[reach]
    if positions.size == 0:
        return {**out, "note": "the production forecast ends before the new data"}
    return {**out, "points": int(positions.size), "window_start": str(periods[positions[0]]), "note": "",
            "champion_score": _score(history, positions, production[steps - 1], champion, metric),
            "challenger_score": _score(history, positions, forecast[positions - fold_at], champion, metric)}


def _champion_forecast(champion: Mapping[str, Any], history: pd.DataFrame, trained_to: int, steps: int) -> np.ndarray:
    """The production model's forecast of the ``steps`` periods after its last date."""
    model = load_model(champion["model"])
    fh = np.arange(1, min(steps, getattr(model, "max_horizon_", None) or steps) + 1)
    if champion.get("calendar_regressors"):
        columns = json.loads(champion["calendar_regressors"])["columns"]
        happened = regressors(history.iloc[trained_to: trained_to + fh.size], champion["freq"],
                              reference_price(history.iloc[:trained_to]))
        predicted = model.predict(fh=fh, X=happened[columns])
    else:
        predicted = model.predict(fh=fh)
    return np.clip(np.asarray(predicted, dtype=float).ravel(), 0, None)


def _score(history: pd.DataFrame, positions: np.ndarray, forecast: np.ndarray, row: Mapping[str, Any],
           metric: str) -> float:
    actual = history["units"].to_numpy(dtype=float)
    scores = metrics.point_metrics(actual[positions], forecast, actual[: positions[0]], int(row.get("season_length") or 1))
    return float(scores[metric])
