"""The panels the accuracy report runs on: two real ones read in place, one generated.

Each comes as a :class:`Panel`: sales rows (store_id, item_id, date, units, price, promo), the
frequency, how a missing period is filled, and the held-out horizon (the project's default
horizon for that frequency). The real data's licences (GPL) differ from the project's, so the
files are read from where they lie and never copied.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd

from manymodels_assets.forecasting.frequency import default_horizon

WEEK1 = pd.Timestamp("1989-09-14")  # Dominick's week 1 starts on this Thursday


@dataclass(frozen=True)
class Panel:
    name: str
    frame: pd.DataFrame  # store_id, item_id, date, units, price, promo
    freq: str
    fill: str  # "zero" or "interpolate" (see forecasting.series.regularize)
    description: str

    @property
    def holdout(self) -> int:
        return default_horizon(self.freq)


def _read_rda(path: str):
    import rdata

    with warnings.catch_warnings():
        # rdata names each R class it has no constructor for (tibble, vctrs): not our concern
        warnings.filterwarnings("ignore", message="Missing constructor", category=UserWarning)
        return rdata.read_rda(path)


def orange_juice(path: str) -> Panel:
    """Dominick's orange juice: 913 weekly store-brand series with own price and deal/feature."""
    yx = _read_rda(path)["orangeJuice"]["yx"]
    brand = yx["brand"].astype(int)
    own_price = yx[[f"price{i}" for i in range(1, 12)]].to_numpy()[np.arange(len(yx)), brand.to_numpy() - 1]
    frame = pd.DataFrame({
        "store_id": yx["store"].astype(int).astype(str),
        "item_id": "brand" + brand.astype(str).str.zfill(2),
        "date": WEEK1 + pd.to_timedelta(7 * (yx["week"].astype(int) - 1), unit="D"),
        "units": np.exp(yx["logmove"].to_numpy()),
        "price": own_price,
        "promo": np.maximum(yx["deal"].to_numpy(), yx["feat"].to_numpy() > 0).astype(int),
    })
    # a week a store did not report is missing data, not zero sales
    return Panel("orange_juice", frame, "W-WED", "interpolate",
                 "Dominick's orange juice (bayesm), 913 weekly store-brand series, own price and deal/feature")


def tourism(path: str) -> Panel:
    """Australian domestic overnight trips: 304 quarterly series, 1998 Q1 - 2017 Q4."""
    t = _read_rda(path)["tourism"]
    frame = pd.DataFrame({
        "store_id": (t["Region"].astype(str) + ", " + t["State"].astype(str)).to_numpy(),
        "item_id": t["Purpose"].astype(str).to_numpy(),
        "date": pd.to_datetime(t["Quarter"].astype(float), unit="D").to_numpy(),
        "units": t["Trips"].astype(float).to_numpy(),
    })
    return Panel("tourism", frame, "Q-DEC", "zero",
                 "Australian domestic overnight trips (tsibble), 304 quarterly region x purpose series")


def generated_daily(stores: int = 20, items: int = 10, seed: int = 7) -> Panel:
    """The project's synthetic generator: 3 years of daily sales with trend, weekly and yearly
    seasons, price discounts, promotions, holidays, intermittent, late-starting and stopped items."""
    from manymodels_assets.sales_generator import GeneratorConfig, iter_chunks

    frame = pd.concat(iter_chunks(GeneratorConfig(stores=stores, items=items, seed=seed)), ignore_index=True)
    frame["date"] = pd.to_datetime(frame["date"])
    return Panel("generated_daily", frame, "D", "zero",
                 f"manymodels sales generator, {stores * items} daily store-item series, 3 years (seed {seed})")


def add_panel_arguments(parser) -> None:
    """``--oj``, ``--tourism`` and ``--daily``: the panels a benchmark is asked to run on."""
    parser.add_argument("--oj", help="path to orangeJuice.rda")
    parser.add_argument("--tourism", help="path to tourism.rda")
    parser.add_argument("--daily", type=int, default=200, help="generated daily series (stores x 10 items); 0: none")


def requested(args):
    """The panels ``add_panel_arguments`` asked for, loaded one at a time (each is large)."""
    if args.oj:
        yield orange_juice(args.oj)
    if args.tourism:
        yield tourism(args.tourism)
    if args.daily:
        yield generated_daily(max(1, args.daily // 10), 10)
