"""The API's request and response bodies; they are the published OpenAPI schema."""

import datetime as dt
from typing import Annotated, Literal, Optional

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field

MAX_ID_LENGTH = 200


def _text(value: str) -> str:
    # JSON may carry lone surrogates ("\ud800"): valid escapes, but not text, so never a series key.
    value.encode("utf-8")
    return value


def _whole(value):
    # JSON Schema's "integer" includes 5.0; a bool or a string is not one (strict below).
    return int(value) if isinstance(value, float) and value.is_integer() else value


Id = Annotated[str, Field(min_length=1, max_length=MAX_ID_LENGTH, strict=True,
                          description="as in the sales data; any characters"), AfterValidator(_text)]


def request_models(max_horizon: int, max_batch: int) -> tuple[type[BaseModel], type[BaseModel]]:
    """(ForecastRequest, BatchForecastRequest) with the configured limits in their schema."""
    horizon_doc = f"steps to forecast, 1 to {max_horizon}; default: the horizon the model was trained for"

    class ForecastRequest(BaseModel):
        model_config = ConfigDict(extra="forbid", json_schema_extra={
            "examples": [{"store_id": "S0001", "item_id": "I00001", "horizon": 28}]})
        store_id: Id
        item_id: Id
        horizon: Optional[Annotated[int, Field(ge=1, le=max_horizon, strict=True), BeforeValidator(_whole)]] = Field(
            None, description=horizon_doc)

    class BatchForecastRequest(BaseModel):
        model_config = ConfigDict(extra="forbid")
        items: list[ForecastRequest] = Field(min_length=1, max_length=max_batch,
                                             description=f"1 to {max_batch} store-items")

    return ForecastRequest, BatchForecastRequest


class ForecastPoint(BaseModel):
    forecast_date: dt.date
    step: int
    yhat: Optional[float]
    yhat_lower: Optional[float] = Field(description="null when the interval is unbounded")
    yhat_upper: Optional[float] = Field(description="null when the interval is unbounded")


class ForecastResponse(BaseModel):
    store_id: str
    item_id: str
    model_set: str = Field(description="the model set the model was trained in")
    forecaster: Optional[str]
    status: Optional[str] = Field(description="the model's status: ok, cold_start, ...")
    production_set: str = Field(description="the production model set that served the request")
    production_version: str = Field(description="its version in the production registry")
    forecasts: list[ForecastPoint] = Field(description="fewer than asked when the model's planned calendar "
                                                       "ends sooner")


class NotFound(BaseModel):
    store_id: str
    item_id: str
    detail: str


class BatchForecastResponse(BaseModel):
    production_set: str
    production_version: str
    forecasts: list[ForecastResponse]
    not_found: list[NotFound]


class ModelInfo(BaseModel):
    store_id: str
    item_id: str
    key: str = Field(description="the series key (partition key) of the store-item")
    model_set: str
    production_set: str
    production_version: str
    forecaster: Optional[str]
    status: Optional[str]
    trained_at: Optional[dt.datetime] = Field(description="when the model was trained; for model sets without "
                                                          "that column, when the production version was registered")
    metrics: dict[str, Optional[float]] = Field(description="the chosen forecaster's backtest metrics")
    horizon: Optional[int]
    freq: Optional[str]
    last_date: Optional[dt.date]
    n_obs: Optional[int]
    model_bytes: int


class CacheInfo(BaseModel):
    entries: int
    bytes: int
    budget_bytes: int
    hits: int
    misses: int
    evictions: int


class Health(BaseModel):
    status: Literal["ok", "unavailable"]
    detail: Optional[str] = None
    production_set: Optional[str] = None
    production_version: Optional[str] = None
    series: Optional[int] = None
    checked_at: Optional[dt.datetime] = None
    cache: CacheInfo


class ErrorBody(BaseModel):
    detail: str
