import os

# Spark workers must run this interpreter; one BLAS thread per worker (see resources/spark.py).
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
# The suite tests the built-in defaults: a deployment's own (read when manymodels_assets is
# imported) must not leak in from the shell that runs it.
os.environ.pop("MANYMODELS_RUN_CONFIG", None)
