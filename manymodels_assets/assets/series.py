"""``store_item_series``: one regular, gap-filled series per store-item."""
from typing import Optional

import dagster as dg

from manymodels_assets import layout
from manymodels_assets.assets import report
from manymodels_assets.assets.common import key_pairs, partition_range, selected_keys
from manymodels_assets.assets.raw_sales import raw_sales
from manymodels_assets.assets.report import table
from manymodels_assets.assets.run_defaults import DEPLOYMENT, DocumentedConfig
from manymodels_assets.engine.series import update_series
from manymodels_assets.forecasting.frequency import AUTO, normalize_freq
from manymodels_assets.forecasting.series import FILLS
from manymodels_assets.partitions import store_item
from manymodels_assets.resources.lake import LakeResource
from manymodels_assets.resources.spark import SparkResource


@DEPLOYMENT.of("store_item_series")
class SeriesConfig(DocumentedConfig):
    freq: str = AUTO
    """Series frequency: "auto" infers daily, weekly (any weekday; fortnightly), monthly (dates on month
    starts, ends or any one day), quarterly or yearly data from the dates, also when stores date the
    same period differently (month starts in one, month ends in another). Or any pandas spelling of these: "D",
    "W-SUN" (W-MON ... W-SAT), "M"/"MS"/"ME", "Q"/"QS"/"QE"/"Q-DEC"/"QS-FEB", "Y"/"YS", and
    multiples such as "3M" or "2W-SUN". A month is one period whatever its length. Business days,
    semi-months and minutes are refused. (The core also handles hourly data, "h"; the lake's sales
    tables hold dates, so hourly rows arrive here summed per day.)"""
    fill: str = FILLS[0]
    """Missing periods: "zero" (no sales row means nothing sold) or "interpolate" (unreported data)."""
    late_store_periods: Optional[int] = None
    """A store whose sales stop at most this many of the data's periods (days of daily sales,
    reports of weekly or monthly ones) before the raw data's last date is late: its feed has not
    arrived yet, so its series end at its own last date (or last complete period) instead of taking
    the missing days for zero sales. Days it does not open on (no sales that weekday lately) do
    not make it late. A store quiet for longer has stopped selling: its series are zero-filled to
    the last date. Empty: 7 for daily sales, 1 for coarser ones; 0: every store zero-filled."""

    def check(self) -> None:
        """Refuses a frequency, fill or lateness the series could not be built with."""
        if self.freq.strip().lower() != AUTO:
            normalize_freq(self.freq)
        if self.fill not in FILLS:
            raise ValueError(f"fill must be one of {list(FILLS)}, not {self.fill!r}")
        if self.late_store_periods is not None and self.late_store_periods < 0:
            raise ValueError(f"late_store_periods must be 0 or more (or empty), not {self.late_store_periods}")


@dg.asset(partitions_def=store_item, backfill_policy=dg.BackfillPolicy.single_run(), deps=[raw_sales],
          group_name="training", kinds={"spark", "parquet"})
def store_item_series(context: dg.AssetExecutionContext, config: SeriesConfig, spark: SparkResource,
                      lake: LakeResource) -> dg.MaterializeResult:
    """One regular series per store-item: a row per period (day, week, month, quarter: `freq`,
    inferred by default) from its first sale to the last date in the raw data, missing periods
    filled with 0 units (or interpolated: `fill`). A store whose feed is late ends its series at
    its own last date instead of taking the missing days for zero sales (`late_store_periods`;
    `stores_behind` lists them). The table holds one frequency. Sales finer
    than a frequency set by hand end at the last complete period (`held_back`: June 1-3 of daily
    sales wait until June is whole).

    Each series carries its data version (a hash of its values), which the models trained on it
    record. Select many partitions and they are built in one Spark job (single-run backfill). The
    series of a store-item whose partition was deleted are dropped from the table at the next build
    (the next ingest registers it again while raw_sales holds its sales).
    """
    keys = selected_keys(context)
    try:
        built = update_series(spark.spark_session, lake, key_pairs(keys), config.freq, config.fill, context.run_id,
                              live_keys=lambda: context.instance.get_dynamic_partitions(store_item.name),
                              late_periods=config.late_store_periods)
    except LookupError as exc:
        raise dg.Failure(str(exc)) from None
    stats = built.stats
    if built.held_back:
        context.log.info(f"the last {built.freq} period is not complete: {built.held_back}")
    if len(built.behind):  # feeds arrive on different days: worth a look, not a warning
        late = built.behind["series"].str.endswith("(late)")
        examples = ", ".join(f"{r.store_id} (last sale {r.last_date}: {r.series})" for r in built.behind.head(5).itertuples())
        context.log.info(f"{len(built.behind)} stores' feeds are behind the raw data's last date: {int(late.sum())} "
                         f"late, {int((~late).sum())} stopped; e.g. {examples}; all under stores_behind")
    missing = sorted(set(keys) - set(stats["key"]))
    if missing:
        context.log.warning(f"{len(missing)} selected store-items have no sales rows up to {built.end}, "
                            f"e.g. {missing[:5]}")
    return report.result(context, keys, metadata={
        "series": len(stats),
        "partition_range": partition_range(keys),
        "missing_store_items": len(missing),
        "points": int(stats["points"].sum()),
        "freq": built.freq,
        "end_date": str(built.end),
        "held_back": built.held_back or "nothing: the last period is complete",
        "stores_behind": table(built.behind) if len(built.behind) else "none: every store's feed is up to date",
        "median_length": float(stats["points"].median()) if len(stats) else 0.0,
        "intermittent_series": int((stats["zero_share"] > 0.5).sum()),
        "sample": table(stats.sort_values("key").head(10)),
        "version": built.version,
        "path": dg.MetadataValue.path(lake.uri(layout.SERIES, built.version)),
    })
