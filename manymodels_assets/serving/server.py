"""The process: settings -> lake, production registry, store -> FastAPI app -> uvicorn.

It reads the pipeline's own MANYMODELS_* settings and builds the lake and the production
registry with the pipeline's ``build_resources``, so it serves what the pipeline promoted.
"""
from __future__ import annotations

import logging
import os

from manymodels_assets.serving.config import ServingConfig
from manymodels_assets.serving.production import ProductionFollower, resolve_alias
from manymodels_assets.serving.store import ModelStore

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8000


def build_app(settings=None):
    from manymodels_assets import layout
    from manymodels_assets.definitions import build_resources
    from manymodels_assets.serving.api import create_app
    from manymodels_assets.settings import Settings

    settings = settings or Settings.from_env()
    config = ServingConfig.from_settings(settings)
    resources = build_resources(settings)
    # Outside a Dagster run resources are initialised by hand; this also resolves their EnvVar secrets.
    lake = resources["lake"].process_config_and_initialize()
    registry = resources["production_registry"].process_config_and_initialize()
    follower = ProductionFollower(lambda: resolve_alias(registry), lambda name: lake.uri(layout.model_set(name)),
                                  lake.fs)
    return create_app(ModelStore(follower, config.cache_bytes), config)


def run(host: str = DEFAULT_HOST, port: int = DEFAULT_PORT, access_log: bool = False) -> None:
    import uvicorn

    # MLflow's HTTP client retries for minutes by default: a poll should fail fast and retry on
    # the next tick instead. Set before the client is created; explicit values win.
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "1")
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "5")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # One process, one event loop: the cache and the set's index are per process, so more
    # workers would multiply memory; scale out with replicas instead.
    uvicorn.run(build_app(), host=host, port=port, access_log=access_log, log_level="info",
                timeout_graceful_shutdown=20)
