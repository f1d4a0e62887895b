import os

import pytest

# Spark workers must run this interpreter; one BLAS thread per worker (see resources/spark.py).
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
# The suite tests the built-in defaults: a deployment's own (read when manymodels_assets is
# imported) must not leak in from the shell that runs it.
os.environ.pop("MANYMODELS_RUN_CONFIG", None)


@pytest.fixture(scope="session")
def spark_remote(tmp_path_factory):
    """One Spark Connect server (local[2]) for the runs the tests start in processes of their own.

    A run in a new process would otherwise start a JVM and warm it up: about 10 s before its first
    Spark job, paid by each of the 30-odd such runs of the crash, concurrency and daemon tests.
    Through one warm server the same runs take half the time (the concurrency test measured 210 s
    against 99 s). What those tests check (locks, publishing, registries, the daemon) is the same
    on either kind of Spark; local mode keeps its own tests, and `test_production_targets` checks
    that both give identical results."""
    from manymodels_assets_tests.servers import spark_connect_server

    with spark_connect_server(tmp_path_factory.mktemp("spark-connect")) as (url, _):
        yield url
