import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import fsspec

from manymodels_assets import landing
from manymodels_assets.forecasting.promotion import PromotionRule, decide_promotions
from manymodels_assets.forecasting.frequency import infer_freq
from manymodels_assets.forecasting.series import regularize


def test_promotion_decisions_and_reasons():
    new = pd.DataFrame({
        "key": ["good", "bad_acc", "bad_mase", "failed", "first"],
        "status": ["ok", "ok", "ok", "failed", "ok"],
        "wape": [0.1, 0.5, 0.1, np.nan, 0.5],
        "mase": [0.5, 0.5, 1.2, np.nan, 0.9],
        "error": [None, None, None, "boom", None],
    })
    d = decide_promotions(new, ["good", "bad_acc", "bad_mase", "failed"], PromotionRule()).set_index("key")
    assert d.loc["good", "decision"] == "promoted"
    assert d.loc["bad_acc", "decision"] == "kept" and d.loc["bad_acc", "failed_check"] == "accuracy"
    assert "0.5 < 0.8" in d.loc["bad_acc", "reason"]
    assert d.loc["bad_mase", "decision"] == "kept" and "MASE 1.2 >= 1.0" in d.loc["bad_mase", "reason"]
    assert d.loc["failed", "decision"] == "kept" and "boom" in d.loc["failed", "reason"]
    assert d.loc["first", "decision"] == "provisional"
    strict = decide_promotions(new, [], PromotionRule(deploy_first_model=False)).set_index("key")
    assert strict.loc["first", "decision"] == "rejected" and strict.loc["good", "decision"] == "promoted"


def test_regularize_fills_gaps_and_extends_to_the_panel_end():
    raw = pd.DataFrame({"date": pd.to_datetime(["2024-01-01", "2024-01-03", "2024-01-03"]),
                        "units": [1.0, 2.0, 3.0], "price": [2.0, 4.0, 4.0], "promo": [0, 1, 0]})
    out = regularize(raw, "D", pd.Timestamp("2024-01-05"))
    assert list(out["units"]) == [1.0, 0.0, 5.0, 0.0, 0.0]
    assert list(out["price"]) == [2.0, 2.0, 4.0, 4.0, 4.0]
    assert list(out["promo"]) == [0, 0, 1, 0, 0]


def test_regularize_can_interpolate_unreported_periods():
    raw = pd.DataFrame({"date": pd.to_datetime(["2024-01-01", "2024-01-03"]), "units": [3.0, 15.0]})
    out = regularize(raw, "D", pd.Timestamp("2024-01-04"), fill="interpolate")
    # log1p-linear between 3 and 15: expm1((log 4 + log 16) / 2) = 7; after the last row: 0
    np.testing.assert_allclose(out["units"], [3.0, 7.0, 15.0, 0.0])


def test_infer_freq():
    assert infer_freq(pd.date_range("2024-01-01", periods=10, freq="D")) == "D"
    weekly = pd.date_range("1989-09-14", periods=10, freq="7D")  # Thursdays
    freq = infer_freq(weekly)
    assert freq == "W-WED"
    out = regularize(pd.DataFrame({"date": weekly, "units": 1.0}), freq, weekly[-1])
    assert list(out["date"]) == list(weekly)


def _write(path, frame):
    pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), path)


def test_landing_inspection_and_quarantine(tmp_path):
    fs = fsspec.filesystem("file")
    drop = tmp_path / "landing" / "sales" / "20240101T000000Z"
    drop.mkdir(parents=True)
    good = pd.DataFrame({"store_id": ["1"], "item_id": ["2"], "date": ["2024-01-01"], "units": [1.0]})
    _write(drop / "good.parquet", good)
    _write(drop / "no_units.parquet", good.drop(columns="units"))
    _write(drop / "text_units.parquet", good.assign(units="many"))
    (drop / "notes.txt").write_text("hello")
    (drop / "_tmp-part.parquet").write_text("in flight")
    files = {f.name: f for f in landing.list_files(fs, str(tmp_path / "landing"))}
    assert sorted(files) == ["good.parquet", "no_units.parquet", "notes.txt", "text_units.parquet"]
    assert landing.inspect_file(fs, files["good.parquet"])[1] is None
    assert "missing required column(s) ['units']" in landing.inspect_file(fs, files["no_units.parquet"])[1]
    assert "'units' has type string" in landing.inspect_file(fs, files["text_units.parquet"])[1]
    assert "unsupported file type" in landing.inspect_file(fs, files["notes.txt"])[1]
    moved = landing.quarantine(fs, str(tmp_path / "landing" / "quarantine"), files["no_units.parquet"], "missing units")
    assert not (drop / "no_units.parquet").exists()
    assert pd.read_parquet(moved).equals(good.drop(columns="units"))
    assert "missing units" in open(moved + ".reason.txt").read()


def test_a_second_quarantine_of_the_same_name_keeps_the_first(tmp_path):
    fs = fsspec.filesystem("file")
    drop = tmp_path / "landing" / "sales" / "d1"
    quarantine = str(tmp_path / "landing" / "quarantine")
    drop.mkdir(parents=True)
    moved = []
    for content in (b"first", b"second"):
        (drop / "x.parquet").write_bytes(content)
        [f] = landing.list_files(fs, str(tmp_path / "landing"))
        moved.append(landing.quarantine(fs, quarantine, f, f"reason {content.decode()}"))
    assert moved[0] != moved[1]
    assert [open(p, "rb").read() for p in moved] == [b"first", b"second"]
    assert "reason first" in open(moved[0] + ".reason.txt").read()
    assert "reason second" in open(moved[1] + ".reason.txt").read()
