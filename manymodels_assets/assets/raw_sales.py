"""``raw_sales``: every landing drop merged, checked row by row and de-duplicated."""
import datetime as dt

import dagster as dg
import pandas as pd

from manymodels_assets import landing, layout
from manymodels_assets.assets.report import table
from manymodels_assets.assets.run_defaults import DEPLOYMENT, DocumentedConfig
from manymodels_assets.engine.ingest import RowRules, ingest_feed, table_stats
from manymodels_assets.forecasting.keys import encode_keys
from manymodels_assets.partitions import add_store_items
from manymodels_assets.resources.lake import LakeResource
from manymodels_assets.resources.spark import SparkResource


@DEPLOYMENT.of("raw_sales")
class IngestConfig(DocumentedConfig):
    min_date: str = "1900-01-01"
    """Rows dated before this are rejected (a typo such as year 0201 would stretch every series)."""
    max_days_ahead: int = 0
    """Sales rows dated more than this many days after today (UTC) are rejected: every series runs
    to the panel's last date, so one row dated tomorrow (or 2100) would pad every series with
    zeros up to it."""
    calendar_max_days_ahead: int = 731
    """The planned calendar looks ahead: its rows may be dated up to this many days after today."""
    max_units: float = 1e9
    """Units above this are rejected as implausible (as are negative, infinite and missing units)."""

    def check(self) -> None:
        try:
            dt.date.fromisoformat(self.min_date)
        except ValueError:
            raise ValueError(f"min_date must be a date, YYYY-MM-DD, not {self.min_date!r}") from None

    def rules(self, feed: landing.Feed) -> RowRules:
        ahead = self.calendar_max_days_ahead if feed is landing.CALENDAR else self.max_days_ahead
        today = dt.datetime.now(dt.timezone.utc).date()
        return RowRules(min_date=dt.date.fromisoformat(self.min_date), max_date=today + dt.timedelta(days=ahead),
                        max_units=self.max_units)


@dg.asset(group_name="ingest", kinds={"spark", "parquet"})
def raw_sales(context: dg.AssetExecutionContext, config: IngestConfig, spark: SparkResource,
              lake: LakeResource) -> dg.MaterializeResult:
    """All sales from the landing zone (`landing/sales/<drop>/`), checked row by row and
    de-duplicated, and the planned price/promotion calendar (`landing/calendar/<drop>/`, optional).

    When the same store, item and date arrive in several drops, the latest drop wins. Columns are
    matched by name. A file that cannot be read (wrong type, corrupt, a missing or mistyped column,
    not UTF-8, no good row) is moved to `landing/quarantine/<feed>/<drop>/` beside
    `<file>.reason.txt`; a file with some bad rows (no store, item or date; a date outside the
    configured window; units missing, negative, infinite or implausible) has its good rows
    ingested and its bad rows listed, with what is wrong with each, in
    `landing/quarantine/<feed>/<drop>/<file>.<version>.rejected.csv`. New store-items become
    `store_item` partitions in one bulk call. Nothing is published unless every step succeeds.
    """
    session = spark.spark_session
    with lake.lock(layout.INGEST_LOCK):
        feeds = [ingest_feed(session, lake, feed, config.rules(feed), context.run_id, context.log.warning)
                 for feed in landing.FEEDS]
        sales, calendar = feeds
        if sales.version is None:
            raise dg.Failure(f"no readable sales files under {lake.landing_uri(landing.SALES.name)}/<drop>/ "
                             f"({len(sales.quarantined)} quarantined)")
        stats = table_stats(session, lake, layout.RAW_SALES, sales.version)
        keys = encode_keys(stats["pairs"]["store_id"], stats["pairs"]["item_id"])
        new_keys = add_store_items(context.instance, keys)
        calendar_stats = table_stats(session, lake, layout.RAW_CALENDAR, calendar.version) if calendar.version else None
        for feed in feeds:
            for move in feed.finish:
                move()
            if feed.version:
                lake.publish(layout.FEED_TABLES[feed.feed], feed.version)

    quarantined = pd.DataFrame([q for f in feeds for q in f.quarantined], columns=["file", "reason"])
    rejected = pd.DataFrame([r for f in feeds for r in f.rejected], columns=["file", "rows", "first"])
    return dg.MaterializeResult(metadata={
        "rows": stats["rows"],
        "rows_read": sales.rows_read,
        "duplicates_dropped": sales.rows_read - stats["rows"],
        "conflicting_rows": sales.conflicts,
        "rows_rejected": sales.rows_rejected + calendar.rows_rejected,
        "drops": sales.drops,
        "files_read": sales.files_read,
        "files_quarantined": len(quarantined),
        "quarantined": table(quarantined) if len(quarantined) else dg.MetadataValue.text("none"),
        "files_with_rejected_rows": table(rejected) if len(rejected) else dg.MetadataValue.text("none"),
        "store_items": len(keys),
        "new_store_items": len(new_keys),
        "first_date": str(stats["first"]),
        "last_date": str(stats["last"]),
        "calendar_rows": calendar_stats["rows"] if calendar_stats else 0,
        "calendar_until": str(calendar_stats["last"]) if calendar_stats else "no calendar",
        "version": sales.version,
        "path": dg.MetadataValue.path(lake.uri(layout.RAW_SALES, sales.version)),
    })
