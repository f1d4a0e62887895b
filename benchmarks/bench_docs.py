"""docs/benchmarks.md from the benchmark's results (``python -m benchmarks.bench --write-docs``).

The figures are rewritten on every run; the section between the NOTES markers is kept, so what
a person wrote about a run (findings, what stood in the way) survives the next ``--write-docs``
until they change it.
"""
from __future__ import annotations

import os
import re

BEGIN, END = "<!-- notes: kept by --write-docs -->", "<!-- end of notes -->"

HOW = """How to run it, from a fresh clone (installs what is missing first, like `make test`):

```bash
make bench                 # quick: 1,000 series x 4,000 days; both instances, MLflow server cycle, side by side
make bench BENCH=full      # 10,000 series x 4,000 days (40 M rows); sqlite and PostgreSQL instances
make bench BENCH_ARGS="--write-docs"   # also rewrite this page
.venv/bin/python -m benchmarks.bench --help
```

Data and run homes live under `.manymodels/bench-<size>/` (generated data is reused; every run
starts from a fresh lake, registry, warehouse and Dagster instance). Each variant runs in a process
of its own; its process tree (driver, Spark JVM, Python workers, PostgreSQL or mlflow server) is
sampled every 0.5 s with psutil for CPU seconds and peak RSS.

How the figures are read:

- **wall, CPU, peak RSS** per run: the process tree of the variant (CPU of exited workers is
  counted through their parent). **load 1-min (others)**: the mean load average during the run,
  and that minus this benchmark's own CPU per second: what other jobs on the machine added.
- **run creation**: from asking for the run until RUN_START, which includes writing the
  ASSET_MATERIALIZATION_PLANNED events. **materialization events**: from a step's STEP_OUTPUT to
  its STEP_SUCCESS, read back from the event log (creating and storing one event per partition).
  **Dagster outside asset bodies**: the run's wall minus its asset bodies (STEP_START to
  STEP_OUTPUT), i.e. every second Dagster spends around the work.
- **inside the bodies**: the `seconds_<stage>` metadata the assets report; the models' arithmetic
  is the model set's Σ`fit_seconds` (read from the lake) over the Spark workers; Spark per group,
  pickling and sktime's checks come from probes run after the cycle on the same data.
- **Targets** are the issue's, for 10,000 series on 2 cores; at the quick size the time targets
  are scaled linearly by series, which counts fixed costs (starting Spark, a job's start) against
  a smaller run.
"""


def _section(size: str) -> tuple[str, str]:
    return f"<!-- size: {size} -->", f"<!-- end of size: {size} -->"


def write_docs(results: dict, text: str, root: str) -> str:
    """Rewrite this size's section of docs/benchmarks.md; the other sizes' sections and the notes stay."""
    path = os.path.join(root, "docs", "benchmarks.md")
    old = open(path).read() if os.path.exists(path) else ""
    notes = f"{BEGIN}\n## Notes\n\n(none yet)\n{END}"
    found = re.search(re.escape(BEGIN) + r".*?" + re.escape(END), old, flags=re.S)
    notes = found.group(0) if found else notes
    sections = {}
    for size in ("full", "quick", "tiny"):
        begin, end = _section(size)
        kept = re.search(re.escape(begin) + r".*?" + re.escape(end), old, flags=re.S)
        if kept:
            sections[size] = kept.group(0)
    begin, end = _section(results["size"])
    # one level down: each size is a section of the page
    body = re.sub(r"^(#+) ", r"#\1 ", text.strip(), flags=re.M)
    sections[results["size"]] = f"{begin}\n{body}\n{end}"
    ordered = [sections[s] for s in ("full", "quick", "tiny") if s in sections]
    with open(path, "w") as f:
        f.write("# manymodels benchmarks\n\n" + HOW + "\n" + "\n\n".join(ordered) + f"\n\n{notes}\n")
    return path
