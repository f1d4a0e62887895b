"""The pooled candidates' Spark side: one model of each per group of series.

Each group (an item across its stores, a store across its items, or all series) is one
``applyInPandas`` task that fits the group models of the configured pooled candidates
(``pooled``, ``pooled_ar``) per backtest fold and on the whole histories
(:func:`forecasting.pooled.backtest_group`) and returns one row per series: its pooled
backtests and forecasts as JSON. ``train_models`` hands each series its row, so the pooled
candidates enter the same backtest comparison and selection as the per-series ones.
"""
from __future__ import annotations

import pandas as pd
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from manymodels_assets.forecasting.config import TrainingConfig

GROUPS = {"item": ["item_id"], "store": ["store_id"], "all": []}
"""How series are grouped for the pooled model (``TrainingConfig.pooled_group``)."""


def pooled_backtests(series: DataFrame, calendar: DataFrame | None, config: TrainingConfig, freq: str) -> DataFrame:
    """key, pooled (JSON by candidate, see forecasting.pooled.group_payloads) for every series of ``series``."""
    cols = ["key", "store_id", "item_id", "date", "units", "price", "promo"]
    rows = series.select(*cols).withColumn("is_calendar", F.lit(False))
    if calendar is not None:
        rows = rows.unionByName(calendar.withColumn("units", F.lit(None).cast("double")).select(*cols)
                                .withColumn("is_calendar", F.lit(True)))
    by = GROUPS[config.pooled_group]
    if not by:  # one group of every series
        rows = rows.withColumn("_group", F.lit(0))
        by = ["_group"]

    def one(pdf: pd.DataFrame) -> pd.DataFrame:
        from manymodels_assets.forecasting.pooled import group_payloads

        return group_payloads(pdf, config, freq)

    return rows.groupBy(*by).applyInPandas(one, "key string, pooled string")
