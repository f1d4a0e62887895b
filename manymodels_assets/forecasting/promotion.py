"""The business rule that decides which new models go to production.

Vectorised over a whole model set: one call decides every series of a promotion run.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from manymodels_assets.forecasting import status

PROMOTED = "promoted"  # new model passed the rule
PROVISIONAL = "provisional"  # failed the rule, but the series had no production model yet
KEPT = "kept"  # failed the rule; the previous production model stays
REJECTED = "rejected"  # failed the rule and no production model is deployed for the series
DECISIONS = (PROMOTED, PROVISIONAL, KEPT, REJECTED)


@dataclass(frozen=True)
class PromotionRule:
    min_accuracy: float = 0.8  # backtest 1 - WAPE must be at least this
    max_mase: float = 1.0  # backtest MASE must be below this
    # A series that never had a production model gets its first model even when it fails the
    # rule (decision "provisional"), so every series has a forecast; False rejects it instead.
    deploy_first_model: bool = True


def decide_promotions(new_models: pd.DataFrame, previous_keys, rule: PromotionRule) -> pd.DataFrame:
    """Decide each series of ``new_models`` (columns key, status, wape, mase).

    ``previous_keys``: keys that have a model in the current production set.
    Returns key, decision, failed_check ("", "training", "accuracy" or "mase"), reason.
    """
    wape = new_models["wape"].astype(float)
    mase = new_models["mase"].astype(float)
    accuracy = 1 - wape
    trained = new_models["status"].isin(status.WITH_MODEL)
    acc_ok = accuracy >= rule.min_accuracy
    mase_ok = mase < rule.max_mase
    passed = trained & acc_ok & mase_ok
    has_previous = new_models["key"].isin(set(previous_keys))

    errors = new_models.get("error", pd.Series("", index=new_models.index)).fillna("").astype(str)

    def fmt(v):
        return np.where(np.isfinite(v), v.round(3).astype(str), "n/a")

    reasons = np.where(
        ~trained, "training failed: " + errors,
        np.where(~acc_ok, "accuracy " + fmt(accuracy) + f" < {rule.min_accuracy}",
                 np.where(~mase_ok, "MASE " + fmt(mase) + f" >= {rule.max_mase}", "")))
    first = trained & ~has_previous & rule.deploy_first_model
    decision = np.select([passed, has_previous, first], [PROMOTED, KEPT, PROVISIONAL], default=REJECTED)
    reason = np.where(passed, f"accuracy >= {rule.min_accuracy} and MASE < {rule.max_mase}",
                      np.where(decision == PROVISIONAL, "no production model yet; " + reasons, reasons))
    failed_check = np.where(~trained, "training", np.where(~acc_ok, "accuracy", np.where(~mase_ok, "mase", "")))
    return pd.DataFrame({"key": new_models["key"].to_numpy(), "decision": decision, "failed_check": failed_check,
                         "reason": reason})
