"""Map the pure core over store-item groups with Spark's pandas function API."""
from __future__ import annotations

import datetime as dt

import pandas as pd
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from manymodels_assets.engine.schema import ddl
from manymodels_assets.forecasting.keys import encode_key
from manymodels_assets.forecasting.scoring import FORECAST_COLUMNS
from manymodels_assets.forecasting.series import SERIES_COLUMNS
from manymodels_assets.forecasting.training import MODEL_COLUMNS, TrainingConfig


def build_series(raw: DataFrame, freq: str, end: dt.date) -> DataFrame:
    """One regular, gap-filled series per (store_id, item_id), ending at ``end``."""

    def one(pdf: pd.DataFrame) -> pd.DataFrame:
        from manymodels_assets.forecasting.series import regularize
        from manymodels_assets.forecasting.training import data_version

        store, item = str(pdf["store_id"].iloc[0]), str(pdf["item_id"].iloc[0])
        out = regularize(pdf, freq, end)
        out["date"] = out["date"].dt.date
        out.insert(0, "key", encode_key(store, item))
        out.insert(1, "store_id", store)
        out.insert(2, "item_id", item)
        out["freq"] = freq
        out["data_version"] = data_version(out["units"].to_numpy(), out["date"])
        return out[list(SERIES_COLUMNS)]

    return raw.groupBy("store_id", "item_id").applyInPandas(one, ddl(SERIES_COLUMNS))


def train_models(series: DataFrame, config: TrainingConfig, model_set: str) -> DataFrame:
    """One model-set row per series key (see MODEL_COLUMNS), trained inside Spark tasks."""

    def one(pdf: pd.DataFrame) -> pd.DataFrame:
        from manymodels_assets.forecasting.training import train_series

        first = pdf.iloc[0]
        row = train_series(first["key"], first["store_id"], first["item_id"], pdf[["date", "units"]],
                           first["freq"], config)
        row["model_set"] = model_set
        return pd.DataFrame([row])

    return (series.select("key", "store_id", "item_id", "date", "units", "freq")
                  .groupBy("key").applyInPandas(one, ddl(MODEL_COLUMNS, {"model_set": "string"})))


def score_models(models: DataFrame, horizon: int | None, parallelism: int) -> DataFrame:
    """Forecast rows for every model row (``horizon`` None: the horizon the model was trained for)."""

    def batches(iterator):
        from manymodels_assets.forecasting.scoring import forecast_series

        for pdf in iterator:
            frames = [forecast_series(row, horizon or int(row["horizon"]))
                      for row in pdf.to_dict("records")]
            if frames:
                yield pd.concat(frames, ignore_index=True)[list(FORECAST_COLUMNS)]

    cols = ["key", "store_id", "item_id", "model", "interval_halfwidth", "last_date", "freq", "forecaster",
            "model_set", "horizon"]
    return (models.where(F.col("model").isNotNull()).select(*cols)
                  .repartition(parallelism, "key").mapInPandas(batches, ddl(FORECAST_COLUMNS)))
