"""The one settings source: environment variables prefixed ``MANYMODELS_``.

Unset variables fall back to embedded defaults that need no server (a folder under
MANYMODELS_HOME for the lake, sqlite files for MLflow, a SQLite file through the SQLite3
ODBC driver for the warehouse, Spark ``local[*]``). Production is reached by setting them:
see README "Configuration". Only :func:`Settings.from_env` reads the environment.
"""
from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Optional

PREFIX = "MANYMODELS_"
SECRET_VARIABLES = ("MANYMODELS_WAREHOUSE_ODBC", "MANYMODELS_LAKE_CONNECTION_STRING", "MANYMODELS_SERVING_API_KEY",
                    "MANYMODELS_WAREHOUSE_COPY_SECRET", "MANYMODELS_LAKE_ACCOUNT_KEY", "MANYMODELS_LAKE_SAS_TOKEN",
                    "MANYMODELS_SPARK_REMOTE")
"""Variables that may hold a secret (a Databricks Spark Connect URL carries a token): resources take
them as ``dg.EnvVar`` by name, so their values never show in the UI or a log."""


def redacted(url: str | None) -> str | None:
    """A URL or connection string fit to show: a password in ``user:password@`` and the values of
    token, key, password, secret and signature parameters are masked."""
    if not url:
        return url
    url = re.sub(r"(//[^/:@;]+):[^@/;]*@", r"\1:***@", url)
    return re.sub(r"(?i)\b(token|key|accountkey|password|pwd|secret|sig|sharedaccesssignature)=([^;&]+)",
                  r"\1=***", url)


@dataclass(frozen=True)
class Settings:
    home: str
    lake_root: str
    lake_account_name: Optional[str]
    lake_connection_string_set: bool
    spark_master: str
    spark_remote: Optional[str]
    spark_driver_memory: str
    training_tracking_uri: str
    production_tracking_uri: str
    warehouse_odbc_set: bool
    warehouse_dialect: str
    warehouse_default_odbc: str
    # real-time scoring (manymodels serve); defaults keep `Settings(...)` calls elsewhere valid
    serving_cache_bytes: int = 512 * 2**20
    serving_max_horizon: int = 366
    serving_max_batch: int = 1000
    serving_alias_ttl_seconds: float = 5.0
    serving_api_key_set: bool = False
    # Synapse COPY INTO: how it reads the staged parquet (managed_identity | sas | account_key | aad)
    warehouse_copy_credential: str = "managed_identity"
    warehouse_copy_secret_set: bool = False
    # the landing zone when it lies elsewhere than <lake>/landing; Azure secrets (only whether set)
    landing_root: Optional[str] = None
    lake_account_key_set: bool = False
    lake_sas_token_set: bool = False
    sensor_interval_seconds: int = 60
    # a run-config file whose values become the assets' config defaults (assets/run_defaults.py)
    run_config_file: Optional[str] = None

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> "Settings":
        def get(name: str, default: Optional[str] = None) -> Optional[str]:
            value = env.get(PREFIX + name, "").strip()
            return value or default

        home = os.path.abspath(get("HOME", ".manymodels"))
        odbc = env.get("MANYMODELS_WAREHOUSE_ODBC", "")
        lowered = odbc.lower()  # the dialect the connection string's driver or server names
        default_dialect = ("postgresql" if "postgres" in lowered else
                           "synapse" if any(w in lowered for w in ("sql server", "msodbcsql", "synapse")) else "sqlite")
        return cls(
            home=home,
            lake_root=get("LAKE_ROOT", os.path.join(home, "lake")),
            lake_account_name=get("LAKE_ACCOUNT_NAME"),
            lake_connection_string_set=bool(env.get("MANYMODELS_LAKE_CONNECTION_STRING")),
            spark_master=get("SPARK_MASTER", "local[*]"),
            spark_remote=get("SPARK_REMOTE"),
            spark_driver_memory=get("SPARK_DRIVER_MEMORY", "4g"),
            training_tracking_uri=get("TRAINING_TRACKING_URI", f"sqlite:///{home}/mlflow/training.db"),
            production_tracking_uri=get("PRODUCTION_TRACKING_URI", f"sqlite:///{home}/mlflow/production.db"),
            warehouse_odbc_set=bool(odbc),
            warehouse_dialect=get("WAREHOUSE_DIALECT", default_dialect),
            warehouse_default_odbc=f"Driver={{SQLite3}};Database={home}/warehouse/forecasts.db",
            serving_cache_bytes=int(get("SERVING_CACHE_BYTES", str(512 * 2**20))),
            serving_max_horizon=int(get("SERVING_MAX_HORIZON", "366")),
            serving_max_batch=int(get("SERVING_MAX_BATCH", "1000")),
            serving_alias_ttl_seconds=float(get("SERVING_ALIAS_TTL_SECONDS", "5")),
            serving_api_key_set=bool(env.get("MANYMODELS_SERVING_API_KEY")),
            warehouse_copy_credential=get("WAREHOUSE_COPY_CREDENTIAL", "managed_identity"),
            warehouse_copy_secret_set=bool(env.get("MANYMODELS_WAREHOUSE_COPY_SECRET")),
            landing_root=get("LANDING_ROOT"),
            lake_account_key_set=bool(env.get("MANYMODELS_LAKE_ACCOUNT_KEY")),
            lake_sas_token_set=bool(env.get("MANYMODELS_LAKE_SAS_TOKEN")),
            sensor_interval_seconds=int(get("SENSOR_INTERVAL_SECONDS", "60")),
            run_config_file=get("RUN_CONFIG"),
        )

    def local_folders(self) -> list[str]:
        """Folders the embedded defaults write into (created before first use)."""
        folders = [os.path.join(self.home, "mlflow"), os.path.join(self.home, "warehouse")]
        if "://" not in self.lake_root:
            folders.append(self.lake_root)
        return folders
