"""A readable account of what the last runs produced, from the lake, the registries and the warehouse."""
from __future__ import annotations

import dagster as dg
import pandas as pd

from manymodels_assets import layout
from manymodels_assets.aliases import PRODUCTION
from manymodels_assets.assets.run_defaults import DEPLOYMENT
from manymodels_assets.forecasting import status
from manymodels_assets.forecasting.promotion import DECISIONS
from manymodels_assets.settings import redacted


def summary(defs: dg.Definitions, instance: dg.DagsterInstance) -> str:
    names = ("lake", "warehouse", "training_registry", "production_registry")
    # build_resources resolves EnvVar settings (secrets) the way a run does.
    with dg.build_resources({n: defs.resources[n] for n in names}) as res:
        return _summary(res.lake, res.warehouse, res.training_registry, res.production_registry, instance)


def _summary(lake, warehouse, training, production, instance: dg.DagsterInstance) -> str:
    lines = ["", "=" * 72, "manymodels demo summary", "=" * 72]
    series = pd.read_parquet(lake.uri(layout.SERIES, lake.current_version(layout.SERIES)), columns=["key"])
    built = instance.get_latest_materialization_event(dg.AssetKey("store_item_series"))
    md = built.asset_materialization.metadata if built is not None else {}
    freq = f", frequency {md['freq'].value}" if "freq" in md else ""
    lines.append(f"series:            {series['key'].nunique()} store-items, {len(series):,} points{freq}")
    if "held_back" in md and not md["held_back"].value.startswith("nothing"):
        lines.append(f"  waiting:         {md['held_back'].value}")
    newest = training.latest_version()
    models = pd.read_parquet(lake.uri(layout.model_set(newest.tags["model_set"])),
                             columns=["key", "status", "forecaster", "mase", "wape", "interval_coverage"])
    lines.append(f"model set:         {newest.tags['model_set']} ({training.model_name} v{newest.version})")
    mix = models.groupby(["forecaster", "status"]).size().rename("series").reset_index()
    lines.append("models per forecaster:")
    lines += ["  " + line for line in mix.to_string(index=False).splitlines()]
    ok = models[models["status"] == status.OK]
    q = ok[["mase", "wape"]].assign(accuracy=1 - ok["wape"]).drop(columns="wape").quantile([0.1, 0.5, 0.9])
    lines.append("backtest accuracy spread (10% / 50% / 90%):")
    for col in q.columns:
        lines.append(f"  {col:<9} {q[col].iloc[0]:.3f} / {q[col].iloc[1]:.3f} / {q[col].iloc[2]:.3f}")
    lines.append(f"  interval coverage (median, leave-fold-out): {ok['interval_coverage'].median():.3f}")
    promo = instance.get_latest_materialization_event(dg.AssetKey("promoted_models"))
    if promo is not None:
        md = promo.asset_materialization.metadata
        lines.append("promotion:         " + ", ".join(f"{k} {md[k].value}" for k in DECISIONS if k in md))
    live = production.version_by_alias(PRODUCTION)
    if live is not None:
        lines.append(f"production set:    {live.tags['model_set']} ({production.model_name} v{live.version}, "
                     f"{live.tags.get('series_count')} series)")
    # Distinct series counted on (store_id, item_id) pairs: ids may contain any character.
    wh = warehouse.query(f"SELECT COUNT(*) AS n_rows FROM {warehouse.table}")
    pairs = warehouse.query(f"SELECT COUNT(*) AS n FROM (SELECT DISTINCT store_id, item_id FROM {warehouse.table}) s")
    lines.append(f"warehouse:         {int(wh['n_rows'][0]):,} forecast rows for {int(pairs['n'][0])} series "
                 f"in table {warehouse.table}")
    lines += ["where things are:",
              f"  lake               {lake.root}",
              f"  training registry  {redacted(training.tracking_uri)}",
              f"  production reg.    {redacted(production.tracking_uri)}",
              f"  warehouse          {warehouse.describe()}",
              f"  Dagster runs       {instance.root_directory}  (make ui)",
              f"  config defaults    {DEPLOYMENT.path or 'built in (MANYMODELS_RUN_CONFIG unset)'}",
              "=" * 72]
    return "\n".join(lines)
