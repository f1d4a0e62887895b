"""``raw_sales``: every landing drop merged, typed and de-duplicated."""

import dagster as dg
import pandas as pd
from manymodels_assets.resources.spark import SparkResource
from pyspark.sql import functions as F

from manymodels_assets import landing
from manymodels_assets.assets.common import RAW_TABLE, table
from manymodels_assets.engine.ingest import bad_rows_by_file, latest_drop_wins, read_landing
from manymodels_assets.engine.tables import write_version
from manymodels_assets.forecasting.keys import encode_key
from manymodels_assets.partitions import add_store_items
from manymodels_assets.resources.lake import LakeResource


@dg.asset(group_name="ingest", kinds={"spark", "parquet"})
def raw_sales(context: dg.AssetExecutionContext, spark: SparkResource, lake: LakeResource) -> dg.MaterializeResult:
    """All sales from the landing zone (`landing/sales/<drop>/`), typed and de-duplicated.

    Columns: store_id, item_id, date, units, price, promo, drop. When the same store, item and
    date arrive in several drops, the latest drop wins. A file whose columns are missing or of
    the wrong type, or that has rows without store, item, date or non-negative units, is moved
    to `landing/quarantine/<drop>/` beside `<file>.reason.txt`; the other files flow on.
    New store-items are added as `store_item` partitions in one bulk call.
    """
    fs, landing_dir = lake.fs, lake.uri("landing")
    files = landing.list_files(fs, landing_dir)
    readable, quarantined = [], []
    for f in files:
        types, reason = landing.inspect_file(fs, f)
        if reason:
            quarantined.append((f, reason))
        else:
            readable.append((f, types))
    for f, reason in quarantined:
        landing.quarantine(fs, landing_dir, f, reason)
        context.log.warning(f"quarantined {f.drop}/{f.name}: {reason}")
    if not readable:
        raise dg.Failure(f"no readable sales files under {landing_dir}/sales/<drop>/ "
                         f"({len(quarantined)} quarantined)")

    session = spark.spark_session
    by_name = {f"{f.drop}/{f.name}": f for f, _ in readable}
    typed = read_landing(session, [(lake.spark_path(f.path), f.fmt, t) for f, t in readable])
    bad = bad_rows_by_file(typed)
    good = typed.where(~F.col("file").isin(list(bad))) if bad else typed
    # Quarantine rows-check failures only after the write: Spark reads the files lazily.
    version = write_version(lake, RAW_TABLE, latest_drop_wins(good), context.run_id,
                            partition_by=("store_id", "item_id"), sort_by=("store_id", "item_id", "date"))
    for name, (n, example) in bad.items():
        reason = (f"{n} row(s) fail the row check (store_id and item_id non-empty, date a date, "
                  f"units a non-negative number); first: {example}")
        landing.quarantine(fs, landing_dir, by_name[name], reason)
        quarantined.append((by_name[name], reason))
        context.log.warning(f"quarantined {name}: {reason}")

    raw = session.read.parquet(lake.spark_uri(RAW_TABLE, version))
    stats = raw.agg(F.count(F.lit(1)).alias("rows"), F.min("date").alias("first"), F.max("date").alias("last")).first()
    read_rows = good.count()
    pairs = raw.select("store_id", "item_id").distinct().orderBy("store_id", "item_id").toPandas()
    keys = [encode_key(s, i) for s, i in zip(pairs["store_id"], pairs["item_id"])]
    new_keys = add_store_items(context.instance, keys)

    q = pd.DataFrame([{"file": f"{f.drop}/{f.name}", "reason": r} for f, r in quarantined], columns=["file", "reason"])
    return dg.MaterializeResult(metadata={
        "rows": int(stats["rows"]),
        "rows_read": read_rows,
        "duplicates_dropped": read_rows - int(stats["rows"]),
        "drops": len({f.drop for f, _ in readable}),
        "files_read": len(readable) - len(bad),
        "files_quarantined": len(quarantined),
        "quarantined": table(q) if len(q) else dg.MetadataValue.text("none"),
        "store_items": len(keys),
        "new_store_items": len(new_keys),
        "first_date": str(stats["first"]),
        "last_date": str(stats["last"]),
        "version": version,
        "path": dg.MetadataValue.path(lake.uri(RAW_TABLE, version)),
    })

