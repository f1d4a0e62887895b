"""A training run logs no warnings: run it as a Spark task would, in a fresh interpreter with
Python's default warning filters (pytest installs its own, so this cannot run in-process)."""
import subprocess
import sys
import textwrap

TRAIN = textwrap.dedent("""
    import logging, numpy as np, pandas as pd
    logging.basicConfig(level=logging.WARNING)
    from manymodels_assets.forecasting.candidates import CANDIDATES
    from manymodels_assets.forecasting.config import TrainingConfig
    from manymodels_assets.forecasting.scoring import forecast_series
    from manymodels_assets.forecasting.training import train_series
    rng = np.random.default_rng(0)
    n = 420
    frame = pd.DataFrame({"date": pd.date_range("2024-01-01", periods=n + 28), "price": np.where(rng.random(n + 28) < .1, 8., 10.),
                          "promo": (rng.random(n + 28) < .05).astype(int)})
    frame["units"] = rng.poisson(8 * np.resize([.7, .8, 1, 1, 1.2, 1.6, 1], n + 28)).astype(float)
    frame.loc[::4, "units"] = 0.0
    history, plan = frame.iloc[:n], frame.iloc[n:][["date", "price", "promo"]]
    for config in (TrainingConfig(candidates=tuple(CANDIDATES)), TrainingConfig()):
        row = train_series("S~I", "S", "I", history, "D", config, calendar=plan)
        assert row["status"] == "ok", row
        forecast_series(row, 28)
    weekly = pd.DataFrame({"date": pd.date_range("1990-01-04", periods=110, freq="7D"), "units": rng.poisson(50, 110) * 1.0})
    forecast_series(train_series("S~I", "S", "I", weekly, "W-WED", TrainingConfig(candidates=tuple(CANDIDATES))), 12)
    print("trained")
""")


def test_a_training_run_logs_no_warnings():
    done = subprocess.run([sys.executable, "-W", "default", "-c", TRAIN], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip() == "trained"
    assert done.stderr == "", done.stderr[-3000:]


def test_a_model_set_of_flat_series_reports_without_warnings():
    """A flat series has no MASE (its seasonal-naive scale is zero) and no backtested coverage;
    a run that retrains only such series must not log numpy's 'Mean of empty slice' for them."""
    import warnings

    import numpy as np
    import pandas as pd

    from manymodels_assets.assets import report
    from manymodels_assets.forecasting import model_sets
    from manymodels_assets.forecasting.config import TrainingConfig
    from manymodels_assets.forecasting.training import train_series
    from manymodels_assets.schemas import MODEL_SET

    flat = pd.DataFrame({"date": pd.date_range("2023-01-01", periods=100), "units": 4.0})
    row = train_series("S~I", "S", "I", flat, "D", TrainingConfig())
    doubles = [c for c, t in MODEL_SET.types().items() if t == "double" and c in row]
    summary = pd.DataFrame([row]).astype({c: float for c in doubles})  # as the model set table stores it
    assert row["status"] == "ok" and np.isnan(summary["mase"][0]) and np.isnan(summary["interval_coverage"][0])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        aggregate = model_sets.aggregate_metrics(summary)
        metadata = report.model_set_metadata(summary, None, ["ets"])
    assert "median_mase" not in aggregate and "mean_mase" not in aggregate and aggregate["median_wape"] == 0.0
    assert np.isnan(metadata["median_mase"]) and metadata["median_wape"] == 0.0
