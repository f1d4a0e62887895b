"""The accuracy report as Markdown: per panel, every method's accuracy and cost, then the targets."""
from __future__ import annotations

import numpy as np
import pandas as pd

SELECTION, FIRST_RUN, DIRECT = "selection", "selection (first run)", "statsforecast AutoETS (direct)"


def _aggregate(rows: pd.DataFrame) -> pd.DataFrame:
    ok = rows[rows["mase"].notna() & np.isfinite(rows["mase"].astype(float))]
    agg = ok.groupby("method").agg(series=("key", "nunique"), mase=("mase", "mean"), smape=("smape", "mean"),
                                   abs_error=("abs_error", "sum"), abs_actual=("abs_actual", "sum"),
                                   coverage=("coverage", "mean"), width=("width", "mean"))
    agg["wape"] = agg["abs_error"] / agg["abs_actual"]
    cpu = rows.groupby("method")["seconds"].mean() * 1000
    agg["cpu_ms_per_series"] = cpu.reindex(agg.index)
    return agg.drop(columns=["abs_error", "abs_actual"]).sort_values("mase")


def _pairs(rows: pd.DataFrame, method: str, other: str) -> pd.DataFrame:
    """Per series, the MASE of ``method`` and of ``other``, over the series both were scored on."""
    table = rows[rows["method"].isin([method, other])].pivot_table(index="key", columns="method", values="mase")
    table = table.replace([np.inf, -np.inf], np.nan).dropna()
    return table if method in table and other in table else pd.DataFrame(columns=[method, other], dtype=float)


def _paired(rows: pd.DataFrame, method: str, other: str) -> tuple[float, float, int]:
    """(mean MASE of ``method``, of ``other``, series) over the series both were scored on."""
    table = _pairs(rows, method, other)
    if not len(table):
        return np.nan, np.nan, 0
    return float(table[method].mean()), float(table[other].mean()), len(table)


def paired_spread(rows: pd.DataFrame, method: str, other: str, level: float = 0.9,
                  draws: int = 2000, seed: int = 0) -> dict:
    """How sure a gain of ``method`` over ``other`` is: the series it wins and loses, and a paired
    bootstrap interval (series resampled) of the gain, 1 - mean MASE / other's mean MASE.

    One held-out window is one draw of the market: the series share its shocks, so the interval
    is a lower bound on the uncertainty, not a test."""
    table = _pairs(rows, method, other)
    a, b = table[method].to_numpy(float), table[other].to_numpy(float)
    if not len(a):
        return {"wins": 0, "losses": 0, "low": np.nan, "high": np.nan}
    low, high = bootstrap_gain(a, b, level, draws, seed)
    return {"wins": int((a < b).sum()), "losses": int((a > b).sum()), "low": 100 * low, "high": 100 * high}


def bootstrap_gain(ours: np.ndarray, theirs: np.ndarray, level: float = 0.9, draws: int = 2000,
                   seed: int = 0) -> tuple[float, float]:
    """The paired bootstrap interval (series resampled together) of the gain
    1 - mean(ours) / mean(theirs), per-series errors of the same series in the same order."""
    picks = np.random.default_rng(seed).integers(0, len(ours), size=(draws, len(ours)))
    gains = 1 - ours[picks].mean(1) / theirs[picks].mean(1)
    tail = 100 * (1 - level) / 2
    return float(np.percentile(gains, tail)), float(np.percentile(gains, 100 - tail))


def panel_section(r: dict) -> tuple[str, dict]:
    panel, rows = r["panel"], r["rows"]
    agg = _aggregate(rows)
    n = r["series"]
    agg["in defaults"] = ["yes" if m in r["defaults"] else "" for m in agg.index]
    agg["note"] = [f"sample of {int(agg.loc[m, 'series'])}" if m in r["costly"] else "" for m in agg.index]
    singles = agg.drop(index=[SELECTION, FIRST_RUN, DIRECT], errors="ignore")
    full = singles[singles["series"] >= 0.9 * agg.loc[SELECTION, "series"]]
    best = full["mase"].idxmin()
    ranking = r.get("backtest_ranking") or {}
    ranked_best = next((name for name in ranking if name in agg.index), None)
    figures = {}
    compared = (("snaive", "seasonal_naive"), ("best", best), ("autoets", DIRECT), ("ranked_best", ranked_best))
    for label, other in compared:
        if other:
            sel, ref, k = _paired(rows, SELECTION, other)
            figures[label] = (other, sel, ref, k, 100 * (1 - sel / ref))
    figures["first_best"] = _paired(rows, FIRST_RUN, best)
    spread = paired_spread(rows, SELECTION, best)
    beaten_on_sample = []
    for name in r["costly"]:
        sel, ref, k = _paired(rows, SELECTION, name)
        if k:
            beaten_on_sample.append(f"{name}: selection {sel:.3f} vs {ref:.3f} on the same {k} series "
                                    f"({100 * (1 - sel / ref):+.1f}%)")
    cold = r["cold"]
    figures["coverage"] = agg.loc[SELECTION, "coverage"]
    figures["cold_coverage"] = float(cold["coverage"].mean())
    # the cost target is per 3-year daily series: trained (status ok) series with 3 years of data
    trained = rows[(rows["method"] == SELECTION) & (rows["status"] == "ok")]
    if panel.freq == "D":
        trained = trained[trained["key"].isin(r["three_years"])]
    figures["cost_ms"] = float(trained["seconds"].mean() * 1000) if len(trained) else np.nan
    figures["daily"] = panel.freq == "D"
    lines = [f"## {panel.description}", "",
             f"{n} series, the last {panel.holdout} periods held out; frequency {panel.freq}; defaults: "
             f"{', '.join(r['defaults'])} + the panel combination. Wall time {r['wall']:.0f} s.", "",
             agg.to_markdown(floatfmt=".3f"), "",
             f"- selection vs seasonal naive: {figures['snaive'][1]:.3f} vs {figures['snaive'][2]:.3f} "
             f"({figures['snaive'][4]:+.1f}%)",
             f"- selection vs best single candidate ({best}): {figures['best'][1]:.3f} vs {figures['best'][2]:.3f} "
             f"({figures['best'][4]:+.1f}%); a first run (no prior yet), on its {figures['first_best'][2]} series: "
             f"{figures['first_best'][0]:.3f} vs {figures['first_best'][1]:.3f} "
             f"({100 * (1 - figures['first_best'][0] / figures['first_best'][1]):+.1f}%)",
             f"  - the best single candidate is picked on the held-out periods themselves, which no deployment "
             f"can do; series by series the selection wins {spread['wins']} and loses {spread['losses']}; a paired "
             f"bootstrap over the series puts the gain between {spread['low']:+.1f}% and {spread['high']:+.1f}% "
             f"(90%)",
             *([f"  - against the one candidate the first run's backtests rank best ({figures['ranked_best'][0]}, "
                f"mean backtest MASE {ranking[ranked_best]:.3f}), what a team deploying one model for every series "
                f"would have picked: {figures['ranked_best'][1]:.3f} vs {figures['ranked_best'][2]:.3f} "
                f"({figures['ranked_best'][4]:+.1f}%)"] if ranked_best else []),
             f"- selection vs statsforecast AutoETS run directly: {figures['autoets'][1]:.3f} vs "
             f"{figures['autoets'][2]:.3f} ({figures['autoets'][4]:+.1f}%)",
             *(f"- costly candidate on its sample, {line}" for line in beaten_on_sample),
             "- chosen per series: " + ", ".join(f"{k} {v}" for k, v in r["chosen"].items()),
             f"- panel combination learned from the first run's backtests: softmax weights of "
             f"{', '.join(r['prior'].meta.get('candidates', []))} (penalty {r['prior'].meta.get('penalty')}); "
             f"mean weight per candidate over the series: "
             + ", ".join(f"{k} {v:.2f}" for k, v in r["mean_weights"].items()),
             f"- 95% interval coverage: backtested series {figures['coverage']:.3f}; cold starts (every series cut "
             f"to 1..{int(cold['points'].max())} points) {figures['cold_coverage']:.3f} "
             f"(item profile {cold.loc[cold['forecaster'] == 'item_profile', 'coverage'].mean():.3f} on "
             f"{int((cold['forecaster'] == 'item_profile').sum())}, window mean "
             f"{cold.loc[cold['forecaster'] == 'window_mean', 'coverage'].mean():.3f} on "
             f"{int((cold['forecaster'] == 'window_mean').sum())})", ""]
    return "\n".join(lines), figures


def render(results: list[dict], workers: int) -> str:
    sections, figures = [], {}
    for r in results:
        text, f = panel_section(r)
        sections.append(text)
        figures[r["panel"].name] = f
    names = list(figures)

    def row(label, target, cell):
        return f"| {label} | {target} | " + " | ".join(cell(figures[n]) for n in names) + " |"

    daily = [n for n in names if n.endswith("daily")]
    table = [f"| figure | target | {' | '.join(names)} |", "|---|---|" + "---|" * len(names),
             row("selection vs seasonal naive, aggregate MASE", ">= 10% better",
                 lambda f: f"{f['snaive'][4]:+.1f}% ({f['snaive'][1]:.3f} vs {f['snaive'][2]:.3f})"),
             row("selection vs best single candidate", "better",
                 lambda f: f"{f['best'][4]:+.1f}% (vs {f['best'][0]} {f['best'][2]:.3f})"),
             row("(for reference) selection vs the best single candidate by backtest", "no target",
                 lambda f: f"{f['ranked_best'][4]:+.1f}% (vs {f['ranked_best'][0]} {f['ranked_best'][2]:.3f})"
                 if "ranked_best" in f else "–"),
             row("selection vs statsforecast AutoETS run directly", "better",
                 lambda f: f"{f['autoets'][4]:+.1f}% ({f['autoets'][2]:.3f})"),
             row("95% coverage, backtested series", "0.90-0.98", lambda f: f"{f['coverage']:.3f}"),
             row("95% coverage, cold starts", "0.90-0.98", lambda f: f"{f['cold_coverage']:.3f}"),
             row("default training cost per series, one core", "<= 100 ms (daily, 3 years)",
                 lambda f: f"{f['cost_ms']:.0f} ms" if f["daily"] else f"({f['cost_ms']:.0f} ms, not daily)")]
    head = [f"# Accuracy and cost: {', '.join(names)}", "",
            f"`benchmarks/accuracy.py`, {workers} worker processes. Costs are CPU ms per series on one core "
            "(backtest of 3 folds and refit; the selection's include the panel combination and the share of "
            "the pooled group models)." + (f" Daily cost target: {daily[0]}." if daily else ""), "",
            *table, ""]
    return "\n".join(head + sections)
