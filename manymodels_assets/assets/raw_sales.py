"""``raw_sales``: every landing drop merged, typed and de-duplicated."""
import dagster as dg
import pandas as pd

from manymodels_assets import landing, layout
from manymodels_assets.assets.report import table
from manymodels_assets.engine.ingest import ingest_feed, table_stats
from manymodels_assets.forecasting.keys import encode_keys
from manymodels_assets.partitions import add_store_items
from manymodels_assets.resources.lake import LakeResource
from manymodels_assets.resources.spark import SparkResource


@dg.asset(group_name="ingest", kinds={"spark", "parquet"})
def raw_sales(context: dg.AssetExecutionContext, spark: SparkResource, lake: LakeResource) -> dg.MaterializeResult:
    """All sales from the landing zone (`landing/sales/<drop>/`), typed and de-duplicated, and
    the planned price/promotion calendar (`landing/calendar/<drop>/`, optional).

    Sales columns: store_id, item_id, date, units, price, promo, drop; calendar columns:
    store_id, item_id, date, price, promo, drop. When the same store, item and date arrive in
    several drops, the latest drop wins. A file whose columns are missing or of the wrong
    type, or that has a bad row (no store, item or date; units missing or negative), is moved
    to `landing/quarantine/<feed>/<drop>/` beside `<file>.reason.txt`; the other files flow on.
    New store-items are added as `store_item` partitions in one bulk call.
    """
    session = spark.spark_session
    sales = ingest_feed(session, lake, landing.SALES, context.run_id, context.log.warning)
    if sales.version is None:
        raise dg.Failure(f"no readable sales files under {lake.uri(layout.landing_feed('sales'))}/<drop>/ "
                         f"({len(sales.quarantined)} quarantined)")
    calendar = ingest_feed(session, lake, landing.CALENDAR, context.run_id, context.log.warning)
    stats = table_stats(session, lake, layout.RAW_SALES, sales.version)
    keys = encode_keys(stats["pairs"]["store_id"], stats["pairs"]["item_id"])
    new_keys = add_store_items(context.instance, keys)

    quarantined = pd.DataFrame(sales.quarantined + calendar.quarantined, columns=["file", "reason"])
    planned = table_stats(session, lake, layout.RAW_CALENDAR, calendar.version) if calendar.version else None
    return dg.MaterializeResult(metadata={
        "rows": stats["rows"],
        "rows_read": sales.rows_read,
        "duplicates_dropped": sales.rows_read - stats["rows"],
        "drops": sales.drops,
        "files_read": sales.files_read,
        "files_quarantined": len(quarantined),
        "quarantined": table(quarantined) if len(quarantined) else dg.MetadataValue.text("none"),
        "store_items": len(keys),
        "new_store_items": len(new_keys),
        "first_date": str(stats["first"]),
        "last_date": str(stats["last"]),
        "calendar_rows": planned["rows"] if planned else 0,
        "calendar_until": str(planned["last"]) if planned else "no calendar",
        "version": sales.version,
        "path": dg.MetadataValue.path(lake.uri(layout.RAW_SALES, sales.version)),
    })
