"""``raw_sales``: every landing drop merged, typed and de-duplicated."""
from dataclasses import dataclass, field

import dagster as dg
import pandas as pd
from pyspark.sql import functions as F

from manymodels_assets import landing
from manymodels_assets.assets.common import CALENDAR_TABLE, RAW_TABLE, table
from manymodels_assets.engine.ingest import RULES, bad_rows_by_file, latest_drop_wins, read_landing
from manymodels_assets.engine.tables import write_version
from manymodels_assets.forecasting.keys import encode_keys
from manymodels_assets.partitions import add_store_items
from manymodels_assets.resources.lake import LakeResource
from manymodels_assets.resources.spark import SparkResource

TABLES = {landing.SALES.name: RAW_TABLE, landing.CALENDAR.name: CALENDAR_TABLE}


@dataclass
class FeedResult:
    version: str | None = None
    rows_read: int = 0
    files_read: int = 0
    drops: int = 0
    quarantined: list[tuple[str, str]] = field(default_factory=list)


def ingest_feed(context, session, lake: LakeResource, feed: landing.Feed) -> FeedResult:
    """Check, read, de-duplicate and write one feed; quarantine its bad files."""
    fs, landing_dir = lake.fs, lake.uri("landing")
    result = FeedResult()
    readable = []
    for f in landing.list_files(fs, landing_dir, feed):
        types, reason = landing.inspect_file(fs, f)
        if reason:
            landing.quarantine(fs, landing_dir, f, reason)
            result.quarantined.append((f.label, reason))
            context.log.warning(f"quarantined {f.label}: {reason}")
        else:
            readable.append((f, types))
    if not readable:
        return result
    by_name = {f"{f.drop}/{f.name}": f for f, _ in readable}
    typed = read_landing(session, [(lake.spark_path(f.path), f.fmt, t) for f, t in readable])
    bad = bad_rows_by_file(typed, feed.name)
    good = typed.where(~F.col("file").isin(list(bad))) if bad else typed
    # Quarantine row-check failures only after the write: Spark reads the files lazily.
    result.version = write_version(lake, TABLES[feed.name], latest_drop_wins(good, feed.name), context.run_id,
                                   partition_by=("store_id", "item_id"), sort_by=("store_id", "item_id", "date"))
    result.rows_read = good.count()
    for name, (n, example) in bad.items():
        reason = f"{n} row(s) fail the row check ({RULES[feed.name]}); first: {example}"
        landing.quarantine(fs, landing_dir, by_name[name], reason)
        result.quarantined.append((by_name[name].label, reason))
        context.log.warning(f"quarantined {by_name[name].label}: {reason}")
    result.files_read = len(readable) - len(bad)
    result.drops = len({f.drop for f, _ in readable})
    return result


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
    sales = ingest_feed(context, session, lake, landing.SALES)
    if sales.version is None:
        raise dg.Failure(f"no readable sales files under {lake.uri('landing', 'sales')}/<drop>/ "
                         f"({len(sales.quarantined)} quarantined)")
    calendar = ingest_feed(context, session, lake, landing.CALENDAR)

    raw = session.read.parquet(lake.spark_uri(RAW_TABLE, sales.version))
    stats = raw.agg(F.count(F.lit(1)).alias("rows"), F.min("date").alias("first"), F.max("date").alias("last")).first()
    pairs = raw.select("store_id", "item_id").distinct().orderBy("store_id", "item_id").toPandas()
    keys = encode_keys(pairs["store_id"], pairs["item_id"])
    new_keys = add_store_items(context.instance, keys)

    quarantined = pd.DataFrame(sales.quarantined + calendar.quarantined, columns=["file", "reason"])
    planned = (session.read.parquet(lake.spark_uri(CALENDAR_TABLE, calendar.version))
               .agg(F.count(F.lit(1)).alias("rows"), F.max("date").alias("until")).first()
               if calendar.version else None)
    return dg.MaterializeResult(metadata={
        "rows": int(stats["rows"]),
        "rows_read": sales.rows_read,
        "duplicates_dropped": sales.rows_read - int(stats["rows"]),
        "drops": sales.drops,
        "files_read": sales.files_read,
        "files_quarantined": len(quarantined),
        "quarantined": table(quarantined) if len(quarantined) else dg.MetadataValue.text("none"),
        "store_items": len(keys),
        "new_store_items": len(new_keys),
        "first_date": str(stats["first"]),
        "last_date": str(stats["last"]),
        "calendar_rows": int(planned["rows"]) if planned else 0,
        "calendar_until": str(planned["until"]) if planned else "no calendar",
        "version": sales.version,
        "path": dg.MetadataValue.path(lake.uri(RAW_TABLE, sales.version)),
    })
