"""Stop, at their source and once per process, the warnings that would otherwise repeat in every
Spark task's log and every benchmark (thousands of identical lines per training run).

1. sktime 1.2: every forecaster constructor (and every clone a composite makes inside ``fit``)
   warns that the default of ``remember_data`` will change to False in sktime 1.3. We adopt
   that default now, as the warning itself recommends; nothing here calls ``update``, and the
   fitted models are smaller without the stored data.
2. sktime 1.2: ``_SuppressWarningPattern`` (entered on every forecasting-horizon conversion)
   leaves the process with ``filterwarnings("default", FutureWarning)`` when it exits instead
   of restoring the filters it found, so every FutureWarning silenced before is loud again.
   Ours restores them.
3. Optimiser notes that fire on a good share of fits: statsmodels' ``ConvergenceWarning``
   (Holt-Winters, SARIMAX) and statsforecast's ARIMA "possible convergence problem". They say
   nothing the backtest does not measure: a poor fit shows as a poor backtest and loses. They
   are muted around each fit (:func:`muted_fit_notes`), not for the whole process, so any other
   warning of a fit still shows.
"""
from __future__ import annotations

import contextlib
import warnings

_installed = False


def quiet_forecasting() -> None:
    """Install the fixes and filters above (idempotent; a boolean check after the first call)."""
    global _installed
    if _installed:
        return
    from sktime.forecasting.base import BaseForecaster
    from sktime.utils import warnings as sktime_warnings

    BaseForecaster._config = {**BaseForecaster._config, "remember_data": False}

    def enter(self):
        self._saved = warnings.catch_warnings()
        self._saved.__enter__()
        warnings.filterwarnings("ignore", category=self.warning_type, message=self.message_pattern)

    def exit_(self, exc_type, exc_val, exc_tb):
        self._saved.__exit__(exc_type, exc_val, exc_tb)

    sktime_warnings._SuppressWarningPattern.__enter__ = enter
    sktime_warnings._SuppressWarningPattern.__exit__ = exit_
    _installed = True


@contextlib.contextmanager
def muted_fit_notes():
    """Mute the optimiser notes of point 3 for the duration of one fit."""
    from statsmodels.tools.sm_exceptions import ConvergenceWarning

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=ConvergenceWarning)
        warnings.filterwarnings("ignore", message="possible convergence problem", category=UserWarning)
        yield
