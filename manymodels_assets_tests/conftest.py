import os

# Spark workers must run this interpreter; one BLAS thread per worker (see resources/spark.py).
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
