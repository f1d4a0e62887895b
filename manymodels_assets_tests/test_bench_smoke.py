"""`make bench` keeps working: the benchmark end to end at a tiny size (10 series x 200 days, the
default instance, no side-by-side, no partitions probe) in a temporary home. It checks that the
benchmark runs and prints its tables, not what the figures are: it is not a timed test."""
import json
import os
import subprocess
import sys

import pytest

from manymodels_assets_tests.dagster_procs import ROOT

pytestmark = pytest.mark.integration


def test_the_benchmark_runs_end_to_end_and_prints_its_tables(tmp_path):
    home = tmp_path / "bench"
    out = subprocess.run([sys.executable, "-m", "benchmarks.bench", "--size", "tiny", "--stores", "2", "--items", "5",
                          "--home", str(home)], cwd=ROOT, capture_output=True, text=True, timeout=600,
                         env={**os.environ, "PYSPARK_PYTHON": sys.executable})
    logs = "".join(open(home / "logs" / f).read()[-3000:] for f in os.listdir(home / "logs") if f.endswith(".log")) \
        if (home / "logs").exists() else ""
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:] + logs
    text = out.stdout
    assert "FAILED" not in text and "**failed**" not in text, text[-3000:] + logs
    for stage in ("ingest", "training", "promotion", "scoring"):
        assert f"| {stage} |" in text, text[-3000:]
    assert "## Targets (issue 11)" in text
    for figure in ("trained_models (training run - series)", "Dagster outside asset bodies",
                   "framework cost per series", "peak RSS of any process"):
        assert figure in text, text[-3000:]
    results = json.load(open(home / "results.json"))
    [variant] = results["variants"]
    assert variant["series"] == 10 and variant["model_set_figures"]["series"] == 10
    assert variant["model_set_figures"]["fit_seconds_sum"] > 0
    # the Dagster figures are read back from the event log: one materialization per partition and asset
    training = next(s for s in variant["stages"] if s["stage"] == "training")
    assert training["events"]["materializations"] == 2 * 10
    assert training["cpu_s"] > 0 and training["peak_rss_gb"] > 0
    assert not any("error" in p for p in variant["probes"].values() if isinstance(p, dict))
    # an interrupted benchmark resumes: the completed variant's figures are read, not run again
    again = subprocess.run([sys.executable, "-m", "benchmarks.bench", "--size", "tiny", "--stores", "2", "--items", "5",
                            "--home", str(home), "--resume"], cwd=ROOT, capture_output=True, text=True, timeout=300,
                           env={**os.environ, "PYSPARK_PYTHON": sys.executable})
    assert again.returncode == 0, again.stdout[-3000:] + again.stderr[-3000:]
    assert "reusing the figures of an earlier run" in again.stdout and "reused with `--resume`" in again.stdout
    assert json.load(open(home / "results.json"))["variants"][0]["stages"] == variant["stages"]
