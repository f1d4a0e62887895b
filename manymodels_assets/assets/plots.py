"""Small PNG plots embedded in asset metadata as Markdown images."""
from __future__ import annotations

import base64
import io

import dagster as dg
import numpy as np
import pandas as pd


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
    axes[0, 0].legend(fontsize=7, loc="upper left")
    fig.suptitle(title, fontsize=10)
    return _md(fig, title)


def series_story(history: pd.DataFrame, backtest: dict | None, forecast: pd.DataFrame, title: str) -> dg.MetadataValue:
    """One series: recent history, the chosen model's backtest forecasts, and the forecast with interval."""
    fig, ax = _figure(8, 2.8)
    ax.plot(pd.to_datetime(history["date"]), history["units"], color="#555", lw=0.8, label="actual")
    if backtest:
        freq = pd.infer_freq(pd.to_datetime(history["date"]).iloc[-10:]) or "D"
        for i, (start, values) in enumerate(zip(backtest["starts"], backtest["forecast"])):
            dates = pd.date_range(pd.Period(start).start_time, periods=len(values), freq=freq)
            ax.plot(dates, values, color="#1c7ed6", lw=1.1, ls="--", label="backtest" if i == 0 else None)
    x = pd.to_datetime(forecast["forecast_date"])
    ax.plot(x, forecast["yhat"], color="#d9480f", lw=1.3, label="forecast")
    ax.fill_between(x, forecast["yhat_lower"], forecast["yhat_upper"], color="#d9480f", alpha=0.2,
                    label="interval")
    ax.legend(fontsize=7, loc="upper left", ncol=4)
    ax.set_title(title, fontsize=9)
    return _md(fig, title)
