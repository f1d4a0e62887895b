"""Thin Dagster assets, one module per pipeline stage."""
import warnings

import dagster as dg

# Every asset here takes `backfill_policy=single_run()` on purpose (one Spark job per backfill);
# Dagster warns once per asset at import that the parameter is in beta, in every process that
# loads the code (webserver, daemon, each run, `make demo`): said here once instead.
warnings.filterwarnings("ignore", message="Parameter `backfill_policy` of function `asset`", category=dg.BetaWarning)
