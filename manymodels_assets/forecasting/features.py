"""Exogenous features for the regression candidate: price, promotion, and season dummies."""
from __future__ import annotations

import numpy as np
import pandas as pd


def has_drivers(frame: pd.DataFrame) -> bool:
    """True when the frame carries a usable price or promotion signal (not all missing/constant)."""
    price = pd.to_numeric(frame.get("price"), errors="coerce") if "price" in frame else None
    promo = pd.to_numeric(frame.get("promo"), errors="coerce") if "promo" in frame else None
    price_ok = price is not None and price.notna().any() and price.dropna().nunique() > 1
    promo_ok = promo is not None and promo.fillna(0).nunique() > 1
    return bool(price_ok or promo_ok)


def design(frame: pd.DataFrame, freq: str, reference_price: float | None = None) -> pd.DataFrame:
    """Regressors for ``frame`` (columns date, price, promo), indexed by period.

    log relative price (to ``reference_price``, the history's median, so the scale is
    comparable across items), promotion flag, and weekday dummies for daily data.
    Missing prices are carried forward, then backward.
    """
    index = pd.PeriodIndex(pd.to_datetime(frame["date"]), freq=freq)
    price = pd.to_numeric(frame["price"], errors="coerce").ffill().bfill() if "price" in frame else None
    out = pd.DataFrame(index=index)
    if price is not None and price.notna().any():
        ref = reference_price if reference_price else float(np.nanmedian(price))
        out["log_price"] = np.log(np.clip(price.to_numpy(dtype=float), 1e-6, None) / ref)
    out["promo"] = pd.to_numeric(frame["promo"], errors="coerce").fillna(0).to_numpy(dtype=float) \
        if "promo" in frame else 0.0
    if freq.upper().startswith("D"):
        dow = index.dayofweek
        for d in range(6):
            out[f"dow{d}"] = (dow == d).astype(float)
    return out


def reference_price(frame: pd.DataFrame) -> float | None:
    if "price" not in frame:
        return None
    price = pd.to_numeric(frame["price"], errors="coerce")
    return float(np.nanmedian(price)) if price.notna().any() else None
