"""Following the production alias: which model set serves, switched without a restart.

A poller calls :meth:`ProductionFollower.refresh` every few seconds. When the alias has moved,
the new set's key index is loaded first and the switch is one reference assignment, so a
request sees either the old set or the new one, whole. A request takes a :class:`ProductionSet`
once, at its start, and does all its work on it: requests in flight finish on their set.
"""
from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from dataclasses import dataclass
from typing import Callable

from manymodels_assets.aliases import PRODUCTION
from manymodels_assets.serving.errors import (LAKE_ERRORS, LakeUnavailable, NoProductionSet, RegistryUnavailable,
                                              ServiceUnavailable)
from manymodels_assets.model_set_index import ModelSetReader, load_index

log = logging.getLogger(__name__)

# MLflow's answers when the registry works but has no such model or alias.
_NOT_FOUND_CODES = ("RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE")


@dataclass(frozen=True)
class AliasTarget:
    version: str
    model_set: str
    registered_at: dt.datetime | None


@dataclass(frozen=True)
class ProductionSet:
    name: str
    version: str
    registered_at: dt.datetime | None
    directory: str
    reader: ModelSetReader


def resolve_alias(registry, alias: str = PRODUCTION) -> AliasTarget:
    """The model set the registry's alias points at.

    Not ``ModelRegistryResource.version_by_alias``: that answers None for every failure, and
    here "no alias" (503, nothing to serve) and "registry down" (503, retry) must be told
    apart from a bug (500).
    """
    import requests
    from mlflow.exceptions import MlflowException

    try:
        version = registry.client.get_model_version_by_alias(registry.model_name, alias)
    except MlflowException as exc:
        if exc.error_code in _NOT_FOUND_CODES:
            raise NoProductionSet(f"no model version has the alias {alias!r} in {registry.model_name}") from None
        raise RegistryUnavailable(f"the production registry did not answer ({exc.error_code})") from exc
    except (requests.RequestException, OSError) as exc:
        raise RegistryUnavailable(f"the production registry did not answer ({type(exc).__name__})") from exc
    model_set = (version.tags or {}).get("model_set")
    if not model_set:
        raise NoProductionSet(f"{registry.model_name} v{version.version} (alias {alias!r}) has no model_set tag")
    ms = version.creation_timestamp
    registered = dt.datetime.fromtimestamp(ms / 1000, dt.timezone.utc) if ms else None
    return AliasTarget(str(version.version), model_set, registered)


class ProductionFollower:
    """Holds the current production set and the outcome of the last poll."""

    def __init__(self, resolve: Callable[[], AliasTarget], set_directory: Callable[[str], str], fs):
        self._resolve = resolve
        self._set_directory = set_directory
        self._fs = fs
        self._lock = threading.Lock()
        self._current: ProductionSet | None = None
        self._error: ServiceUnavailable | None = NoProductionSet("the production alias has not been read yet")
        self.checked_at: dt.datetime | None = None

    def refresh(self) -> None:
        """Poll the alias; load and switch to a new set. Failures are kept for requests to report."""
        try:
            target = self._resolve_retrying()
            current = self._current
            if current is None or (current.version, current.name) != (target.version, target.model_set):
                current = self._load(target)
                log.info("serving production set %s (v%s, %d series)", current.name, current.version,
                         len(current.reader))
            error = None
        except ServiceUnavailable as exc:
            current, error = self._current, exc
            log.warning("production set unavailable: %s", exc)
        with self._lock:
            self._current, self._error = current, error
            self.checked_at = dt.datetime.now(dt.timezone.utc)

    def _resolve_retrying(self) -> AliasTarget:
        # One quick second try: a sqlite registry is briefly locked while a promotion writes it.
        try:
            return self._resolve()
        except RegistryUnavailable:
            time.sleep(0.2)
            return self._resolve()

    def _load(self, target: AliasTarget) -> ProductionSet:
        directory = self._set_directory(target.model_set)
        try:
            index = load_index(self._fs, directory)
        except LAKE_ERRORS as exc:
            raise LakeUnavailable(f"production set {target.model_set} cannot be read from the lake "
                                  f"({type(exc).__name__})") from exc
        except ValueError as exc:  # a set with duplicate keys: serving it would be a guess
            raise NoProductionSet(f"production set {target.model_set} is unusable: {exc}") from exc
        return ProductionSet(target.model_set, target.version, target.registered_at, directory,
                             ModelSetReader(self._fs, directory, index))

    def current(self) -> ProductionSet:
        """The set a new request works on; raises ServiceUnavailable when there is none to trust."""
        with self._lock:
            current, error = self._current, self._error
        if error is not None:
            raise type(error)(str(error))  # a fresh instance per request: tracebacks are per raise
        assert current is not None
        return current

    def status(self) -> tuple[ProductionSet | None, ServiceUnavailable | None]:
        with self._lock:
            return self._current, self._error
