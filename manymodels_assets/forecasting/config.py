"""How a series is trained: the one source of the training defaults (the Dagster config reads them here)."""
from __future__ import annotations

from dataclasses import dataclass

from manymodels_assets.forecasting.candidates import CANDIDATES
from manymodels_assets.forecasting.frequency import default_horizon, default_season_length

SELECTION_METRICS = ("mase", "wape", "smape", "mae", "rmse", "mape")
INTERVAL_SCALES = ("log", "additive")


@dataclass(frozen=True)
class TrainingConfig:
    candidates: tuple[str, ...] = ("seasonal_naive", "ets", "theta", "tsb", "regression")
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

    def __post_init__(self):
        unknown = [c for c in self.candidates if c not in CANDIDATES]
        if unknown:
            raise ValueError(f"unknown candidates {unknown}; known: {sorted(CANDIDATES)}")
        if not self.candidates:
            raise ValueError("at least one candidate is needed")
        if self.metric not in SELECTION_METRICS:
            raise ValueError(f"metric {self.metric!r} not in {SELECTION_METRICS}")
        if self.n_folds < 1:
            raise ValueError("n_folds must be >= 1")
        if not 0 < self.interval_level < 1:
            raise ValueError("interval_level must be in (0, 1)")
        if self.interval_scale not in INTERVAL_SCALES:
            raise ValueError(f"interval_scale must be one of {INTERVAL_SCALES}")

    def resolved(self, freq: str) -> tuple[int, int]:
        """(horizon, season_length) for data of frequency ``freq``."""
        return (self.horizon or default_horizon(freq), self.season_length or default_season_length(freq))

    def min_history(self, freq: str) -> int:
        """Fewest points a series needs for one backtest fold; shorter series are cold starts."""
        horizon, _ = self.resolved(freq)
        return (self.min_train or 2 * horizon) + horizon
