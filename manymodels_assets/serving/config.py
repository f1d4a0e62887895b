"""The service's typed configuration, from the pipeline's settings (MANYMODELS_SERVING_*)."""
from __future__ import annotations

from dataclasses import dataclass, field

API_KEY_VARIABLE = "MANYMODELS_SERVING_API_KEY"


@dataclass(frozen=True)
class ServingConfig:
    cache_bytes: int = 512 * 2**20
    max_horizon: int = 366
    max_batch: int = 1000
    alias_ttl_seconds: float = 5.0
    api_key: str | None = field(default=None, repr=False)  # a secret: never in a repr or a log line

    def __post_init__(self):
        if self.max_horizon < 1 or self.max_batch < 1:
            raise ValueError("max_horizon and max_batch must be >= 1")
        if self.alias_ttl_seconds <= 0:
            raise ValueError("alias_ttl_seconds must be > 0")

    @classmethod
    def from_settings(cls, settings) -> "ServingConfig":
        api_key = None
        if settings.serving_api_key_set:
            import dagster as dg

            # Read like the pipeline's other secrets: Settings only records that it is set.
            api_key = dg.EnvVar(API_KEY_VARIABLE).get_value()
        return cls(cache_bytes=settings.serving_cache_bytes, max_horizon=settings.serving_max_horizon,
                   max_batch=settings.serving_max_batch, alias_ttl_seconds=settings.serving_alias_ttl_seconds,
                   api_key=api_key)
