"""How learn_prior draws the groups of series its ridge penalty is chosen on, and how far the
learned combination's backtest figures move with the draw. Decided on backtests only.

Per panel, the pipeline's first run (no prior yet) trains the 300 sampled series as
benchmarks/accuracy.py's first run does and keeps their candidates' backtests; the held-out
periods are cut off before. The combination learned from those backtests is scored with the two
protocols of benchmarks/reconciliation.py (series halves, time forward) under ``--draws``
different draws of learn_prior's groups (a salt in the hash that orders the series), for:

- ``2 halves, text``: two halves, series ordered by a hash of the payload's text. This was the
  rule before this benchmark; the text holds the candidates' names, so renaming or adding a
  candidate redrew the halves and could move the penalty;
- ``2 halves, content``: the same ordered by the backtests' content alone;
- ``K groups, content``: K-fold cross-validation over the series (K = 4, 5, 8), content order.

Printed per panel: each protocol's mean, lowest and highest over the draws, and how often each
penalty was chosen (in the time-forward fits). The rule, fixed before the figures: adopt a way
of drawing when its mean is no more than 0.1% worse than the old rule's on both protocols of
every panel and its spread (highest - lowest) of tourism's time-forward figure is smaller.
Five groups is ``panel.PENALTY_FOLDS``; the figures and how they met the rule are in
docs/accuracy.md ("How the penalty's groups are drawn").

    .venv/bin/python -m benchmarks.penalty_groups [--oj ../shared/data/orangeJuice.rda] \\
        [--tourism ../shared/data/tourism.rda] [--daily 200] [--draws 8] [--workers 2]

The data's licences differ from the project's: the files are read in place, never copied.
"""
from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # before numpy
os.environ.setdefault("OMP_NUM_THREADS", "1")

import argparse  # noqa: E402
import json  # noqa: E402
import time  # noqa: E402
from collections import Counter  # noqa: E402
from concurrent.futures import ProcessPoolExecutor  # noqa: E402

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from benchmarks import panels as P  # noqa: E402
from benchmarks.evaluate import first_run_backtests  # noqa: E402
from benchmarks.reconciliation import protocols  # noqa: E402
from manymodels_assets.forecasting import panel as combination  # noqa: E402

WAYS = {"2 halves, text (before)": (2, "text"), "2 halves, content": (2, "content"),
        "4 groups, content": (4, "content"), "5 groups, content (now)": (5, "content"),
        "8 groups, content": (8, "content")}
"""Ways of drawing the penalty's groups: (groups, what orders the series)."""


def learner(groups: int, by: str, salt: str):
    """learn_prior with ``groups`` groups, series ordered by a hash of ``by`` ("text": the payload's
    JSON, names included; "content": what the product orders by) and ``salt`` (draw 0: none)."""
    def order(p: dict):
        if by == "content" and not salt:
            return combination._content_digest(p)  # the product's own draw
        text = json.dumps(p) if by == "text" else "".join(combination._content_digest(p))
        return combination._digest(salt + text)

    def learn(payloads: list[dict]) -> dict | None:
        prior = combination.learn_prior([json.dumps(p) for p in payloads], [], folds=groups, order=order)
        return prior.meta or None
    return learn


def compare(payloads: dict[str, dict], draws: int) -> pd.DataFrame:
    """One row per way of drawing: each protocol's mean, lowest and highest over the draws."""
    keys = sorted(payloads)
    names = sorted({n for p in payloads.values() for n in p["forecast"]})
    later = sorted({f for p in payloads.values() for f in p["fold"]})[1:]
    rows = []
    for way, (groups, by) in WAYS.items():
        halves, forward, penalties = [], [], Counter()
        for d in range(draws):
            learn = learner(groups, by, str(d) if d else "")
            h, f, metas = protocols(payloads, keys, names, later, learn=learn)
            halves.append(h)
            forward.append(float(np.mean(list(f.values()))))
            penalties.update(m["penalty"] for m in metas.values() if m)
        rows.append({"way": way, "halves mean": np.mean(halves), "halves low": min(halves),
                     "halves high": max(halves), "forward mean": np.mean(forward), "forward low": min(forward),
                     "forward high": max(forward),
                     "penalties (time forward)": ", ".join(f"{k:g} x{v}" for k, v in sorted(penalties.items()))})
    return pd.DataFrame(rows)


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    P.add_panel_arguments(p)
    p.add_argument("--draws", type=int, default=8)
    p.add_argument("--workers", type=int, default=2)
    args = p.parse_args(argv)
    started = time.time()
    with ProcessPoolExecutor(args.workers) as pool:
        for panel in P.requested(args):
            payloads = first_run_backtests(panel, pool)
            print(f"\n## {panel.name}: {len(payloads)} series' backtests, {args.draws} draws\n\n"
                  + compare(payloads, args.draws).to_markdown(index=False, floatfmt=".4f"), flush=True)
    print(f"\nwall time {time.time() - started:.0f} s")


if __name__ == "__main__":
    main()
