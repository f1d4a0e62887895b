"""How each stage finds its upstream's output: by lineage, never by "newest in the registry".

A training run's partitions carry their model set as their Dagster data version, and the run
itself the tag ``manymodels/model_set``; a promotion run tags itself with the production
version it registered. The follow-on sensors copy those tags onto the runs they start, which
pins them to their upstream run's output. A run started by hand uses, per partition, the
latest upstream materialization (what the UI shows as that partition's upstream).
"""
from __future__ import annotations

from collections import defaultdict

import dagster as dg

MODEL_SET_TAG = "manymodels/model_set"
"""On a training run: the model set it wrote; on a promotion run: the model set it promotes."""
PRODUCTION_VERSION_TAG = "manymodels/production_version"
"""On a promotion run: the production version it registered; on a scoring run: the one it scores."""
DATA_VERSION_TAG = "dagster/data_version"  # where Dagster stores a materialization's DataVersion


def model_sets_by_key(context: dg.AssetExecutionContext, upstream: dg.AssetKey,
                      keys: list[str]) -> tuple[dict[str, list[str]], list[str]]:
    """({model set: the keys to take from it}, keys with no upstream materialization): the set
    this run is pinned to, else each partition's latest materialization of ``upstream``."""
    pinned = context.run.tags.get(MODEL_SET_TAG)
    if pinned:
        return {pinned: list(keys)}, []
    return latest_model_sets(context.instance, upstream, keys)


def latest_model_sets(instance: dg.DagsterInstance, asset: dg.AssetKey,
                      keys: list[str]) -> tuple[dict[str, list[str]], list[str]]:
    """({model set: keys}, keys never materialized) from each partition's latest materialization of ``asset``."""
    latest = instance.event_log_storage.get_latest_tags_by_partition(
        asset, dg.DagsterEventType.ASSET_MATERIALIZATION, [DATA_VERSION_TAG], keys)
    sources: dict[str, list[str]] = defaultdict(list)
    for key in keys:
        if DATA_VERSION_TAG in latest.get(key, {}):
            sources[latest[key][DATA_VERSION_TAG]].append(key)
    return dict(sources), [k for k in keys if DATA_VERSION_TAG not in latest.get(k, {})]
