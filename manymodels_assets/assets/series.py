"""``store_item_series``: one regular, gap-filled series per store-item."""

import dagster as dg
from manymodels_assets.resources.spark import SparkResource
from pyspark.sql import functions as F

from manymodels_assets.assets.common import RAW_TABLE, SERIES_TABLE, key_pairs, range_label, selected_keys, table
from manymodels_assets.assets.raw_sales import raw_sales
from manymodels_assets.engine.pipeline import build_series, series_stats
from manymodels_assets.engine.tables import keys_frame, read_current, replace_keys
from manymodels_assets.forecasting.series import infer_freq
from manymodels_assets.partitions import store_item
from manymodels_assets.resources.lake import LakeResource


class SeriesConfig(dg.Config):
    freq: str = "auto"
    """Series frequency: "auto" (from the data's dates), "D", or a weekly one such as "W-WED"."""
    fill: str = "zero"
    """Missing periods: "zero" (no sales row means nothing sold) or "interpolate" (unreported data)."""


@dg.asset(partitions_def=store_item, backfill_policy=dg.BackfillPolicy.single_run(), deps=[raw_sales],
          group_name="training", kinds={"spark", "parquet"})
def store_item_series(context: dg.AssetExecutionContext, config: SeriesConfig, spark: SparkResource,
                      lake: LakeResource) -> dg.MaterializeResult:
    """One regular series per store-item: a row per day (or week) from its first sale to the
    last date in the raw data, missing periods filled with 0 units.

    Each series carries its data version (a hash of its values), which the models trained on it
    record. Select many partitions and they are built in one Spark job (single-run backfill).
    """
    keys = selected_keys(context)
    session = spark.spark_session
    raw = read_current(session, lake, RAW_TABLE)
    if raw is None:
        raise dg.Failure("raw_sales has not been materialized yet: materialize it first")
    wanted = session.createDataFrame(key_pairs(keys))
    selected = raw.join(F.broadcast(wanted.select("store_id", "item_id")), ["store_id", "item_id"])
    end = raw.agg(F.max("date")).first()[0]
    freq = config.freq
    if freq == "auto":
        freq = infer_freq(raw.select("date").distinct().toPandas()["date"])
    built = build_series(selected, freq, end, config.fill)
    version = replace_keys(session, lake, SERIES_TABLE, built, keys_frame(session, keys), context.run_id,
                           sort_by=("key", "date"))

    stats = series_stats(session.read.parquet(lake.spark_uri(SERIES_TABLE, version)), wanted.select("key"))
    missing = sorted(set(keys) - set(stats["key"]))
    if missing:
        context.log.warning(f"{len(missing)} selected store-items have no sales rows, e.g. {missing[:5]}")
    return dg.MaterializeResult(metadata={
        "series": len(stats),
        "selection": range_label(keys),
        "missing_store_items": len(missing),
        "points": int(stats["points"].sum()),
        "freq": freq,
        "end_date": str(end),
        "median_length": float(stats["points"].median()) if len(stats) else 0.0,
        "intermittent_series": int((stats["zero_share"] > 0.5).sum()),
        "sample": table(stats.sort_values("key").head(10)),
        "version": version,
        "path": dg.MetadataValue.path(lake.uri(SERIES_TABLE, version)),
    })
