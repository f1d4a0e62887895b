"""The HTTP shell: routes, error mapping, API-key check, the alias poller. No forecasting here.

Status codes: 404 unknown store-item, 422 malformed input or a limit exceeded, 503 registry or
lake unreachable or nothing in production (with Retry-After), 401 a missing or wrong API key.
An unexpected exception is logged, server-side, and answered with a bare 500.
"""

import asyncio
import contextlib
import hmac
import json
import logging
from importlib.metadata import PackageNotFoundError, version
from typing import Annotated, Any
from urllib.parse import unquote_to_bytes

from fastapi import Depends, FastAPI, Path, Request, Security
from fastapi.encoders import jsonable_encoder
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import HTTPException, RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi.security import APIKeyHeader
from pydantic import TypeAdapter, ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from manymodels_assets.serving.config import ServingConfig
from manymodels_assets.serving.errors import SeriesNotFound, ServiceUnavailable
from manymodels_assets.serving.schemas import (BatchForecastResponse, ErrorBody, ForecastResponse, Health, Id,
                                               ModelInfo, request_models)
from manymodels_assets.serving.store import ModelStore

log = logging.getLogger(__name__)

API_KEY_HEADER = "X-API-Key"
_ERRORS = {404: {"model": ErrorBody, "description": "no model for this store-item in the production set"},
           503: {"model": ErrorBody, "description": "registry or lake unreachable, or no production set"}}
_AUTH_ERROR = {401: {"model": ErrorBody, "description": f"missing or wrong {API_KEY_HEADER} header"}}
_ID = TypeAdapter(Id)
INTERNAL_ERROR = "internal error; the server log has the details"


class RawModelPath:
    """Route ``/models/{store_id}/{item_id}`` on the path as sent, still percent-encoded.

    The server hands routing a decoded path, where an id holding ``/`` (sent as ``%2F``) would
    look like two segments; the handler decodes each segment itself.
    """

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http" and scope.get("raw_path", b"").startswith(b"/models/"):
            scope = dict(scope, path=scope["raw_path"].decode("latin-1"))
        await self.app(scope, receive, send)


class BareServerError:
    """An unexpected exception: logged here with its traceback, answered with a bare 500.

    Not an ``exception_handler(Exception)``: Starlette re-raises after such a handler, and the
    server then drops the keep-alive connection under the client's next request.
    """

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        started = False

        async def tracked(message):
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, tracked)
        except Exception:  # the one place that turns any bug into a response
            log.exception("unexpected error on %s %s", scope.get("method"), scope.get("path"))
            if started:
                raise
            await JSONResponse({"detail": INTERNAL_ERROR}, status_code=500)(scope, receive, send)


def _path_id(raw: str, name: str) -> str:
    try:
        return _ID.validate_python(unquote_to_bytes(raw.encode("latin-1")).decode("utf-8"))
    except UnicodeDecodeError:
        raise RequestValidationError([{"type": "value_error", "loc": ("path", name), "input": raw,
                                       "msg": "not percent-encoded UTF-8"}]) from None
    except ValidationError as exc:
        raise RequestValidationError([{**e, "loc": ("path", name)} for e in exc.errors()]) from None


def _service_version() -> str:
    try:
        return version("manymodels_assets")
    except PackageNotFoundError:
        return "0"


def create_app(store: ModelStore, config: ServingConfig) -> FastAPI:
    ForecastRequest, BatchForecastRequest = request_models(config.max_horizon, config.max_batch)
    retry_after = {"Retry-After": str(max(1, round(config.alias_ttl_seconds)))}

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI):
        await run_in_threadpool(store.follower.refresh)  # the alias and the set's index; no model
        poller = asyncio.create_task(_follow_alias(store, config.alias_ttl_seconds))
        yield
        poller.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await poller

    app = FastAPI(title="manymodels real-time scoring", version=_service_version(), lifespan=lifespan,
                  description="Forecasts for any store-item from the production model set; models load on "
                              "demand into a cache bounded by bytes.")
    app.add_middleware(RawModelPath)
    app.add_middleware(BareServerError)
    guarded = [Depends(_api_key_check(config.api_key))] if config.api_key else []
    auth_errors = _AUTH_ERROR if config.api_key else {}

    @app.exception_handler(SeriesNotFound)
    async def not_found(request: Request, exc: SeriesNotFound):
        return JSONResponse({"detail": str(exc)}, status_code=404)

    @app.exception_handler(ServiceUnavailable)
    async def unavailable(request: Request, exc: ServiceUnavailable):
        return JSONResponse({"detail": str(exc)}, status_code=503, headers=retry_after)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException):
        if exc.status_code == 400:  # only the framework says 400 here: a body it could not parse
            return JSONResponse({"detail": [{"type": "json_invalid", "loc": ["body"], "msg": str(exc.detail)}]},
                                status_code=422)
        return await http_exception_handler(request, exc)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError):
        # FastAPI's own handler echoes the input as UTF-8 and fails (500) on a lone surrogate;
        # ASCII-escaped JSON carries any input.
        body = json.dumps({"detail": jsonable_encoder(exc.errors())}, ensure_ascii=True, default=str)
        return Response(body, status_code=422, media_type="application/json")

    @app.post("/forecast", response_model=ForecastResponse, responses={**_ERRORS, **auth_errors},
              dependencies=guarded, summary="Forecast one store-item")
    async def forecast(request: ForecastRequest) -> Any:  # type: ignore[valid-type]
        production = store.current()
        # Warm path on the event loop (a cache lookup and a slice); loading a model goes to a thread.
        found = store.cached_forecast(production, request.store_id, request.item_id, request.horizon)
        if found is None:
            found = await run_in_threadpool(store.forecast, production, request.store_id, request.item_id,
                                            request.horizon, True)
        return found.body()

    @app.post("/forecast/batch", response_model=BatchForecastResponse, responses={503: _ERRORS[503], **auth_errors},
              dependencies=guarded, summary="Forecast many store-items from one production set")
    async def forecast_batch(request: BatchForecastRequest) -> Any:  # type: ignore[valid-type]
        production = store.current()
        return await run_in_threadpool(_batch, store, production, request.items)

    @app.get("/models/{store_id}/{item_id}", response_model=ModelInfo, responses={**_ERRORS, **auth_errors},
             dependencies=guarded, summary="The production model of one store-item")
    async def model_info(store_id: Annotated[str, Path(description="percent-encoded id", examples=["S0001"])],
                         item_id: Annotated[str, Path(description="percent-encoded id", examples=["I00001"])]
                         ) -> Any:
        store_id, item_id = _path_id(store_id, "store_id"), _path_id(item_id, "item_id")
        production = store.current()
        return await run_in_threadpool(store.model_info, production, store_id, item_id)

    @app.get("/health", response_model=Health, responses={503: {"model": Health}},
             summary="Ready: a production set is loaded and the last alias poll succeeded")
    async def health() -> Any:
        return _health(store)

    @app.get("/health/live", summary="Alive: the process answers (no registry or lake call)")
    async def live() -> dict[str, str]:
        return {"status": "alive"}

    return app


def _api_key_check(expected: str):
    header = APIKeyHeader(name=API_KEY_HEADER, auto_error=False)
    wanted = expected.encode()

    def check(given: Annotated[str | None, Security(header)] = None) -> None:
        # Header values arrive as bytes decoded as latin-1: encoding back gives the bytes sent.
        if given is None or not hmac.compare_digest(given.encode("latin-1"), wanted):
            raise HTTPException(401, f"missing or wrong {API_KEY_HEADER} header",
                                headers={"WWW-Authenticate": API_KEY_HEADER})

    return check


def _batch(store: ModelStore, production, items) -> dict[str, Any]:
    forecasts, not_found = [], []
    for item in items:
        try:
            forecasts.append(store.forecast(production, item.store_id, item.item_id, item.horizon).body())
        except SeriesNotFound as exc:
            not_found.append({"store_id": item.store_id, "item_id": item.item_id, "detail": str(exc)})
    return {"production_set": production.name, "production_version": production.version,
            "forecasts": forecasts, "not_found": not_found}


def _health(store: ModelStore) -> JSONResponse:
    current, error = store.follower.status()
    body = Health(status="unavailable" if error else "ok", detail=str(error) if error else None,
                  production_set=current.name if current else None,
                  production_version=current.version if current else None,
                  series=len(current.reader) if current else None, checked_at=store.follower.checked_at,
                  cache=store.stats().__dict__)
    return JSONResponse(body.model_dump(mode="json"), status_code=503 if error else 200)


async def _follow_alias(store: ModelStore, every_seconds: float) -> None:
    while True:
        await asyncio.sleep(every_seconds)
        try:
            await run_in_threadpool(store.follower.refresh)
        except Exception:  # a bug in one poll must not stop alias following for the process's life
            log.exception("polling the production alias failed")
