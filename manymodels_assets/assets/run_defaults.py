"""The assets' configuration: documented in the launchpad, with a deployment's own defaults.

A team that settles on a choice (monthly series, its own candidates, a promotion margin) sets it
once in a run-config file named by ``MANYMODELS_RUN_CONFIG``, in the launchpad's own shape::

    ops:
      store_item_series:
        config: {freq: MS}
      trained_models:
        config: {candidates: [seasonal_naive, ets, auto_theta], horizon: 6}

Those values become the defaults of the assets' ``Config`` classes, so every way a run starts
gets them: the launchpad (pre-filled), the asset graph's Materialize, backfills, the schedules and
the sensors. A run's own config still wins, field by field (the weekly schedule's
``retrain: all`` keeps the file's candidates). Before this, schedules and sensors always ran the
built-in defaults, so a frequency set by hand went back to "auto" at the next 02:00 run.

The file is read when the code location loads; a bad one stops the load with an error that
names the file and the key, so a typo cannot quietly fall back to the built-in default.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Optional

import dagster as dg
import pydantic
import yaml

from manymodels_assets.settings import Settings


class RunConfigError(ValueError):
    """The deployment's run-config file is unreadable or names something that does not exist."""


class DocumentedConfig(dg.Config):
    """Base of the assets' configuration: each field's docstring is its help text in the launchpad."""
    model_config = pydantic.ConfigDict(use_attribute_docstrings=True)


def read_file(path: Optional[str]) -> dict[str, dict[str, Any]]:
    """The file's config per asset: ``{asset: {field: value}}`` (empty without a file)."""
    if not path:
        return {}
    try:
        with open(path, encoding="utf-8") as handle:
            document = yaml.safe_load(handle)
    except OSError as exc:
        raise RunConfigError(f"MANYMODELS_RUN_CONFIG: cannot read {path}: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        raise RunConfigError(f"MANYMODELS_RUN_CONFIG: {path} is not valid YAML: {exc}") from None
    return parse(document, path)


def parse(document: Any, source: str) -> dict[str, dict[str, Any]]:
    if document is None:
        return {}
    if not isinstance(document, Mapping):
        raise RunConfigError(f"{source}: expected a mapping with an `ops:` section, found {type(document).__name__}")
    extra = sorted(set(document) - {"ops"})
    if extra:
        raise RunConfigError(f"{source}: only `ops:` (the assets' config) belongs here, not {extra}; "
                             "resources are set by MANYMODELS_ variables")
    ops = document.get("ops") or {}
    if not isinstance(ops, Mapping):
        raise RunConfigError(f"{source}: `ops:` must map asset names to their config")
    defaults = {}
    for asset, entry in ops.items():
        if not isinstance(entry, Mapping) or set(entry) - {"config"}:
            raise RunConfigError(f"{source}: ops.{asset} must hold one key, `config:`")
        config = entry.get("config") or {}
        if not isinstance(config, Mapping):
            raise RunConfigError(f"{source}: ops.{asset}.config must map field names to values")
        defaults[str(asset)] = dict(config)
    return defaults


def with_defaults(cls: type[dg.Config], values: Mapping[str, Any], where: str) -> type[dg.Config]:
    """``cls`` with ``values`` as its fields' defaults (help texts kept), checked as a run would be:
    unknown fields and wrong types are refused, and so is what the class's ``check`` refuses (a
    horizon of 0, an unknown frequency): now, when the code location loads, not at 02:00."""
    if not values:
        return cls
    unknown = sorted(set(values) - set(cls.model_fields))
    if unknown:
        raise RunConfigError(f"{where}: no field {unknown} (fields: {sorted(cls.model_fields)})")
    try:
        checked = cls(**values)
        if hasattr(checked, "check"):
            checked.check()
    except (pydantic.ValidationError, ValueError, TypeError) as exc:
        raise RunConfigError(f"{where}: {exc}") from None
    fields = {name: (cls.model_fields[name].annotation,
                     pydantic.Field(default=getattr(checked, name), description=cls.model_fields[name].description))
              for name in values}
    return pydantic.create_model(cls.__name__, __base__=cls, __module__=cls.__module__, __doc__=cls.__doc__,
                                 **fields)


class RunDefaults:
    """The defaults of one deployment, handed out to the assets' config classes by asset name."""

    def __init__(self, defaults: Mapping[str, Mapping[str, Any]], source: str):
        self.defaults, self.source, self.claimed = defaults, source, set()

    def of(self, asset: str):
        """Class decorator: the config class of ``asset``, with this deployment's defaults."""
        def apply(cls):
            self.claimed.add(asset)
            return with_defaults(cls, self.defaults.get(asset, {}), f"{self.source}: ops.{asset}.config")
        return apply

    def check_all_used(self) -> None:
        """Refuses a file that configures an asset without configuration (a typo in its name)."""
        unknown = sorted(set(self.defaults) - self.claimed)
        if unknown:
            raise RunConfigError(f"{self.source}: no configurable asset {unknown} "
                                 f"(assets with config: {sorted(self.claimed)})")


_settings = Settings.from_env()
DEPLOYMENT = RunDefaults(read_file(_settings.run_config_file), _settings.run_config_file or "(no file)")
"""This code location's defaults (MANYMODELS_RUN_CONFIG), read once when it loads."""
