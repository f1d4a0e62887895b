"""Choosing a series' forecaster from its candidates' backtests, helped by what the panel showed.

Three folds of one series are weak evidence: per-series choice lost to its own best single
candidate on the orange-juice panel. So a training run also learns across its series
(:mod:`forecasting.panel`) and hands that to the next run as a :class:`PanelPrior`: a ranking
of the candidates, and a model of each candidate's backtest error given a few features of a
series, which weighs each series' candidates into a combination. :func:`choose` uses it.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field

import numpy as np

from manymodels_assets.forecasting.backtest import BacktestResult
from manymodels_assets.forecasting.candidates import ENSEMBLE


@dataclass(frozen=True)
class PanelPrior:
    """What the previous training run learned across its series."""
    ranking: tuple[str, ...] = ()  # candidates by mean backtest metric, best first
    meta: dict = field(default_factory=dict)  # the combination model (forecasting.panel.learn_prior)
    freq: str | None = None  # of the series it was learned on; None: unknown (an older release's)

    def to_json(self) -> str:
        return json.dumps({"ranking": list(self.ranking), "meta": self.meta, "freq": self.freq},
                          separators=(",", ":"))

    def applies_to(self, freq: str) -> bool:
        """Whether it was learned at ``freq``: a daily panel's weights and ranking say nothing of
        the same series rebuilt as weeks."""
        return self.freq is None or self.freq == freq

    @staticmethod
    def params(prior: "PanelPrior | None") -> dict[str, str]:
        """Tracking parameters of the prior a run used (``none`` without one)."""
        return {"prior": ",".join(prior.ranking) if prior else "none",
                "prior_penalty": str(prior.meta.get("penalty", "none")) if prior else "none"}

    @classmethod
    def from_json(cls, text: str | None) -> "PanelPrior | None":
        if not text:
            return None
        d = json.loads(text)
        meta = d.get("meta") or {}
        # a model set registered by an older release carries an error model of another form:
        # its ranking still holds, its model is relearned by this run
        return cls(tuple(d.get("ranking", ())), meta if "weights" in meta else {}, d.get("freq"))


@dataclass(frozen=True)
class Choice:
    """A forecaster to refit: one candidate, or a weighted combination (``name`` = ENSEMBLE)."""
    name: str
    members: tuple[str, ...] = ()
    weights: tuple[float, ...] = ()
    reason: str = ""


def rank_value(summary: dict[str, float], metric: str) -> tuple[float, float]:
    """Sort key of a candidate's backtest, lower is better; a NaN metric (e.g. MASE of a
    constant history) ranks by MAE instead."""
    primary = summary.get(metric, np.nan)
    return (primary if np.isfinite(primary) else np.inf, summary.get("mae", np.inf))


def ranked(summaries: dict[str, dict], metric: str) -> list[str]:
    """Backtested candidates, best first."""
    return sorted(summaries, key=lambda n: rank_value(summaries[n], metric))


def selection_order(summaries: dict[str, dict], metric: str, prior: tuple[str, ...] | None,
                    margin: float) -> list[str]:
    """Single candidates in the order to try refitting them.

    With a panel ranking (``prior``), its best backtested candidate goes first unless the
    series' own best beats it by ``margin``.
    """
    order = ranked(summaries, metric)
    default = next((p for p in prior or () if p in summaries), None)
    if default is None or not order or order[0] == default:
        return order
    best, panel = rank_value(summaries[order[0]], metric)[0], rank_value(summaries[default], metric)[0]
    if np.isfinite(panel) and best > (1 - margin) * panel:
        order.remove(default)
        order.insert(0, default)
    return order


def combination_for(summaries: dict[str, dict], config, prior: PanelPrior | None, values: np.ndarray,
                    season_length: int) -> Choice | None:
    """The combination a series backtests beside its single candidates: with a learned prior,
    its candidates weighted by the panel's combination model given the series'
    features; without, the mean of its best ``combine_top`` candidates. A panel combination
    left with one candidate is that candidate (no members)."""
    meta = prior.meta if prior is not None and config.use_panel_prior else {}
    if meta:
        from manymodels_assets.forecasting.panel import combination_weights, series_features

        weights = combination_weights(meta, series_features(values, season_length), list(summaries))
        reason = "panel combination (weights from the previous run's backtests, given this series' features)"
        if len(weights) == 1:
            return Choice(next(iter(weights)), reason=reason)
        if weights:
            return Choice(ENSEMBLE, tuple(weights), tuple(weights.values()), reason)
        return None
    if config.combine_top >= 2 and len(summaries) >= 2:
        top = ranked(summaries, config.metric)[: config.combine_top]
        return Choice(ENSEMBLE, tuple(top), tuple([1.0 / len(top)] * len(top)),
                      f"mean of the best {len(top)}: beats each of them in the backtest")
    return None


def choose(summaries: dict[str, dict], config, prior: PanelPrior | None, combination: Choice | None) -> list[Choice]:
    """The forecasters to try refitting, best first (the next is tried when one fails).

    The panel's combination comes first whenever there is one; the mean of the series' best
    few only when its backtest beats every single candidate; then the single candidates, the
    panel's best kept first unless the series' own best beats it by ``prior_margin``.
    """
    singles = {n: v for n, v in summaries.items() if n != ENSEMBLE and "error" not in v and "skipped" not in v}
    use_prior = prior if config.use_panel_prior else None
    order = selection_order(singles, config.metric, use_prior.ranking if use_prior else None, config.prior_margin)
    choices = [Choice(n, reason="best backtest" if i == 0 else "next best backtest") for i, n in enumerate(order)]
    if combination is None:
        return choices
    if combination.reason.startswith("panel"):
        return [combination] + [c for c in choices if c.name != combination.name]
    if ENSEMBLE in summaries and (not order or rank_value(summaries[ENSEMBLE], config.metric)
                                  < rank_value(singles[order[0]], config.metric)):
        return [combination] + choices
    return choices


def combination_backtest(results: dict[str, BacktestResult], members, weights) -> BacktestResult:
    """Backtest of the members' weighted mean, from the members' own out-of-sample fold forecasts."""
    first = results[members[0]]
    forecast = [np.sum([w * f for w, f in zip(weights, fold)], axis=0)
                for fold in zip(*(results[m].forecast for m in members))]
    return BacktestResult(ENSEMBLE, folds=first.folds, actual=first.actual, history=first.history,
                          forecast=forecast, season_length=first.season_length)


def panel_scores(candidate_metrics: list[str | None], metric: str = "mase") -> dict[str, float]:
    """Each candidate's mean backtest ``metric`` across many series, best first, from the model
    set's ``candidate_metrics`` column."""
    scores: dict[str, list[float]] = {}
    for payload in candidate_metrics:
        for name, values in json.loads(payload or "{}").items():
            value = values.get(metric)
            if name != ENSEMBLE and isinstance(value, (int, float)) and np.isfinite(value):
                scores.setdefault(name, []).append(float(value))
    means = {name: float(np.mean(values)) for name, values in scores.items()}
    return dict(sorted(means.items(), key=lambda item: item[1]))


def panel_ranking(candidate_metrics: list[str], metric: str = "mase") -> list[str]:
    """Candidates ordered by their mean backtest ``metric`` across many series (best first)."""
    return list(panel_scores(candidate_metrics, metric))
