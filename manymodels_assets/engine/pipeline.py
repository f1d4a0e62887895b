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


def build_series(raw: DataFrame, freq: str, end: dt.date, fill: str = "zero") -> DataFrame:
    """One regular, gap-filled series per (store_id, item_id), ending at ``end``."""

    def one(pdf: pd.DataFrame) -> pd.DataFrame:
        from manymodels_assets.forecasting.series import regularize
        from manymodels_assets.forecasting.training import data_version

        store, item = str(pdf["store_id"].iloc[0]), str(pdf["item_id"].iloc[0])
        out = regularize(pdf, freq, end, fill)
        out["date"] = out["date"].dt.date
        out.insert(0, "key", encode_key(store, item))
        out.insert(1, "store_id", store)
        out.insert(2, "item_id", item)
        out["freq"] = freq
        out["data_version"] = data_version(out["units"].to_numpy(), out["date"])
        return out[list(SERIES_COLUMNS)]

    return raw.groupBy("store_id", "item_id").applyInPandas(one, ddl(SERIES_COLUMNS))


def item_profiles(all_series: DataFrame, selected: DataFrame, config: TrainingConfig, freq: str,
                  end: dt.date) -> dict[str, pd.Series]:
    """item_id -> the item's mean units per period across its established stores (those with
    enough history to backtest) over the last seasons, for the items of selected series too
    short to backtest: the cold-start fallback."""
    minimum = config.min_history(freq)
    short = (selected.groupBy("key", "item_id").agg(F.count(F.lit(1)).alias("n"))
             .where(F.col("n") < minimum))
    items = [r["item_id"] for r in short.select("item_id").distinct().collect()]
    if not items:
        return {}
    horizon, season_length = config.resolved(freq)
    window = max(4 * season_length, 2 * horizon)
    start = (pd.Period(pd.Timestamp(end), freq=freq) - (window - 1)).start_time.date()
    of_items = all_series.where(F.col("item_id").isin(items))
    established = (of_items.groupBy("key").agg(F.count(F.lit(1)).alias("n"))
                   .where(F.col("n") >= minimum).select("key"))
    rows = (of_items.join(established, "key").where(F.col("date") >= F.lit(start))
            .groupBy("item_id", "date").agg(F.avg("units").alias("units")).toPandas())
    return {item: g.set_index(pd.to_datetime(g["date"]))["units"].sort_index() for item, g in rows.groupby("item_id")}


def train_models(series: DataFrame, config: TrainingConfig, model_set: str, plans: DataFrame | None = None,
                 profiles: dict[str, pd.Series] | None = None, prior: list[str] | None = None) -> DataFrame:
    """One model-set row per series key (see MODEL_COLUMNS), trained inside Spark tasks.

    ``plans``: planned price/promotion rows (key, store_id, item_id, date, price, promo) for dates
    after the history; ``profiles``: item profiles for the cold start of short series; ``prior``:
    the panel's candidate ranking from the previous training run.
    """
    profiles = profiles or {}
    cols = ["key", "store_id", "item_id", "date", "units", "price", "promo", "freq"]
    rows = series.select(*cols).withColumn("planned", F.lit(False))
    if plans is not None:  # plan rows ride along in the same group, flagged, with no units
        planned = (plans.withColumn("units", F.lit(None).cast("double")).withColumn("freq", F.lit(None).cast("string"))
                   .select(*cols).withColumn("planned", F.lit(True)))
        rows = rows.unionByName(planned)

    def one(pdf: pd.DataFrame) -> pd.DataFrame:
        from manymodels_assets.forecasting.training import train_series

        history = pdf[~pdf["planned"].astype(bool)]
        plan = pdf[pdf["planned"].astype(bool)][["date", "price", "promo"]]
        first = (history if len(history) else pdf).iloc[0]
        row = train_series(first["key"], first["store_id"], first["item_id"],
                           history[["date", "units", "price", "promo"]], first["freq"] or "D", config,
                           plan=plan if len(plan) else None, item_profile=profiles.get(first["item_id"]),
                           prior=prior)
        row["model_set"] = model_set
        return pd.DataFrame([row])

    return rows.groupBy("key").applyInPandas(one, ddl(MODEL_COLUMNS, {"model_set": "string"}))


def score_models(models: DataFrame, horizon: int | None, parallelism: int) -> DataFrame:
    """Forecast rows for every model row (``horizon`` None: the horizon the model was trained for)."""

    def batches(iterator):
        from manymodels_assets.forecasting.scoring import forecast_series

        for pdf in iterator:
            frames = [forecast_series(row, horizon or int(row["horizon"]))
                      for row in pdf.to_dict("records")]
            if frames:
                yield pd.concat(frames, ignore_index=True)[list(FORECAST_COLUMNS)]

    cols = ["key", "store_id", "item_id", "model", "interval_halfwidth", "interval_scale", "last_date", "freq",
            "forecaster", "model_set", "horizon", "status", "future_drivers"]
    return (models.where(F.col("model").isNotNull()).select(*cols)
                  .repartition(parallelism, "key").mapInPandas(batches, ddl(FORECAST_COLUMNS)))


def planned_rows(calendar: DataFrame, series_keys: DataFrame, after: dt.date) -> DataFrame:
    """The calendar's plan for the given series (key, store_id, item_id) after ``after``."""
    return calendar.where(F.col("date") > F.lit(after)).join(F.broadcast(series_keys), ["store_id", "item_id"])


def series_stats(series: DataFrame, keys: DataFrame) -> pd.DataFrame:
    """Per selected series: points, share of zero periods, first date, data version."""
    return (series.join(F.broadcast(keys), "key").groupBy("key")
            .agg(F.count(F.lit(1)).alias("points"), F.avg((F.col("units") == 0).cast("double")).alias("zero_share"),
                 F.min("date").alias("first_date"), F.first("data_version").alias("data_version"))
            .toPandas())
