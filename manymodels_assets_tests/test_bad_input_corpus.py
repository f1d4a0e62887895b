"""The hostile landing zone of corpus.py through the real graph: each file gets its expected
outcome, every good row arrives exactly once and nothing else does, and every series that
arrives is trained, scored and loaded with finite numbers."""
import math
import os

import dagster as dg
import fsspec
import pandas as pd
import pytest

from manymodels_assets import landing
from manymodels_assets.definitions import build_definitions
from manymodels_assets.demo import run_all, run_job
from manymodels_assets.forecasting import status
from manymodels_assets.forecasting.keys import encode_key
from manymodels_assets.settings import Settings
from manymodels_assets_tests import corpus

FILE_CHECKS = [c for c in corpus.cases() if c.outcome == "quarantined" and c.name != "every row bad"]


def test_the_corpus_has_thirty_kinds_or_more():
    kinds = corpus.cases()
    assert len(kinds) >= 30 and {c.outcome for c in kinds} == {"accepted", "quarantined", "rejected"}


@pytest.mark.parametrize("case", FILE_CHECKS, ids=[c.name for c in FILE_CHECKS])
def test_a_file_that_cannot_be_read_as_its_feed_is_refused_with_its_reason(tmp_path, case):
    folder = tmp_path / case.feed / case.drop
    folder.mkdir(parents=True)
    (folder / case.file).write_bytes(case.content)
    feed = {f.name: f for f in landing.FEEDS}[case.feed]
    [f] = landing.list_files(fsspec.filesystem("file"), str(tmp_path), feed)
    types, reason = landing.inspect_file(fsspec.filesystem("file"), f)
    assert types is None and case.reason in reason


@pytest.fixture(scope="module")
def graph(tmp_path_factory):
    home = tmp_path_factory.mktemp("corpus")
    settings = Settings.from_env({"MANYMODELS_HOME": str(home), "MANYMODELS_SPARK_MASTER": "local[2]",
                                  "MANYMODELS_SPARK_DRIVER_MEMORY": "2g"})
    landing_dir = os.path.join(settings.lake_root, "landing")
    data = corpus.write(landing_dir)
    defs = build_definitions(settings)
    (home / "dagster").mkdir()
    with dg.instance_for_test(temp_dir=str(home / "dagster")) as instance:
        run_all(defs, instance, log=lambda _: None)
        yield defs, instance, landing_dir, data


def _raw(defs) -> pd.DataFrame:
    lake = defs.resources["lake"]
    raw = pd.read_parquet(lake.uri("raw/sales", lake.current_version("raw/sales")))
    return raw[["store_id", "item_id", "date", "units"]].sort_values(["store_id", "item_id", "date"]) \
        .reset_index(drop=True)


@pytest.mark.integration
def test_every_file_gets_its_outcome(graph):
    _, _, landing_dir, data = graph
    for case in data.cases:
        in_landing = os.path.join(landing_dir, case.feed, case.drop, case.file)
        q = os.path.join(landing_dir, "quarantine", case.feed, case.drop)
        if case.outcome == "quarantined":
            assert not os.path.exists(in_landing), case.name
            reason = open(os.path.join(q, case.file + ".reason.txt")).read()
            assert case.reason in reason and f"{case.feed}/{case.drop}/{case.file}" in reason, case.name
            assert os.path.exists(os.path.join(q, case.file)), case.name  # moved, never deleted
        else:
            assert os.path.exists(in_landing), case.name
        rejected = [f for f in (os.listdir(q) if os.path.isdir(q) else [])
                    if f.startswith(case.file + ".") and f.endswith(".rejected.csv")]
        if case.outcome == "rejected":
            assert len(rejected) == 1, (case.name, sorted(os.listdir(q)) if os.path.isdir(q) else None)
            [name] = rejected
            rows = pd.read_csv(os.path.join(q, name), dtype=str, keep_default_na=False)
            assert sorted(int(r) for r in rows["row"]) == sorted(case.rejected), case.name
            for r, words in case.rejected.items():
                assert words in rows.loc[rows["row"] == str(r), "problem"].iloc[0], (case.name, r)
            for r, (column, value) in case.values.items():  # the value is shown as it arrived
                shown = rows.loc[rows["row"] == str(r), column].iloc[0]
                assert _same(shown, value), (case.name, r, column, shown, value)
        else:
            assert not rejected, case.name


def _same(shown: str, value) -> bool:
    if isinstance(value, str) and not value.strip():
        return not shown.strip()
    try:
        a, b = float(shown), float(value)
    except ValueError:
        return shown.strip() == str(value).strip()
    return a == b or (math.isnan(a) and math.isnan(b))


@pytest.mark.integration
def test_in_file_conflicts_are_counted(graph):
    _, instance, _, data = graph
    md = instance.get_latest_materialization_event(dg.AssetKey("raw_sales")).asset_materialization.metadata
    # exactly one store, item and date is given twice with different units in one file (G8)
    assert md["conflicting_rows"].value == 1
    assert any(c.name.startswith("conflicting rows in one file") for c in data.cases)


@pytest.mark.integration
def test_every_good_row_arrives_exactly_once_and_nothing_else(graph):
    defs, _, _, data = graph
    pd.testing.assert_frame_equal(_raw(defs), data.good_rows, check_dtype=False)


@pytest.mark.integration
def test_every_series_is_trained_and_loaded_with_finite_numbers(graph):
    defs, instance, _, data = graph
    pairs = data.good_rows[["store_id", "item_id"]].drop_duplicates()
    keys = sorted(encode_key(s, i) for s, i in pairs.itertuples(index=False))
    assert sorted(instance.get_dynamic_partitions("store_item")) == keys
    training = defs.resources["training_registry"]
    lake = defs.resources["lake"]
    models = pd.read_parquet(lake.uri("models", training.latest_version().tags["model_set"]),
                             columns=["key", "status", "last_date"])
    assert sorted(models["key"]) == keys and set(models["status"]) <= set(status.WITH_MODEL)
    assert models["last_date"].max() <= corpus.today()  # no row from 2100 stretched a series
    wh = defs.resources["warehouse"].query("SELECT store_id, item_id, yhat, yhat_lower, yhat_upper FROM forecasts")
    assert {(s, i) for s, i in zip(wh["store_id"], wh["item_id"])} == set(pairs.itertuples(index=False, name=None))
    assert all(math.isfinite(v) for col in ("yhat", "yhat_lower", "yhat_upper") for v in wh[col])
    assert (wh.groupby(["store_id", "item_id"]).size() == 28).all()


@pytest.mark.integration
def test_a_second_ingest_changes_nothing(graph):
    defs, instance, landing_dir, _ = graph
    before = _raw(defs)
    listing = sorted(os.path.join(d, f) for d, _, fs in os.walk(os.path.join(landing_dir, "quarantine")) for f in fs)
    run_job(defs, instance, "ingest_pipeline", {})
    pd.testing.assert_frame_equal(_raw(defs), before)
    after = sorted(os.path.join(d, f) for d, _, fs in os.walk(os.path.join(landing_dir, "quarantine")) for f in fs)
    assert after == listing
