"""How assets show their results in the UI: Markdown tables, and small PNG plots as Markdown images."""
from __future__ import annotations

import base64
import io
import json

import dagster as dg
import numpy as np
import pandas as pd

from manymodels_assets.engine.training import plot_rows
from manymodels_assets.forecasting import model_sets, status


def result(context: dg.AssetExecutionContext, keys: list[str], metadata: dict,
           data_version: str | None = None) -> dg.MaterializeResult:
    """The run's materialization of ``keys``: numbers and text on every partition, tables and
    plots (Markdown) only on the run's last partition, the one the asset page shows as latest.

    Metadata of a range run is copied into every partition's event: tables and plots on 10,000
    partitions would write hundreds of megabytes into the event log.
    """
    heavy = {k: v for k, v in metadata.items() if isinstance(v, dg.MarkdownMetadataValue)}
    light = {k: v for k, v in metadata.items() if k not in heavy}
    if heavy and len(keys) > 1:
        context.add_asset_metadata(heavy, partition_key=keys[-1])
        light["run_report"] = dg.MetadataValue.text(f"tables and plots of this run: partition {keys[-1]}")
    else:
        light.update(heavy)
    return dg.MaterializeResult(metadata=light, data_version=dg.DataVersion(data_version) if data_version else None)


def table(frame: pd.DataFrame, max_rows: int = 20) -> dg.MetadataValue:
    return dg.MetadataValue.md(frame.head(max_rows).to_markdown(index=False, floatfmt=".3f"))


def _md(fig, alt: str) -> dg.MetadataValue:
    plt = _pyplot()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=80, bbox_inches="tight")
    plt.close(fig)
    return dg.MetadataValue.md(f"![{alt}](data:image/png;base64,{base64.b64encode(buf.getvalue()).decode()})")


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")  # no display in the webserver or a run worker
    import matplotlib.pyplot as plt

    return plt


def _dates(ax) -> None:
    import matplotlib.dates as mdates

    locator = mdates.AutoDateLocator(maxticks=8)  # few, short labels: they must not overlap
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))


def _figure(w=7, h=3):
    return _pyplot().subplots(figsize=(w, h))


def histogram(values, title: str, xlabel: str, clip: float | None = None) -> dg.MetadataValue:
    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v)]
    if clip is not None:
        v = np.clip(v, None, clip)
    fig, ax = _figure()
    ax.hist(v, bins=30, color="#4f6bed")
    ax.set(title=title, xlabel=xlabel, ylabel="series")
    return _md(fig, title)


def bars(counts: pd.Series, title: str) -> dg.MetadataValue:
    fig, ax = _figure(6, 2.5)
    counts.sort_values().plot.barh(ax=ax, color="#4f6bed")
    ax.set(title=title, xlabel="series")
    return _md(fig, title)


def forecast_panels(history: pd.DataFrame, forecasts: pd.DataFrame, title: str) -> dg.MetadataValue:
    """History and forecast with its interval, one panel per series (up to four)."""
    plt = _pyplot()
    keys = list(forecasts["key"].drop_duplicates())[:4]
    fig, axes = plt.subplots(len(keys), 1, figsize=(8, 2.2 * len(keys)), squeeze=False)
    for ax, key in zip(axes[:, 0], keys):
        h = history[history["key"] == key]
        f = forecasts[forecasts["key"] == key]
        ax.plot(pd.to_datetime(h["date"]), h["units"], color="#555", lw=0.8, label="actual")
        x = pd.to_datetime(f["forecast_date"])
        ax.plot(x, f["yhat"], color="#d9480f", lw=1.2, label="forecast")
        ax.fill_between(x, f["yhat_lower"], f["yhat_upper"], color="#d9480f", alpha=0.2, label="interval")
        ax.set_title(key, fontsize=9)
        _dates(ax)
    axes[0, 0].legend(fontsize=7, loc="upper left")
    fig.suptitle(title, fontsize=10)
    return _md(fig, title)


def series_story(history: pd.DataFrame, backtest: dict | None, forecast: pd.DataFrame, title: str,
                 period_freq: str | None = None) -> dg.MetadataValue:
    """One series: recent history, the chosen model's backtest forecasts, and the forecast with interval."""
    fig, ax = _figure(8, 2.8)
    ax.plot(pd.to_datetime(history["date"]), history["units"], color="#555", lw=0.8, label="actual")
    if backtest:
        freq = pd.infer_freq(pd.to_datetime(history["date"]).iloc[-10:]) or "D"
        for i, (start, values) in enumerate(zip(backtest["starts"], backtest["forecast"])):
            ax.plot(backtest_dates(start, len(values), freq, period_freq), values, color="#1c7ed6", lw=1.1, ls="--", label="backtest" if i == 0 else None)
    x = pd.to_datetime(forecast["forecast_date"])
    ax.plot(x, forecast["yhat"], color="#d9480f", lw=1.3, label="forecast")
    ax.fill_between(x, forecast["yhat_lower"], forecast["yhat_upper"], color="#d9480f", alpha=0.2,
                    label="interval")
    ax.legend(fontsize=7, loc="upper left", ncol=4)
    ax.set_title(title, fontsize=9)
    _dates(ax)
    return _md(fig, title)


def backtest_dates(start: str, n: int, freq: str, period_freq: str | None = None) -> pd.DatetimeIndex:
    """The dates of a backtest fold's ``n`` forecasts (date offset ``freq``) from its first period's
    label at ``period_freq`` (the series'): a fiscal quarter "2024Q2" of Q-NOV starts in March. A
    week's label is its span ("2024-05-16/2024-05-22"), which pd.Period reads as a time of day."""
    first = start.split("/")[0]
    return pd.date_range(pd.Period(first, freq=period_freq).start_time if period_freq else pd.Period(first).start_time,
                         periods=n, freq=freq)


def model_set_metadata(summary: pd.DataFrame, prior: list[str] | None, ranking: list[str]) -> dict:
    """A training run's model set at a glance: status counts, forecaster mix, accuracy spread."""
    by_status = summary["status"].value_counts()
    mix = summary["forecaster"].fillna("none").value_counts()
    ok = summary[summary["status"] == status.OK]
    aggregate = model_sets.aggregate_metrics(summary)

    def listed(s: str, columns: list[str]) -> dg.MetadataValue:
        rows = summary[summary["status"] == s]
        return table(rows[columns]) if len(rows) else dg.MetadataValue.text("none")

    return {
        "series": len(summary),
        "status": table(by_status.rename_axis("status").reset_index(name="series")),
        "forecaster_mix": table(mix.rename_axis("forecaster").reset_index(name="series")),
        "forecaster_mix_plot": bars(mix, "Chosen forecaster per series"),
        "accuracy_distribution": table(model_sets.accuracy_quantiles(summary)),
        "accuracy_by_forecaster": table(model_sets.accuracy_by_forecaster(summary)),
        "mase_histogram": histogram(ok["mase"], "Backtest MASE of the chosen models", "MASE", clip=3),
        "median_mase": aggregate.get("median_mase", float("nan")),
        "median_wape": aggregate.get("median_wape", float("nan")),
        "panel_prior_used": ", ".join(prior) if prior else "none (first run or switched off)",
        "panel_ranking": ", ".join(ranking),
        "cold_starts": listed(status.COLD_START, ["key", "n_obs", "forecaster", "reason"]),
        "fallbacks": listed(status.FALLBACK, ["key", "n_obs", "forecaster", "error"]),
        "failed": listed(status.FAILED, ["key", "error"]),
    }


def retraining_metadata(decisions: pd.DataFrame) -> dict:
    """How many series a run retrained and carried over, and why."""
    why = decisions["reason"].value_counts().rename_axis("reason").reset_index(name="series")
    retrained = decisions["retrain"]
    return {"series_retrained": int(retrained.sum()), "series_carried_over": int((~retrained).sum()),
            "retrained_because": table(why)}


def per_series_metadata(context: dg.AssetExecutionContext, spark, lake, summary: pd.DataFrame, model_set: str,
                        plot_series: int) -> None:
    """For the first ``plot_series`` series of the run: their own numbers and a plot of history,
    backtest and forecast in their partition's metadata.

    Bounded on purpose: each `add_asset_metadata(partition_key=...)` re-reads the run's dynamic
    partition keys from the instance (17.7 ms per call at 10,000 keys on sqlite), so one call
    per series would add about 3 minutes to a 10,000-series run and grow quadratically. Every
    series' numbers are in the model set and in the MLflow run's per-series table.
    """
    from manymodels_assets.forecasting.scoring import forecast_series

    plotted = sorted(summary.loc[summary["status"].isin(status.WITH_MODEL), "key"])[:plot_series]
    if not plotted:
        return
    models, history = plot_rows(spark, lake, model_set, plotted)
    for row in models.to_dict("records"):
        h = history[history["key"] == row["key"]].sort_values("date").tail(4 * int(row["horizon"]) * 2)
        forecast = forecast_series(row, int(row["horizon"]))
        backtest = json.loads(row["backtest"]) if row.get("backtest") else None
        context.add_asset_metadata({
            "series_status": row["status"], "forecaster": row["forecaster"] or "none",
            "backtest_mase": model_sets.finite(row["mase"]), "backtest_wape": model_sets.finite(row["wape"]),
            "interval_coverage": model_sets.finite(row["interval_coverage"]),
            "forecast_plot": series_story(h, backtest, forecast, f"{row['key']}: {row['forecaster']} ({row['status']})",
                                          row.get("freq")),
        }, partition_key=row["key"])
