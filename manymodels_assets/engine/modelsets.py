"""Model sets in the lake: write one atomically, read one, compose the production set."""
from __future__ import annotations

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

MODELS_DIR = "models"


def write_model_set(lake, rows: DataFrame, model_set: str) -> str:
    """Write a model set under a staging name, then rename it into place: complete or invisible."""
    staging = f"{MODELS_DIR}/_incomplete/{model_set}"
    rows.repartition("key").sortWithinPartitions("key").write.mode("overwrite").parquet(lake.spark_uri(staging))
    lake.move_into_place(staging, f"{MODELS_DIR}/{model_set}")
    return lake.uri(MODELS_DIR, model_set)


def read_model_set(spark: SparkSession, lake, model_set: str) -> DataFrame:
    return spark.read.parquet(lake.spark_uri(MODELS_DIR, model_set))


def compose_production_set(new_rows: DataFrame, current_rows: DataFrame | None, deploy: DataFrame) -> DataFrame:
    """The new models of the ``deploy`` keys, and the current production model of every other key."""
    rows = new_rows.join(F.broadcast(deploy), "key")
    if current_rows is None:
        return rows
    # allowMissingColumns: a production set written before a column was added still merges
    return current_rows.join(F.broadcast(deploy), "key", "left_anti").unionByName(rows, allowMissingColumns=True)
