"""Roll the production model set back: what ``manymodels rollback`` does (see docs/production.md).

The alias ``production`` moves to the version ``previous`` points at (or to a version named with
``--to``), and ``previous`` to the version it left, so a second rollback rolls forward again. It
takes the same lake lock as promotions and moves the alias only if it still points where it was
read, so it never races a promotion. Scoring runs that follow no promotion, and the serving
service, follow the alias: the next `batch_scoring_pipeline` run loads the warehouse from the
rolled-back set.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from manymodels_assets import layout
from manymodels_assets.aliases import PREVIOUS, PRODUCTION


@dataclass(frozen=True)
class RollbackResult:
    model_name: str
    left: str  # the version production pointed at
    now: str  # the version it points at now
    model_set: Optional[str]

    def __str__(self) -> str:
        return (f"{self.model_name}@{PRODUCTION}: v{self.left} -> v{self.now} (model set {self.model_set}); "
                f"@{PREVIOUS} -> v{self.left}. Rescore to load the warehouse from it: "
                "dagster job launch / the UI, job batch_scoring_pipeline over every store-item")


def rollback(registry, lake, to: Optional[str] = None) -> RollbackResult:
    """Point ``production`` at ``to`` (default: the ``previous`` version); raises LookupError when
    there is nothing to roll back to, AliasMoved when a promotion moved the alias meanwhile."""
    from manymodels_assets.resources.registry import model_set_of

    with lake.lock(layout.PRODUCTION_LOCK):
        current = registry.version_by_alias(PRODUCTION)
        if current is None:
            raise LookupError(f"{registry.model_name} has no {PRODUCTION!r} version: nothing to roll back")
        target = registry.version(to) if to else registry.version_by_alias(PREVIOUS)
        if target is None:
            raise LookupError(f"{registry.model_name} has no {PREVIOUS!r} version; "
                              "name one: manymodels rollback --to N")
        if str(target.version) == str(current.version):
            raise LookupError(f"{registry.model_name}@{PRODUCTION} already points at v{current.version}")
        registry.move_alias(PRODUCTION, target.version, expected=current.version, previous=PREVIOUS)
    return RollbackResult(registry.model_name, str(current.version), str(target.version), model_set_of(target))


def rollback_from_settings(to: Optional[str] = None) -> RollbackResult:
    """The rollback on the production registry and lake that the MANYMODELS_* settings name."""
    from manymodels_assets.definitions import build_resources
    from manymodels_assets.settings import Settings

    resources = build_resources(Settings.from_env())
    return rollback(resources["production_registry"], resources["lake"], to)
