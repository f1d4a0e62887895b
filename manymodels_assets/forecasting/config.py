"""How a series is trained: the one source of the training defaults (the Dagster config reads them here)."""
from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass

from manymodels_assets.forecasting.candidates import CANDIDATES
from manymodels_assets.forecasting.metrics import METRICS
from manymodels_assets.forecasting.frequency import (calendar_unit, default_horizon, default_inactive_seasons,
                                                     default_max_history, default_season_length)

INTERVAL_SCALES = ("log", "additive")
POOLED_GROUPS = ("item", "store", "all")

DEFAULT_CANDIDATES = {
    # daily (and hourly): cheap per-series models, the price/promotion regression and the pooled
    # LightGBM, combined by the panel's weights: 64-69 ms per 3-year daily series (<= 100 ms target)
    "D": ("seasonal_naive", "tsb", "regression", "pooled"),
    "h": ("seasonal_naive", "tsb", "regression", "pooled"),
    # weekly: the regression with AR(1) errors is the best single model on the orange-juice panel
    # and is worth its ~70 ms per fit on ~100 weekly points
    "W": ("naive", "seasonal_naive", "tsb", "regression", "dynamic_regression", "pooled"),
    # monthly, quarterly, yearly: short seasonal series where the automatic families do best;
    # quarterly also the pooled autoregression, which the learned combination puts to use on
    # tourism's backtests (no monthly panel here to decide it on)
    "M": ("seasonal_naive", "tsb", "ets", "theta", "auto_ets", "auto_theta"),
    "Q": ("seasonal_naive", "tsb", "ets", "theta", "auto_ets", "auto_theta", "pooled_ar"),
    "Y": ("naive", "tsb", "auto_ets", "auto_theta"),
}
"""The candidates of each frequency when none are configured, chosen from the accuracy and cost
table of docs/accuracy.md."""


@dataclass(frozen=True)
class TrainingConfig:
    candidates: tuple[str, ...] = ()  # empty: DEFAULT_CANDIDATES for the series' frequency
    metric: str = "mase"
    n_folds: int = 3
    horizon: int | None = None  # None: default_horizon(freq)
    season_length: int | None = None  # None: default_season_length(freq)
    interval_level: float = 0.95
    interval_scale: str = "log"  # conformal on log1p errors ("log") or plain errors ("additive")
    combine_top: int = 2  # also try the mean of the best N candidates; 0 or 1: off
    use_panel_prior: bool = True  # keep the panel's best candidate unless a series' own is clearly better
    prior_margin: float = 0.1  # ... "clearly": at least this much better (relative)
    min_train: int | None = None  # points a fold trains on at least; None: two horizons
    inactive_seasons: int | None = None  # no sales in this many seasons: inactive; None: per frequency; 0: off
    pooled_group: str = "item"  # the pooled candidates' groups: "item" (across stores), "store" or "all"
    max_history: int | None = None  # latest periods a series trains on; None: per frequency; 0: all

    def __post_init__(self):
        unknown = [c for c in self.candidates if c not in CANDIDATES]
        if unknown:
            raise ValueError(f"unknown candidates {unknown}; known: {sorted(CANDIDATES)}")
        if self.metric not in METRICS:
            raise ValueError(f"metric {self.metric!r} not in {METRICS}")
        if self.n_folds < 1:
            raise ValueError("n_folds must be >= 1")
        for name in ("horizon", "season_length", "min_train"):
            if getattr(self, name) is not None and getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1 (or unset: the frequency's default)")
        if not 0 < self.interval_level < 1:
            raise ValueError("interval_level must be in (0, 1)")
        if self.pooled_group not in POOLED_GROUPS:
            raise ValueError(f"pooled_group must be one of {POOLED_GROUPS}")
        if self.max_history is not None and self.max_history < 0:
            raise ValueError("max_history must be >= 0 (0: the whole history)")
        if self.inactive_seasons is not None and self.inactive_seasons < 0:
            raise ValueError("inactive_seasons must be >= 0 (0: off)")
        if self.interval_scale not in INTERVAL_SCALES:
            raise ValueError(f"interval_scale must be one of {INTERVAL_SCALES}")

    def fingerprint(self) -> str:
        """A short hash of every setting: a model trained under another fingerprint is retrained.
        Unset candidates count as the defaults they stand for, so a release that changes the
        defaults retrains the models trained with the old ones."""
        settings = dataclasses.asdict(self)
        settings["candidates"] = settings["candidates"] or DEFAULT_CANDIDATES
        settings = json.dumps(settings, sort_keys=True, default=str)
        return hashlib.sha256(settings.encode()).hexdigest()[:12]

    def params(self) -> dict[str, object]:
        """The settings as flat tracking parameters (candidate lists joined)."""
        return {k: (",".join(v) or "frequency defaults") if isinstance(v, tuple) else v
                for k, v in dataclasses.asdict(self).items()}

    def resolved(self, freq: str) -> tuple[int, int]:
        """(horizon, season_length) for data of frequency ``freq``."""
        return (self.horizon or default_horizon(freq), self.season_length or default_season_length(freq))

    def candidates_for(self, freq: str) -> tuple[str, ...]:
        """The configured candidates, or the defaults of frequency ``freq``."""
        return self.candidates or DEFAULT_CANDIDATES[calendar_unit(freq)[1]]

    def inactive_periods(self, freq: str) -> int:
        """Periods without a sale after which a series is inactive (0: never).

        Counted in the calendar's seasons (a year of weeks), not the model's: a season_length of 1,
        set to switch seasonality off, must not make one quiet week mean a stopped series."""
        seasons = default_inactive_seasons(freq) if self.inactive_seasons is None else self.inactive_seasons
        try:
            season = default_season_length(freq)
        except ValueError:  # a multiple with no whole-number season (5M): the configured one
            season = self.resolved(freq)[1]
        return seasons * season

    def history_window(self, freq: str) -> int:
        """Latest periods a series trains on (0: all of them): at least enough to backtest once and
        to see whether it stopped selling."""
        window = default_max_history(freq) if self.max_history is None else self.max_history
        return max(window, self.min_history(freq), self.inactive_periods(freq)) if window else 0

    def min_history(self, freq: str) -> int:
        """Fewest points a series needs for one backtest fold; shorter series are cold starts."""
        horizon, _ = self.resolved(freq)
        return (self.min_train or 2 * horizon) + horizon
