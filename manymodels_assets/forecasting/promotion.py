"""The promotion rule: which new models replace production models, champion against challenger.

A new model (challenger) replaces a series' production model (champion) only when it forecasts
the newest data neither trained on better, by the same metric (:mod:`forecasting.challenge`).
A series' first model is deployed when it beats seasonal naive in its backtest (MASE < 1).
Absolute thresholds stay available as extra gates. Vectorised: one call decides every series
of a promotion run.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from manymodels_assets.forecasting import status
from manymodels_assets.forecasting.metrics import METRICS

PROMOTED = "promoted"  # the new model goes to production
PROVISIONAL = "provisional"  # a first model that failed its gate, deployed so the series has a forecast
KEPT = "kept"  # the production model stays
REJECTED = "rejected"  # nothing deployed for the series
DECISIONS = (PROMOTED, PROVISIONAL, KEPT, REJECTED)
STAND_INS = (status.COLD_START, status.FALLBACK, status.INACTIVE)


@dataclass(frozen=True)
class PromotionRule:
    metric: str = "mase"  # champion and challenger are scored with it on the same new window
    min_improvement: float = 0.0  # the challenger must be better by at least this share (0: any)
    min_new_points: int = 1  # fewest new periods to compare on; fewer: the champion stays
    first_model_max_mase: float = 1.0  # a first model must beat seasonal naive in its backtest
    min_accuracy: float | None = None  # optional gate: backtest 1 - WAPE at least this
    max_mase: float | None = None  # optional gate: backtest MASE below this
    # A first model that fails its gate is still deployed ("provisional") so every series has a
    # forecast; False rejects it instead.
    deploy_first_model: bool = True

    def __post_init__(self):
        if self.metric not in METRICS:
            raise ValueError(f"metric {self.metric!r} not in {METRICS}")
        if self.min_new_points < 1:
            raise ValueError(f"min_new_points must be >= 1, not {self.min_new_points}")
        if not 0 <= self.min_improvement < 1:
            raise ValueError(f"min_improvement is a share: 0 (any improvement) up to below 1, not {self.min_improvement}")
        if self.first_model_max_mase <= 0:
            raise ValueError(f"first_model_max_mase must be > 0, not {self.first_model_max_mase}")


def decide_promotions(new_models: pd.DataFrame, champions: pd.DataFrame, rule: PromotionRule) -> pd.DataFrame:
    """Decide each series of ``new_models`` (key, status, wape, mase, error).

    ``champions``: one row per series that has a production model: key, status (the champion's)
    and the challenge's points, champion_score, challenger_score, note and comparable (False: the
    champion is no rival, see forecasting.challenge; the new model replaces it).
    Returns key, decision, failed_check, reason, margin (the challenger's relative improvement
    on the window, positive when it wins) and points.
    """
    new = new_models.reset_index(drop=True)
    champ = new[["key"]].merge(champions.rename(columns={"status": "champion_status"}), on="key", how="left")
    has_champion = champ["champion_status"].notna().to_numpy()
    state = new["status"].to_numpy()
    mase, wape = new["mase"].astype(float).to_numpy(), new["wape"].astype(float).to_numpy()
    # astype(float) first: with no production models yet the merged column is all-missing objects
    points = champ.get("points", pd.Series(np.nan, index=champ.index)).astype(float).fillna(0).astype(int).to_numpy()
    ours = champ.get("challenger_score", pd.Series(np.nan, index=champ.index)).astype(float).to_numpy()
    theirs = champ.get("champion_score", pd.Series(np.nan, index=champ.index)).astype(float).to_numpy()
    with np.errstate(divide="ignore", invalid="ignore"):
        # a perfect production model (score 0) that the new one misses: a loss, relative size -1
        margin = np.where(theirs > 0, (theirs - ours) / theirs, np.where(ours > theirs, -1.0, 0.0))
    margin = np.where(np.isfinite(ours) & np.isfinite(theirs), margin, np.nan)

    trained = np.isin(state, status.WITH_MODEL)
    stand_in = np.isin(state, STAND_INS)  # no backtest: the gates do not apply
    everyone = np.ones(len(new), dtype=bool)
    gate_accuracy = everyone if rule.min_accuracy is None else stand_in | (1 - wape >= rule.min_accuracy)
    gate_mase = everyone if rule.max_mase is None else stand_in | (mase < rule.max_mase)
    gates = trained & gate_accuracy & gate_mase
    first_ok = (state != status.OK) | (mase < rule.first_model_max_mase)
    replaces_stand_in = np.isin(champ["champion_status"], STAND_INS) & stand_in
    # a zero forecast flagged "stopped selling" is known wrong once sales return (it erred on the
    # newest periods): not a champion the new model, whose fold saw only the quiet stretch, must beat
    revived = ((champ["champion_status"] == status.INACTIVE).to_numpy() & (state != status.INACTIVE)
               & (points >= rule.min_new_points) & (theirs > 0))
    unscored_champion = np.isfinite(ours) & ~np.isfinite(theirs) & (points >= rule.min_new_points)
    # no rival (the challenge says why): a production model at another frequency, or one trained on
    # inputs since corrected with no new periods to compare on
    no_rival = has_champion & (champ["comparable"].eq(False).to_numpy() if "comparable" in champ else False)
    wins = (points >= rule.min_new_points) & (margin > 0) & (margin >= rule.min_improvement)
    promote = gates & ((state == status.INACTIVE)
                       | np.where(has_champion, wins | unscored_champion | replaces_stand_in | revived | no_rival,
                                  first_ok))
    decision = np.where(promote, PROMOTED, np.where(has_champion, KEPT, np.where(
        trained & rule.deploy_first_model, PROVISIONAL, REJECTED)))

    note = champ.get("note", pd.Series("", index=champ.index)).fillna("").astype(str).to_numpy(dtype=object)
    n = points.astype(str).astype(object)
    errors = new.get("error", pd.Series("", index=new.index)).fillna("").astype(str).to_numpy(dtype=object)
    checks = [(~trained, "training", "training failed: " + errors),
              (~gate_accuracy, "accuracy", "backtest accuracy " + _fmt(1 - wape) + f" < {rule.min_accuracy}"),
              (~gate_mase, "mase", "backtest MASE " + _fmt(mase) + f" >= {rule.max_mase}"),
              (~has_champion & ~first_ok, "first_model",
               "first model: backtest MASE " + _fmt(mase) + f" not below {rule.first_model_max_mase} (seasonal naive)"),
              (has_champion & (points < rule.min_new_points), "window",
               n + f" new period(s), fewer than {rule.min_new_points}; " + note),
              (has_champion & ~promote, "challenger",
               f"{rule.metric} on the " + n + " newest periods: new " + _fmt(ours) + " vs production " + _fmt(theirs))]
    failed_check = np.select([c for c, _, _ in checks], [name for _, name, _ in checks], default="")
    why_not = np.select([c for c, _, _ in checks], [text for _, _, text in checks], default="")
    why = np.select(
        [state == status.INACTIVE, ~has_champion & (state == status.COLD_START),
         ~has_champion & (state == status.FALLBACK), ~has_champion, no_rival, revived, replaces_stand_in,
         unscored_champion],
        ["stopped selling: the flagged zero forecast", "first model: a cold start (no backtest to judge)",
         "first model: a fallback (no candidate could be backtested)",
         "first model: backtest MASE " + _fmt(mase) + f" < {rule.first_model_max_mase} (beats seasonal naive)", note,
         "sales returned: replaces the flagged zero forecast", "a newer stand-in replaces a stand-in",
         "the production model cannot forecast the new data"],
        default="beats the production model on the " + n + f" newest periods: {rule.metric} " + _fmt(ours)
        + " vs " + _fmt(theirs))
    reason = np.where(promote, why, np.where(decision == PROVISIONAL, "no production model yet; " + why_not, why_not))
    return pd.DataFrame({"key": new["key"].to_numpy(), "decision": decision,
                         "failed_check": np.where(promote, "", failed_check), "reason": reason,
                         "margin": margin, "points": points})


def _fmt(values) -> np.ndarray:
    v = np.asarray(values, dtype=float)
    return np.where(np.isfinite(v), np.round(v, 3).astype(str), "n/a").astype(object)


def margin_summary(decisions: pd.DataFrame) -> dict[str, float]:
    """Wins, losses and the distribution of the challenger's margin over the champion, for the
    series that were compared."""
    compared = decisions["margin"].dropna()
    q = compared.quantile([0.1, 0.25, 0.5, 0.75, 0.9]) if len(compared) else pd.Series(dtype=float)
    return {"compared": int(compared.size), "wins": int((compared > 0).sum()), "losses": int((compared < 0).sum()),
            "ties": int((compared == 0).sum()), **{f"margin_p{int(k * 100)}": float(v) for k, v in q.items()}}
