"""Model sets in the lake: write one atomically, read one."""
from __future__ import annotations

from pyspark.sql import DataFrame, SparkSession

from manymodels_assets import layout
from manymodels_assets.model_set_index import ROW_GROUP_BYTES, write_index


def write_model_set(lake, rows: DataFrame, model_set: str) -> str:
    """Write a model set and its key index under a staging name, then rename it into place:
    complete or invisible. Small row groups let a reader load one series' model cheaply."""
    staging = layout.model_set_staging(model_set)
    (rows.repartition("key").sortWithinPartitions("key").write.mode("overwrite")
         .option("parquet.block.size", ROW_GROUP_BYTES).parquet(lake.spark_uri(staging)))
    write_index(lake.fs, lake.uri(staging))
    lake.move_into_place(staging, layout.model_set(model_set))
    return lake.uri(layout.model_set(model_set))


def read_model_set(spark: SparkSession, lake, model_set: str) -> DataFrame:
    return spark.read.parquet(lake.spark_uri(layout.model_set(model_set)))


def with_models(spark: SparkSession, lake, rows: DataFrame) -> DataFrame:
    """``rows`` with the model bytes of rows carried over by reference (null ``model``) filled in
    from the model set that trained them (``model_set``)."""
    from pyspark.sql import functions as F

    origins = [r["model_set"] for r in rows.where(F.col("model").isNull() & F.col("model_set").isNotNull())
               .select("model_set").distinct().collect()]
    if not origins:
        return rows
    parts = [read_model_set(spark, lake, o).where(F.col("model").isNotNull())
             .select("key", "model_set", F.col("model").alias("_origin_model")) for o in origins]
    origin = parts[0]
    for part in parts[1:]:
        origin = origin.unionByName(part)
    return (rows.join(origin, ["key", "model_set"], "left")
                .withColumn("model", F.coalesce(F.col("model"), F.col("_origin_model"))).drop("_origin_model"))
