"""``trained_models``: a backtested, selected and refit model per series, written as one model set."""

import json
from typing import Optional

import dagster as dg
import numpy as np
import pandas as pd
from manymodels_assets.resources.spark import SparkResource

from manymodels_assets.assets import plots
from pyspark.sql import functions as F

from manymodels_assets.assets.common import (CALENDAR_TABLE, SERIES_TABLE, key_pairs, range_label, selected_keys,
                                             stamped_id, table)
from manymodels_assets.assets.series import store_item_series
from manymodels_assets.engine.modelsets import read_model_set, write_model_set
from manymodels_assets.engine.pipeline import item_profiles, planned_rows, train_models
from manymodels_assets.engine.tables import keys_frame, only_keys, read_current
from manymodels_assets.forecasting.training import TrainingConfig, panel_ranking
from manymodels_assets.partitions import store_item
from manymodels_assets.resources.lake import LakeResource
from manymodels_assets.resources.registry import ModelRegistryResource

SUMMARY_COLUMNS = ["key", "store_id", "item_id", "status", "forecaster", "n_obs", "n_folds", "mae", "rmse", "mape",
                   "smape", "wape", "mase", "interval_width", "interval_coverage", "data_version", "fit_seconds",
                   "error", "candidate_metrics", "model_set"]
_DEFAULT = TrainingConfig()


class TrainingSettings(dg.Config):
    candidates: list[str] = list(_DEFAULT.candidates)
    """Forecasters to backtest for each series: naive, seasonal_naive, ets, theta, croston, tsb,
    regression (price and promotion; needs the planned calendar), dynamic_regression."""
    combine_top: int = _DEFAULT.combine_top
    """Also try the mean of the best N candidates of each series (0: off)."""
    metric: str = "mase"
    """Selection metric, lower is better: mase, wape, smape, mae, rmse or mape."""
    n_folds: int = 3
    """Rolling-origin backtest folds."""
    horizon: Optional[int] = None
    """Backtest and forecast horizon; default 28 for daily data, 12 periods otherwise."""
    season_length: Optional[int] = None
    """Season length; default 7 for daily data, 52 for weekly."""
    interval_level: float = 0.95
    """Prediction interval level."""
    use_panel_prior: bool = True
    """Keep the candidate that ranked best across the previous run's series unless a series'
    own backtest beats it by `prior_margin` (more robust than each series' own few folds)."""
    prior_margin: float = _DEFAULT.prior_margin
    """How much better (relative) a series' own best candidate must be to leave the panel's choice."""
    interval_scale: str = "log"
    """Conformal intervals on log1p errors ("log": width follows the level) or plain errors ("additive")."""
    plot_series: int = 12
    """Series of the run (the first by key) whose partition metadata gets their own numbers and a
    history / backtest / forecast plot. A single-partition run always shows its series."""

    def to_core(self) -> TrainingConfig:
        return TrainingConfig(candidates=tuple(self.candidates), metric=self.metric, n_folds=self.n_folds,
                              horizon=self.horizon, season_length=self.season_length, combine_top=self.combine_top,
                              prior_margin=self.prior_margin,
                              interval_level=self.interval_level, interval_scale=self.interval_scale)


@dg.asset(partitions_def=store_item, backfill_policy=dg.BackfillPolicy.single_run(), deps=[store_item_series],
          group_name="training", kinds={"spark", "sktime", "mlflow"})
def trained_models(context: dg.AssetExecutionContext, config: TrainingSettings, spark: SparkResource,
                   lake: LakeResource, training_registry: ModelRegistryResource) -> dg.MaterializeResult:
    """For each selected series: a rolling-origin backtest of the candidate forecasters, the
    best one by the selection metric (default MASE), refit on the whole history.

    All models of a run form one **model set** in the lake (`models/<model_set>/`, a row per
    series with its metrics and serialized model). The set is logged as one MLflow run and
    registered as one version in the training registry. A series whose training fails is
    recorded with status `failed` and its reason; the others are not affected.
    """
    core = config.to_core()
    keys = selected_keys(context)
    session = spark.spark_session
    series = read_current(session, lake, SERIES_TABLE)
    if series is None:
        raise dg.Failure("store_item_series has not been materialized yet")
    model_set = stamped_id("ms", context.run_id)
    selected = only_keys(series, keys_frame(session, keys))
    first = series.select("freq", "date").agg(F.first("freq").alias("freq"), F.max("date").alias("end")).first()
    calendar = read_current(session, lake, CALENDAR_TABLE)
    plans = (planned_rows(calendar, session.createDataFrame(key_pairs(keys)), first["end"])
             if calendar is not None else None)
    profiles = item_profiles(series, selected, core, first["freq"], first["end"])
    previous = training_registry.latest_version() if config.use_panel_prior else None
    prior = [c for c in (previous.tags.get("panel_ranking", "") if previous else "").split(",") if c] or None
    rows = train_models(selected, core, model_set, plans, profiles, prior)
    uri = write_model_set(lake, rows, model_set)
    summary = read_model_set(session, lake, model_set).select(*SUMMARY_COLUMNS).toPandas()
    if summary.empty:
        raise dg.Failure(f"no series found for {range_label(keys)}: materialize store_item_series for them first")

    by_status = summary["status"].value_counts().to_dict()
    mix = summary["forecaster"].fillna("none").value_counts()
    ok = summary[summary["status"] == "ok"]
    aggregate = {
        "series": float(len(summary)),
        **{f"series_{s}": float(n) for s, n in by_status.items()},
        **{f"median_{m}": float(ok[m].median()) for m in ("mase", "wape", "smape", "mae") if len(ok)},
        **{f"mean_{m}": float(ok[m].mean()) for m in ("mase", "wape") if len(ok)},
        "median_interval_coverage": float(ok["interval_coverage"].median()) if len(ok) else np.nan,
        "fit_seconds_total": float(summary["fit_seconds"].sum()),
    }
    data_version = _combined_version(summary)
    ranking = panel_ranking(summary["candidate_metrics"].tolist(), core.metric)
    tags = {"model_set": model_set, "series_count": str(len(summary)), "partition_range": range_label(keys),
            "data_version": data_version, "lake_uri": uri, "dagster_run_id": context.run_id,
            "panel_ranking": ",".join(ranking)}
    run_id = training_registry.start_run(model_set, tags=tags)
    training_registry.log_run(
        run_id,
        params={"candidates": ",".join(core.candidates), "metric": core.metric, "n_folds": core.n_folds,
                "horizon": core.horizon or "default", "interval_level": core.interval_level,
                "interval_scale": core.interval_scale, "combine_top": core.combine_top,
                "prior": ",".join(prior) if prior else "none", "prior_margin": core.prior_margin,
                "series_count": len(summary), "partition_range": range_label(keys)},
        metrics=aggregate,
        tables={"per_series_metrics": summary.drop(columns=["candidate_metrics"])},
        manifest={"model_set": model_set, "uri": uri, "series_count": len(summary), "keys": range_label(keys),
                  "data_version": data_version},
    )
    version = training_registry.register_model_set(run_id, tags)
    _per_series_metadata(context, session, lake, summary, model_set, config.plot_series)

    quantiles = (ok[["mase", "wape", "smape"]].quantile([0.1, 0.25, 0.5, 0.75, 0.9])
                 .rename_axis("quantile").reset_index())
    return dg.MaterializeResult(metadata={
        "model_set": model_set,
        "series": len(summary),
        "status": table(pd.DataFrame(list(by_status.items()), columns=["status", "series"])),
        "forecaster_mix": table(mix.rename_axis("forecaster").reset_index(name="series")),
        "forecaster_mix_plot": plots.bars(mix, "Chosen forecaster per series"),
        "accuracy_distribution": table(quantiles),
        "accuracy_by_forecaster": table(summary.groupby("forecaster").agg(
            series=("key", "size"), median_mase=("mase", "median"), median_wape=("wape", "median"),
            median_interval_coverage=("interval_coverage", "median")).reset_index()),
        "mase_histogram": plots.histogram(ok["mase"], "Backtest MASE of the chosen models", "MASE", clip=3),
        "median_mase": aggregate.get("median_mase", float("nan")),
        "panel_prior_used": ", ".join(prior) if prior else "none (first run or switched off)",
        "panel_ranking": ", ".join(ranking),
        "median_wape": aggregate.get("median_wape", float("nan")),
        "cold_starts": table(summary[summary["status"] == "cold_start"][["key", "n_obs", "forecaster", "error"]])
        if by_status.get("cold_start") else dg.MetadataValue.text("none"),
        "failed": table(summary[summary["status"] == "failed"][["key", "error"]]) if by_status.get("failed")
        else dg.MetadataValue.text("none"),
        "mlflow_run_id": run_id,
        "registered_version": f"{training_registry.model_name} v{version.version}",
        "path": dg.MetadataValue.path(uri),
    })


def _combined_version(summary: pd.DataFrame) -> str:
    import hashlib

    joined = "|".join(summary.sort_values("key")["data_version"].fillna("").tolist())
    return hashlib.sha256(joined.encode()).hexdigest()[:16]


def _per_series_metadata(context, session, lake, summary: pd.DataFrame, model_set: str, plot_series: int) -> None:
    """For the first ``plot_series`` series of the run: their own numbers and a plot of history,
    backtest and forecast in their partition's metadata.

    Bounded on purpose: each `add_asset_metadata(partition_key=...)` re-reads the run's dynamic
    partition keys from the instance (17.7 ms per call at 10,000 keys on sqlite), so one call
    per series would add about 3 minutes to a 10,000-series run and grow quadratically. Every
    series' numbers are in the model set and in the MLflow run's per-series table.
    """
    from manymodels_assets.forecasting.scoring import forecast_series

    plotted = sorted(summary.loc[summary["status"] != "failed", "key"])[:plot_series]
    if not plotted:
        return
    wanted = session.createDataFrame([(k,) for k in plotted], "key string")
    models = read_model_set(session, lake, model_set).join(F.broadcast(wanted), "key").toPandas()
    history = (read_current(session, lake, SERIES_TABLE).join(F.broadcast(wanted), "key")
               .select("key", "date", "units").toPandas())
    for row in models.to_dict("records"):
        h = history[history["key"] == row["key"]].sort_values("date").tail(4 * int(row["horizon"]) * 2)
        forecast = forecast_series(row, int(row["horizon"]))
        backtest = json.loads(row["backtest"]) if row.get("backtest") else None
        title = f"{row['key']}: {row['forecaster']} ({row['status']})"
        context.add_asset_metadata({
            "series_status": row["status"], "forecaster": row["forecaster"] or "none",
            "backtest_mase": _num(row["mase"]), "backtest_wape": _num(row["wape"]),
            "interval_coverage": _num(row["interval_coverage"]),
            "forecast_plot": plots.series_story(h, backtest, forecast, title),
        }, partition_key=row["key"])


def _num(value) -> float:
    return float(value) if value is not None and np.isfinite(value) else float("nan")
