"""The pure forecasting core: plain pandas/numpy/sktime, no Dagster and no Spark.

The same functions run in a unit test, inside a Spark task and in the serving process.
Public entry points: :func:`train_series`, :func:`forecast_series`, :func:`decide_promotions`.
"""
from manymodels_assets.forecasting.config import TrainingConfig
from manymodels_assets.forecasting.keys import decode_key, encode_key
from manymodels_assets.forecasting.promotion import PromotionRule, decide_promotions
from manymodels_assets.forecasting.scoring import forecast_series
from manymodels_assets.forecasting.training import train_series

__all__ = [
    "PromotionRule",
    "TrainingConfig",
    "decide_promotions",
    "decode_key",
    "encode_key",
    "forecast_series",
    "train_series",
]
