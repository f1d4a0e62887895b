"""Promotion's Spark side: read what the rule decides on, write the production model set."""
from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from manymodels_assets import layout
from manymodels_assets.engine.groups import apply_per_group
from manymodels_assets.engine.modelsets import read_model_set, with_models, write_model_set
from manymodels_assets.engine.tables import keys_frame, only_keys, read_current
from manymodels_assets.forecasting.promotion import (DECISIONS, PROMOTED, PROVISIONAL, PromotionRule,
                                                     decide_promotions)

DECISION_INPUT = ["key", "status", "wape", "mase", "error", "model_set"]


def new_models(spark: SparkSession, lake, sources: dict[str, list[str]]) -> DataFrame:
    """The rows of each source model set for its keys ({model set: keys})."""
    parts = [only_keys(read_model_set(spark, lake, model_set), keys_frame(spark, keys))
             for model_set, keys in sources.items()]
    out = parts[0]
    for part in parts[1:]:
        out = out.unionByName(part, allowMissingColumns=True)
    return out


def promotion_inputs(spark: SparkSession, lake, sources: dict[str, list[str]],
                     production_set: str | None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(the new models' rows with what the rule reads, key + model_set of every series in the
    current production set)."""
    candidates = new_models(spark, lake, sources).select(*DECISION_INPUT).toPandas()
    deployed = (read_model_set(spark, lake, production_set).select("key", "model_set").toPandas()
                if production_set else pd.DataFrame(columns=["key", "model_set"]))
    return candidates, deployed


CHALLENGE = ("key string, status string, points int, window_start string, champion_score double, "
             "challenger_score double, note string, comparable boolean")
"""Per series with a production model: its status and the champion/challenger scores."""


def challenges(spark: SparkSession, lake, sources: dict[str, list[str]], production_set: str | None,
               metric: str) -> pd.DataFrame:
    """CHALLENGE for every new model whose series has a production model: both scored on the
    newest data neither trained on (forecasting.challenge), one Spark task per bucket of series."""
    names = [c.strip().split(" ", 1)[0] for c in CHALLENGE.split(",")]
    if not production_set:
        return pd.DataFrame(columns=names)
    new_rows = new_models(spark, lake, sources).select("key", F.col("freq").alias("new_freq"), "backtest",
                                                       F.col("data_version").alias("new_version"))
    current = read_model_set(spark, lake, production_set).select(
        "key", "status", "model", "last_date", "freq", "season_length", "calendar_regressors", "data_version")
    pairs = current.join(new_rows, "key")
    n = pairs.count()
    if n == 0:
        return pd.DataFrame(columns=names)
    history = (read_current(spark, lake, layout.SERIES).join(F.broadcast(pairs.select("key")), "key")
               .select("key", "date", "units", "price", "promo"))
    rows = history.unionByName(pairs, allowMissingColumns=True)

    def one(pdf: pd.DataFrame) -> pd.DataFrame:
        from manymodels_assets.forecasting.challenge import challenge

        models = pdf[pdf["model"].notna()].iloc[0]
        champion = {**models.to_dict(), "last_date": models["last_date"]}
        scores = challenge(pdf[pdf["model"].isna()], champion, {"freq": models["new_freq"], "backtest": models["backtest"],
                                                                "data_version": models["new_version"]}, metric)
        return pd.DataFrame([{"key": models["key"], "status": models["status"], **scores}])

    return apply_per_group(rows, ["key"], one, CHALLENGE, n).toPandas()[names]


@dataclass(frozen=True)
class Decision:
    decisions: pd.DataFrame  # per series: key, decision, failed_check, reason, margin, ...
    deploy: list[str]  # keys whose new model goes to production
    counts: dict[str, int]  # decision -> series
    candidates: pd.DataFrame  # the new models' rows the rule read
    unchanged: bool  # every model to deploy is in production already (or there is none): nothing to register


def decide(spark: SparkSession, lake, sources: dict[str, list[str]], production_set: str | None,
           rule: PromotionRule) -> Decision:
    """The rule's decision for every new model: champion against challenger where the series has a
    production model (forecasting.challenge), the first-model gate where it has none."""
    candidates, deployed = promotion_inputs(spark, lake, sources, production_set)
    decisions = decide_promotions(candidates, challenges(spark, lake, sources, production_set, rule.metric), rule)
    deploy = decisions.loc[decisions["decision"].isin([PROMOTED, PROVISIONAL]), "key"].tolist()
    already = deployed.merge(candidates[["key", "model_set"]], on=["key", "model_set"])
    return Decision(decisions, deploy, {d: int((decisions["decision"] == d).sum()) for d in DECISIONS}, candidates,
                    set(deploy) <= set(already["key"]))


def write_production_set(spark: SparkSession, lake, sources: dict[str, list[str]], production_set: str | None,
                         deploy: list[str], name: str) -> tuple[str, int]:
    """Write model set ``name``: the new models of ``deploy`` and the current production model
    of every other series. Returns (its URI, its number of series). A production set holds its
    models' bytes itself (no references), so scoring and serving read one set."""
    new_rows = with_models(spark, lake, new_models(spark, lake, sources).join(F.broadcast(keys_frame(spark, deploy)),
                                                                              "key"))
    current_rows = read_model_set(spark, lake, production_set) if production_set else None
    uri = write_model_set(lake, compose_production_set(new_rows, current_rows, keys_frame(spark, deploy)), name)
    return uri, read_model_set(spark, lake, name).count()


def compose_production_set(new_rows, current_rows, deploy):
    """The new models of the ``deploy`` keys, and the current production model of every other key."""
    rows = new_rows.join(F.broadcast(deploy), "key")
    if current_rows is None:
        return rows
    # allowMissingColumns: a production set written before a column was added still merges
    return current_rows.join(F.broadcast(deploy), "key", "left_anti").unionByName(rows, allowMissingColumns=True)
