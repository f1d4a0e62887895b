"""What a series' model is: the ``status`` column of model sets, forecasts and the warehouse."""

OK = "ok"
"""Backtested candidates; the best one was refit on the whole history."""
COLD_START = "cold_start"
"""Too little history to backtest: the item's profile across stores, or the last season's mean."""
FALLBACK = "fallback"
"""Long enough to backtest, but every candidate failed or was skipped (a calendar model with no
prices, say): the last season's mean stands in; the reasons are in ``error``."""
INACTIVE = "inactive"
"""No sales in the last seasons (``TrainingConfig.inactive_seasons``): a flagged zero forecast, no
models fit; the series trains again as soon as it sells."""
FAILED = "failed"
"""No model at all (no observations, or even the fallback failed); the reason is in ``error``."""

WITH_MODEL = (OK, COLD_START, FALLBACK, INACTIVE)
