"""``trained_models``: a backtested, selected and refit model per series, written as one model set."""
import dataclasses
import datetime as dt
from typing import Optional

import dagster as dg
import pandas as pd

from manymodels_assets.assets import lineage, report
from manymodels_assets.assets.common import Stopwatch, key_pairs, partition_range, selected_keys, stamped_id
from manymodels_assets.assets.series import store_item_series
from manymodels_assets.assets.run_defaults import DEPLOYMENT, DocumentedConfig
from manymodels_assets.engine.training import Retraining, train_model_set
from manymodels_assets.forecasting import model_sets, status
from manymodels_assets.forecasting.config import TrainingConfig
from manymodels_assets.forecasting.panel import learn_prior
from manymodels_assets.forecasting.selection import PanelPrior
from manymodels_assets.partitions import store_item
from manymodels_assets.resources.lake import LakeResource
from manymodels_assets.resources.registry import ModelRegistryResource, ranking_tag
from manymodels_assets.resources.spark import SparkResource

_D = TrainingConfig()
BACKFILL_TAG = "dagster/backfill"
"""Set by Dagster on the runs of a backfill (from the UI, the CLI or the API)."""


@DEPLOYMENT.of("trained_models")
class TrainingSettings(DocumentedConfig):
    candidates: list[str] = list(_D.candidates)
    """Forecasters to backtest for each series; empty: the defaults of the series' frequency
    (daily: seasonal_naive, tsb, regression, pooled; weekly: naive, seasonal_naive, tsb,
    regression, dynamic_regression, pooled; monthly: seasonal_naive, tsb, ets, theta,
    auto_ets, auto_theta; quarterly: the same and pooled_ar). Also available: croston,
    regression_ar, auto_arima, mstl (costly on daily data: 0.3-1.5 s per series, see
    docs/accuracy.md). regression, regression_ar and dynamic_regression need the planned
    price/promotion calendar; pooled (one LightGBM) and pooled_ar (one linear autoregression)
    are fit per `pooled_group` in Spark."""
    combine_top: int = _D.combine_top
    """Also try the mean of the best N candidates of each series (0: off)."""
    metric: str = _D.metric
    """Selection metric, lower is better: mase, wape, smape, mae, rmse or mape."""
    n_folds: int = _D.n_folds
    """Rolling-origin backtest folds."""
    horizon: Optional[int] = _D.horizon
    """Backtest and forecast horizon; empty: the frequency's (28 days, 12 weeks, 12 months, 8 quarters, 48 hours)."""
    season_length: Optional[int] = _D.season_length
    """Season length; empty: the frequency's (7 for daily data, 52 weekly, 12 monthly, 4 quarterly, 24 hourly)."""
    interval_level: float = _D.interval_level
    """Prediction interval level."""
    interval_scale: str = _D.interval_scale
    """Conformal intervals on log1p errors ("log": width follows the level) or plain errors ("additive")."""
    use_panel_prior: bool = _D.use_panel_prior
    """Use what the previous training run learned across its series: each series gets a
    combination of its candidates, with weights that depend on the series' features (level,
    variation, intermittency, trend, growth, length), fit so that the combination forecasts the
    previous run's backtests best. Without that model it keeps the candidate that ranked best
    across the panel unless its own backtest beats it by `prior_margin`. Off: each series chooses from its own
    backtest alone."""
    prior_margin: float = _D.prior_margin
    """How much better (relative) a series' own best candidate must be to leave the panel's choice."""
    inactive_seasons: Optional[int] = _D.inactive_seasons
    """A series with no sales in this many seasons is `inactive`: a flagged zero forecast, no models
    fit, until it sells again. Empty: 13 weeks of daily data, a year of weekly, monthly or
    quarterly data; 0 switches it off."""
    pooled_group: str = _D.pooled_group
    """The pooled candidates' groups, one model each: "item" (an item across its stores),
    "store" (a store's items) or "all" (one model: fine for small panels, one Spark task)."""
    max_history: Optional[int] = _D.max_history
    """Latest periods a series trains on. Empty: three years of daily data (older days say little
    about the next 28 and would multiply the cost of long histories), every period of weekly,
    monthly and quarterly data; 0: the whole history."""
    plot_series: int = 12
    """Series of the run (the first by key) whose partition metadata gets their own numbers and a
    history / backtest / forecast plot. A single-partition run always shows its series."""
    retrain: str = "changed"
    """"changed": retrain only series whose sales, prices or planned calendar (of the periods it
    forecasts) changed since their model was trained, that are
    new, whose model failed, was trained with another configuration or is older than
    `max_model_age_days`; the others keep their model (carried into the new model set by
    reference). "all": retrain every selected series (e.g. a weekly retrain against drift)."""
    max_model_age_days: float = 7.0
    """With retrain "changed": a model older than this is retrained even if its data did not change."""

    def check(self) -> None:
        """Refuses what a run would refuse: the core's checks and an unknown `retrain`."""
        self.to_core()
        if self.retrain not in ("changed", "all"):
            raise ValueError(f'retrain must be "changed" or "all", not {self.retrain!r}')

    def retraining(self, previous: dict[str, list[str]], core: TrainingConfig, backfill: bool = False) -> Retraining:
        """Which series the run retrains. A backfill is someone asking for its partitions to be
        recomputed: it retrains them all, whatever `retrain` says."""
        age = dt.timedelta(days=self.max_model_age_days) if self.retrain == "changed" and not backfill else None
        return Retraining(previous, age, core.fingerprint())

    def to_core(self) -> TrainingConfig:
        fields = {f.name for f in dataclasses.fields(TrainingConfig)}
        return TrainingConfig(**{k: tuple(v) if k == "candidates" else v
                                 for k, v in self.model_dump().items() if k in fields})


PRIOR_TAG = "panel_prior"
"""Registry tag with what a run learned across its series (forecasting.selection.PanelPrior, JSON)."""


def _previous_prior(registry: ModelRegistryResource) -> PanelPrior | None:
    """What the newest registered model set learned: its combination model and ranking (or, for
    a set registered before a combination model was learned, its ranking alone)."""
    newest = registry.latest_version()
    if newest is None:
        return None
    learned = PanelPrior.from_json(newest.tags.get(PRIOR_TAG))
    ranking = registry.panel_ranking()
    return learned or (PanelPrior(tuple(ranking)) if ranking else None)


def _meta_table(prior: PanelPrior | None) -> dg.MetadataValue:
    """The learned combination model: each candidate's baseline logit and how each
    (standardised) feature moves it; a series' weights are the softmax of its candidates' logits."""
    if prior is None or not prior.meta:
        return dg.MetadataValue.text("none (first run or switched off)")
    meta = prior.meta
    frame = pd.DataFrame(meta["weights"], columns=meta["features"], index=meta["candidates"])
    frame.insert(0, "baseline", meta["bias"])
    return report.table(frame.rename_axis(f"candidate (penalty {meta['penalty']})").reset_index())


@dg.asset(partitions_def=store_item, backfill_policy=dg.BackfillPolicy.single_run(), deps=[store_item_series],
          group_name="training", kinds={"spark", "sktime", "mlflow"})
def trained_models(context: dg.AssetExecutionContext, config: TrainingSettings, spark: SparkResource,
                   lake: LakeResource, training_registry: ModelRegistryResource) -> dg.MaterializeResult:
    """For each selected series: a rolling-origin backtest of the candidate forecasters, the
    best one by the selection metric (default MASE), refit on the whole history.

    All models of a run form one **model set** in the lake (`models/<model_set>/`, a row per
    series with its metrics and serialized model). The set is logged as one MLflow run and
    registered as one version in the training registry. By default only series whose sales,
    prices or planned calendar changed (or that are new, failed, or have an old model) are retrained; the others' models
    are carried over by reference (`series_retrained`, `series_carried_over`, `retrained_because`).
    A backfill retrains every series it selects. A series whose training fails is recorded
    with status `failed` and its reason; the others are not affected.
    """
    core, keys, timed = config.valid().to_core(), selected_keys(context), Stopwatch()
    prior = _previous_prior(training_registry) if core.use_panel_prior else None
    model_set = stamped_id("ms", context.run_id)
    previous, _ = lineage.latest_model_sets(context.instance, context.asset_key, keys)
    try:
        with timed("train"):
            trained = train_model_set(spark.spark_session, lake, key_pairs(keys), core, model_set, prior,
                                      config.retraining(previous, core, backfill=BACKFILL_TAG in context.run.tags))
    except LookupError as exc:
        raise dg.Failure(str(exc)) from None
    summary = trained.summary
    if summary.empty:
        raise dg.Failure(f"no series found for {partition_range(keys)}: materialize store_item_series for them first")

    freq = summary["freq"].dropna().mode().iloc[0] if summary["freq"].notna().any() else None
    learned = dataclasses.replace(
        learn_prior(summary["candidate_backtests"].tolist(), summary["candidate_metrics"].tolist(), core.metric),
        freq=freq)
    if prior is not None and freq and not prior.applies_to(freq):
        prior = None  # learned at another frequency: training did not apply it (forecasting.training)
    ranking = list(learned.ranking)
    tags = {"model_set": model_set, "series_count": str(len(summary)), "partition_range": partition_range(keys),
            "data_version": model_sets.combined_data_version(summary), "lake_uri": trained.uri,
            "dagster_run_id": context.run_id, **ranking_tag(ranking), PRIOR_TAG: learned.to_json()}
    params = {**core.params(), **PanelPrior.params(prior)}
    with timed("registry"):
        version = training_registry.record_model_set(
            model_set, tags, params, model_sets.aggregate_metrics(summary),
            {"per_series_metrics": summary.drop(columns=["candidate_metrics", "candidate_backtests"])})
    with timed("report"):
        report.per_series_metadata(context, spark.spark_session, lake, summary, model_set, config.plot_series)
        metadata = report.model_set_metadata(summary, list(prior.ranking) if prior else None, ranking)
        inactive = summary[summary["status"] == status.INACTIVE]
        metadata["inactive"] = (report.table(inactive[["key", "last_date", "reason"]]) if len(inactive)
                                else dg.MetadataValue.text("none"))
        metadata["panel_combination_used"] = _meta_table(prior)
        metadata["panel_combination_learned"] = _meta_table(learned)
    context.instance.add_run_tags(context.run_id, {lineage.MODEL_SET_TAG: model_set})
    return report.result(context, keys, data_version=model_set, metadata={
        **metadata, **report.retraining_metadata(trained.retraining), **timed.metadata(),
        "model_set": model_set,
        "partition_range": partition_range(keys),
        "mlflow_run_id": version.run_id,
        "registered_version": f"{training_registry.model_name} v{version.version}",
        "path": dg.MetadataValue.path(trained.uri),
    })
