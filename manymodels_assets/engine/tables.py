"""Versioned lake tables written by Spark: a new version folder per write, made current atomically.

Every write that reads the current version to build the next one holds the table's lake lock
(:meth:`LakeResource.lock`), so two runs on different store-items cannot lose each other's rows.
"""
from __future__ import annotations

from collections.abc import Callable

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F


def is_connect(spark: SparkSession) -> bool:
    """A Spark Connect session (no SparkContext, RDDs or JVM handles on the client)."""
    return type(spark).__module__.startswith("pyspark.sql.connect")


class SparkCannotReachLake(RuntimeError):
    """Spark's runtime has no connector for the lake's storage."""


_CONNECTORS = {"abfs": "org.apache.hadoop.fs.azurebfs.SecureAzureBlobFileSystem",
               "abfss": "org.apache.hadoop.fs.azurebfs.SecureAzureBlobFileSystem",
               "az": "org.apache.hadoop.fs.azurebfs.SecureAzureBlobFileSystem"}
_checked: set[tuple[int, str]] = set()


def ensure_reachable(spark: SparkSession, lake) -> None:
    """Fail with one clear sentence, not a Java stack trace, when Spark cannot read the lake."""
    proto = lake.root.split("://", 1)[0] if not lake.is_local else "file"
    if proto not in _CONNECTORS or (id(spark), lake.root) in _checked:
        return
    jvm = getattr(spark, "_jvm", None)
    if jvm is not None:  # a classic session: ask the driver's JVM for the connector class
        try:
            jvm.java.lang.Class.forName(_CONNECTORS[proto])
        except Exception as exc:  # noqa: BLE001 - py4j wraps the ClassNotFoundException
            if "ClassNotFoundException" not in str(exc):
                raise
            raise _cannot_reach(lake) from None
    else:  # Spark Connect: the server's classpath is not visible here; have the server plan a read
        from pyspark.errors import PySparkException

        try:
            spark.read.format("binaryFile").load(lake.spark_uri(_PROBE)).limit(0).collect()
        except PySparkException as exc:
            if any(sign in str(exc) for sign in _NO_CONNECTOR):
                raise _cannot_reach(lake) from None
            # anything else (the probe folder does not exist, ...) is for the real read to report
    _checked.add((id(spark), lake.root))


_PROBE = "_probe"
_NO_CONNECTOR = ("No FileSystem for scheme", "ClassNotFoundException", "AzureBlobFileSystem not found")


def _cannot_reach(lake) -> SparkCannotReachLake:
    return SparkCannotReachLake(
        f"Spark cannot read the lake at {lake.root}: this Spark runtime has no hadoop-azure (ABFS) "
        "connector. Run on a runtime that has it (Databricks, Synapse Spark), add it "
        "(spark.jars.packages org.apache.hadoop:hadoop-azure), or put the lake on a path Spark "
        "can read and keep only the landing zone on ADLS (MANYMODELS_LANDING_ROOT).")


def read_current(spark: SparkSession, lake, table: str) -> DataFrame | None:
    ensure_reachable(spark, lake)
    version = lake.current_version(table)
    return spark.read.parquet(lake.spark_uri(table, version)) if version else None


def keys_frame(spark: SparkSession, keys: list[str]) -> DataFrame:
    return spark.createDataFrame([(k,) for k in keys], "key string")


def only_keys(df: DataFrame, keys: DataFrame) -> DataFrame:
    return df.join(F.broadcast(keys), "key", "inner")


def stage_version(lake, table: str, df: DataFrame, run_id: str, partition_by=("key",), sort_by=("key",)) -> str:
    """Write ``df`` as a new version folder of ``table`` without making it current; returns the version.

    Rows of one series land in one file, sorted, so a reader of a few series touches few files.
    """
    ensure_reachable(spark_of(df), lake)
    version = lake.new_version(table, run_id)
    (df.repartition(*partition_by).sortWithinPartitions(*sort_by)
       # "error" (= errorifexists): the only spelling Spark Connect's client accepts too
       .write.mode("error").parquet(lake.spark_uri(table, version)))
    return version


def replace_keys(spark: SparkSession, lake, table: str, new_rows: DataFrame, keys: DataFrame, run_id: str,
                 sort_by=("key",), check: Callable[[DataFrame | None], None] | None = None,
                 live: Callable[[], DataFrame] | None = None) -> str:
    """New current version of ``table``: its current rows for other keys plus ``new_rows`` for ``keys``.

    Rerunning with the same input gives the same table: rows of the rerun keys are replaced.
    With ``live`` (returns a ``key`` column, called under the lock: a key added since this run
    started may already have rows from a run that published first), rows of keys outside it are
    dropped: keys that were retired.
    Holds the table's lock from reading the current version to publishing the next; ``check``
    sees that current version (without the retired keys) under the lock (a run started beside
    this one cannot slip past it) and raises to write nothing.
    """
    with lake.lock(table):
        current = read_current(spark, lake, table)
        if current is not None and live is not None:
            current = current.join(live().select("key"), "key", "left_semi")
        if check is not None:
            check(current)
        merged = new_rows
        if current is not None:
            # allowMissingColumns: a version written before a column was added still merges (as nulls)
            kept = current.join(F.broadcast(keys), "key", "left_anti")
            merged = kept.unionByName(new_rows, allowMissingColumns=True)
        version = stage_version(lake, table, merged, run_id, sort_by=sort_by)
        lake.publish(table, version)
    return version


def spark_of(df: DataFrame) -> SparkSession:
    return df.sparkSession
