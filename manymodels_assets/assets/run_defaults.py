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

The file is read when the code location loads, and again by each run's own process (Dagster
starts runs in a fresh process that imports the code): an edit applies to the runs started after
it, and the launchpad shows it once the code location is reloaded. A bad file stops the load (or
the runs started after a bad edit) with an error that names the file and the key, so a typo
cannot quietly fall back to the built-in default.
"""
from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any, Optional

import dagster as dg
import pydantic
import yaml
from dagster._config import validate_config
from dagster._config.pythonic_config.config import infer_schema_from_config_class
from pydantic.fields import FieldInfo

from manymodels_assets.settings import Settings


class RunConfigError(ValueError):
    """The deployment's run-config file is unreadable or names something that does not exist."""


class DocumentedConfig(dg.Config):
    """Base of the assets' configuration: each field's docstring is its help text in the launchpad."""
    model_config = pydantic.ConfigDict(use_attribute_docstrings=True)

    def check(self) -> None:
        """Raises ValueError for values a run cannot use (the core's own checks); nothing by default."""

    def valid(self):
        """This config, or a run failure that names what the run cannot use."""
        try:
            self.check()
        except ValueError as exc:
            raise dg.Failure(str(exc)) from None
        return self


def read_file(path: Optional[str]) -> dict[str, dict[str, Any]]:
    """The file's config per asset: ``{asset: {field: value}}`` (empty without a file)."""
    if not path:
        return {}
    try:
        with open(path, encoding="utf-8") as handle:
            document = yaml.load(handle, Loader=_UniqueKeys)
    except OSError as exc:
        raise RunConfigError(f"MANYMODELS_RUN_CONFIG: cannot read {path}: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        raise RunConfigError(f"MANYMODELS_RUN_CONFIG: {path} is not valid YAML: {exc}") from None
    return parse(document, path)


class _UniqueKeys(yaml.SafeLoader):
    """YAML that refuses a key given twice (plain YAML keeps the last one, silently)."""

    def construct_mapping(self, node, deep=False):
        # merge keys (<<) are not keys: a key they bring in may be overridden, as in plain YAML
        keys = [self.construct_object(key, deep=deep) for key, _ in node.value
                if key.tag != "tag:yaml.org,2002:merge"]
        twice = sorted({str(k) for k in keys if keys.count(k) > 1})
        if twice:
            raise yaml.constructor.ConstructorError(None, None, f"{twice} given twice", node.start_mark)
        return super().construct_mapping(node, deep=deep)


def parse(document: Any, source: str) -> dict[str, dict[str, Any]]:
    """``{asset: {field: value}}`` from the file's document; an empty file or section is refused
    (a truncated file must not pass for "no defaults")."""
    if not isinstance(document, Mapping) or not document:
        found = "nothing" if document is None else type(document).__name__
        raise RunConfigError(f"{source}: expected a mapping with an `ops:` section, found {found} "
                             "(unset MANYMODELS_RUN_CONFIG for the built-in defaults)")
    extra = sorted(set(document) - {"ops"})
    if extra:
        raise RunConfigError(f"{source}: only `ops:` (the assets' config) belongs here, not {extra}; "
                             "resources are set by MANYMODELS_ variables")
    ops = document["ops"]
    if not isinstance(ops, Mapping) or not ops:
        raise RunConfigError(f"{source}: `ops:` must map asset names to their config")
    defaults = {}
    for asset, entry in ops.items():
        if not isinstance(entry, Mapping) or set(entry) != {"config"}:
            raise RunConfigError(f"{source}: ops.{asset} must hold one key, `config:`")
        config = entry["config"]
        if not isinstance(config, Mapping) or not config:
            raise RunConfigError(f"{source}: ops.{asset}.config must map field names to values")
        # YAML reads 2020-01-01 as a date; the launchpad's fields take it as text
        defaults[str(asset)] = {k: v.isoformat() if isinstance(v, dt.date) else v for k, v in config.items()}
    return defaults


def with_defaults(cls: type[DocumentedConfig], values: Mapping[str, Any], where: str) -> type[DocumentedConfig]:
    """``cls`` with ``values`` as its fields' defaults (help texts and constraints kept), checked
    as a run would be: unknown fields and wrong types are refused (strictly, as the launchpad
    does: "6" is not a number), and so is what the class's ``check`` refuses (a horizon of 0, an
    unknown frequency): when the code location loads, not at 02:00."""
    if not values:
        return cls
    unknown = sorted(set(values) - set(cls.model_fields))
    if unknown:
        raise RunConfigError(f"{where}: no field {unknown} (fields: {sorted(cls.model_fields)})")
    # Dagster's own check of the values against the launchpad's schema (pydantic would take "6")
    typed = validate_config(infer_schema_from_config_class(cls).config_type, dict(values))
    if not typed.success:
        raise RunConfigError(f"{where}: " + "; ".join(error.message for error in typed.errors))
    try:
        checked = cls(**values)
        checked.check()
    except (pydantic.ValidationError, ValueError, TypeError) as exc:
        raise RunConfigError(f"{where}: {exc}") from None
    fields = {name: (cls.model_fields[name].annotation,
                     FieldInfo.merge_field_infos(cls.model_fields[name], default=getattr(checked, name)))
              for name in values}
    return pydantic.create_model(cls.__name__, __base__=cls, __module__=cls.__module__, __doc__=cls.__doc__,
                                 **fields)


class RunDefaults:
    """The defaults of one deployment, handed out to the assets' config classes by asset name."""

    def __init__(self, defaults: Mapping[str, Mapping[str, Any]], path: Optional[str]):
        self.defaults, self.path, self.claimed = defaults, path, set()
        self.source = path or "(no file)"

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
DEPLOYMENT = RunDefaults(read_file(_settings.run_config_file), _settings.run_config_file)
"""This deployment's defaults (MANYMODELS_RUN_CONFIG), read when this module is imported: by the
code location as it loads, and by each run's own process."""
