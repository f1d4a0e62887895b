"""Spark, through dagster-pyspark: ``local[*]`` by default, any master or Spark Connect by configuration."""
from __future__ import annotations

import os
import sys
from typing import Optional

from dagster_pyspark import LazyPySparkResource
from pydantic import ConfigDict


def spark_config(master: str = "local[*]", remote: bool = False, driver_memory: str = "4g",
                 shuffle_partitions: int = 8, extra: Optional[dict] = None) -> dict:
    """Spark settings for the many-models jobs.

    Executors run this venv's Python (else they miss pyarrow and sktime) with one BLAS thread
    each: with several Python workers per machine, multi-threaded BLAS made statsmodels 2.2x slower.
    """
    conf = {
        "spark.sql.session.timeZone": "UTC",
        "spark.sql.execution.arrow.pyspark.enabled": "true",
        "spark.sql.shuffle.partitions": str(shuffle_partitions),
        "spark.sql.parquet.outputTimestampType": "TIMESTAMP_MICROS",
    }
    if not remote:  # over Spark Connect the server's configuration holds these (docs/production.md)
        conf.update({
            "spark.ui.showConsoleProgress": "false",
            "spark.master": master,
            "spark.driver.memory": driver_memory,
            "spark.ui.enabled": "false",
        })
        if master.startswith("local"):
            # Keep a one-machine Spark on loopback instead of the first network interface.
            conf.update({"spark.driver.host": "127.0.0.1", "spark.driver.bindAddress": "127.0.0.1"})
        for var in ("OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "OMP_NUM_THREADS"):
            conf[f"spark.executorEnv.{var}"] = "1"
    conf.update(extra or {})
    return conf


class SparkResource(LazyPySparkResource):
    """Spark for the many-models jobs. The session starts on first use, so steps without Spark
    pay nothing. `spark_config` holds the Spark settings (master, memory, ...); `remote`, when set,
    is the Spark Connect server (its URL may carry a token, so it comes from
    MANYMODELS_SPARK_REMOTE by name and is not shown)."""

    model_config = ConfigDict(use_attribute_docstrings=True)

    remote: Optional[str] = None
    """A Spark Connect server, `sc://host:15002` (from MANYMODELS_SPARK_REMOTE by name, never shown)."""

    def _init_session(self) -> None:
        # pyspark picks the Python of its workers from PYSPARK_PYTHON only (spark.pyspark.python is
        # ignored by a driver started from Python); without it they miss this venv's packages.
        os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
        if str(self.spark_config.get("spark.master", "")).startswith("local"):
            # the one-machine Spark binds to loopback anyway (spark_config); said to its launcher too,
            # it stops warning that the hostname resolves to a loopback address
            os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
        if self.remote and self._spark_session is None:
            from dagster_pyspark.resources import spark_session_from_config

            self._spark_session = spark_session_from_config({**self.spark_config, "spark.remote": self.remote})
        super()._init_session()


def spark_resource(remote=None, **kwargs) -> SparkResource:
    """``remote``: a Spark Connect URL, or the ``dg.EnvVar`` naming it."""
    return SparkResource(spark_config=spark_config(remote=bool(remote), **kwargs), remote=remote)
