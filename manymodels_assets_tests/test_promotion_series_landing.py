import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import fsspec

from manymodels_assets import landing
import json

import pytest

from manymodels_assets.forecasting.candidates import fit_predict
from manymodels_assets.forecasting.challenge import challenge
from manymodels_assets.forecasting.promotion import PromotionRule, decide_promotions, margin_summary
from manymodels_assets.forecasting.serialization import dump_model
from manymodels_assets.forecasting.inference import infer_freq
from manymodels_assets.forecasting.series import regularize


def test_promotion_decisions_and_reasons():
    new = pd.DataFrame({
        "key": ["wins", "loses", "too_new", "failed", "first_good", "first_bad", "first_cold", "stopped", "gated",
                "revived", "still_quiet", "first_fallback"],
        "status": ["ok", "ok", "ok", "failed", "ok", "ok", "cold_start", "inactive", "ok", "ok", "ok", "fallback"],
        "wape": [0.5, 0.1, 0.1, np.nan, 0.5, 0.5, np.nan, np.nan, 0.9, 0.7, 0.7, np.nan],
        "mase": [0.9, 0.5, 0.5, np.nan, 0.8, 1.3, np.nan, np.nan, 0.95, 1.2, 0.9, np.nan],
        "error": [None, None, None, "boom", None, None, None, None, None, None, None, "naive: boom"],
    })
    champions = pd.DataFrame({
        "key": ["wins", "loses", "too_new", "failed", "stopped", "gated", "revived", "still_quiet"],
        "status": ["ok"] * 6 + ["inactive"] * 2, "points": [12, 12, 0, 12, 12, 12, 3, 3],
        "champion_score": [1.0, 0.8, np.nan, 0.9, 2.0, 1.0, 1.0, 0.0],
        "challenger_score": [0.8, 1.0, np.nan, np.nan, 0.0, 0.5, 1.0, 0.3],
        "note": ["", "", "no new data since the production model was trained", "", "", "", "", ""]})
    d = decide_promotions(new, champions, PromotionRule()).set_index("key")
    # champion against challenger on the newest data, whatever the absolute backtest numbers say
    assert d.loc["wins", "decision"] == "promoted" and d.loc["wins", "margin"] == pytest.approx(0.2)
    assert "beats the production model on the 12 newest periods: mase 0.8 vs 1.0" in d.loc["wins", "reason"]
    assert d.loc["loses", "decision"] == "kept" and d.loc["loses", "failed_check"] == "challenger"
    assert d.loc["loses", "margin"] == pytest.approx(-0.25)
    assert d.loc["too_new", "decision"] == "kept" and d.loc["too_new", "failed_check"] == "window"
    assert "no new data" in d.loc["too_new", "reason"]
    assert d.loc["failed", "decision"] == "kept" and "boom" in d.loc["failed", "reason"]
    # a first model is deployed when it beats seasonal naive
    assert d.loc["first_good", "decision"] == "promoted" and "< 1.0" in d.loc["first_good", "reason"]
    assert d.loc["first_bad", "decision"] == "provisional" and d.loc["first_bad", "failed_check"] == "first_model"
    assert d.loc["first_cold", "decision"] == "promoted" and d.loc["stopped", "decision"] == "promoted"
    # a stand-in has no backtest: its reason says what it is, not that it beat seasonal naive
    assert d.loc["first_fallback", "decision"] == "promoted"
    assert d.loc["first_fallback", "reason"] == "first model: a fallback (no candidate could be backtested)"
    # sales came back: the zero forecast goes, even when the new model's fold (trained on the quiet
    # stretch) only ties it on the newest periods
    assert d.loc["revived", "decision"] == "promoted" and d.loc["revived", "reason"].startswith("sales returned")
    # ... but not when the zero forecast was right on them (a rule change, not sales, revived it)
    assert d.loc["still_quiet", "decision"] == "kept" and d.loc["still_quiet", "failed_check"] == "challenger"
    # absolute thresholds are extra gates when set
    gated = decide_promotions(new, champions, PromotionRule(min_accuracy=0.8)).set_index("key")
    assert gated.loc["gated", "decision"] == "kept" and gated.loc["gated", "failed_check"] == "accuracy"
    assert gated.loc["wins", "decision"] == "kept"  # 1 - WAPE 0.5 < 0.8
    strict = decide_promotions(new, champions, PromotionRule(deploy_first_model=False, min_improvement=0.3))
    strict = strict.set_index("key")
    assert strict.loc["first_bad", "decision"] == "rejected" and strict.loc["wins", "decision"] == "kept"
    summary = margin_summary(d.reset_index())
    assert (summary["compared"], summary["wins"], summary["losses"]) == (6, 3, 2)  # and the tie


def _row(history, model, last, backtest=None, **extra):
    return {"model": dump_model(model), "last_date": history["date"].iloc[last], "freq": "D", "season_length": 7,
            "calendar_regressors": None, "backtest": backtest, **extra}


def test_champion_and_challenger_are_scored_on_the_newest_data_neither_trained_on():
    rng = np.random.default_rng(0)
    n, h = 200, 28
    units = 20 + 5 * np.resize([0, 1, 2, 3, 4, 5, 6], n) + rng.normal(0, 0.5, n)
    history = pd.DataFrame({"date": pd.date_range("2024-01-01", periods=n), "units": units})
    y = pd.Series(units, index=pd.period_range("2024-01-01", periods=n, freq="D"))
    champion_end = n - 11  # the production model was trained 10 days before the new data ends
    naive, _ = fit_predict("naive", y.iloc[:champion_end], h, 7)  # a poor champion for a weekly pattern
    # the challenger's last backtest fold: seasonal naive from n - h
    _, fold = fit_predict("seasonal_naive", y.iloc[: n - h], h, 7)
    backtest = json.dumps({"starts": [str(y.index[n - h])], "forecast": [fold.tolist()]})
    scores = challenge(history, _row(history, naive, champion_end - 1), {"freq": "D", "backtest": backtest})
    assert scores["points"] == 11 and scores["window_start"] == str(y.index[champion_end])
    assert scores["challenger_score"] < scores["champion_score"]
    # the window is the fold's periods after the champion's last date, scored like this by hand
    actual, scale = units[champion_end:], np.mean(np.abs(units[7:champion_end] - units[:champion_end - 7]))
    assert scores["challenger_score"] == pytest.approx(np.mean(np.abs(actual - fold[h - 11:])) / scale)
    naive_forecast = np.full(11, units[champion_end - 1])
    assert scores["champion_score"] == pytest.approx(np.mean(np.abs(actual - naive_forecast)) / scale)
    # no data after the champion: nothing to compare on
    same = challenge(history, _row(history, naive, n - 1), {"freq": "D", "backtest": backtest})
    assert same["points"] == 0 and "no new data" in same["note"]
    assert challenge(history, _row(history, naive, n - 20), {"freq": "D", "backtest": None})["points"] == 0


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


def test_a_first_promotion_decides_without_a_warning():
    """No production model yet: the champions table is empty (object columns after the merge)."""
    import warnings

    new = pd.DataFrame({"key": ["a", "b"], "status": ["ok", "ok"], "wape": [0.3, 0.5], "mase": [0.8, 1.2],
                        "error": [None, None]})
    champions = pd.DataFrame(columns=["key", "status", "points", "champion_score", "challenger_score", "note"],
                             dtype=object)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        d = decide_promotions(new, champions, PromotionRule()).set_index("key")
    assert list(d["decision"]) == ["promoted", "provisional"] and list(d["points"]) == [0, 0]


def test_a_production_model_at_another_frequency_is_replaced_not_challenged():
    daily = {"model": b"", "last_date": pd.Timestamp("2024-06-15").date(), "season_length": 7,
             "calendar_regressors": None}  # trained at days up to a Saturday
    weeks = pd.date_range("2024-01-04", "2024-06-13", freq="W-WED")  # the series rebuilt at weeks
    weekly = pd.DataFrame({"date": weeks, "units": 70.0})
    result = challenge(weekly, {**daily, "freq": "D"}, {"freq": "W-WED", "backtest": json.dumps(
        {"starts": [str(pd.Period(weeks[-12], "W-WED"))], "forecast": [[70.0] * 12]})})
    assert result["comparable"] is False and result["points"] == 0
    assert result["note"].startswith("the frequency changed from D to W-WED")
    new = pd.DataFrame({"key": ["k"], "status": ["ok"], "wape": [0.5], "mase": [1.4], "error": [None]})
    d = decide_promotions(new, pd.DataFrame([{"key": "k", "status": "ok", **result}]), PromotionRule()).iloc[0]
    assert d["decision"] == "promoted" and d["reason"].startswith("the frequency changed from D to W-WED")


@pytest.mark.parametrize("champion_version, new_version, comparable, note", [
    ("a1", "a1", True, "no new data since the production model was trained"),
    ("a1", "b2", False, "its inputs changed with no new periods to compare on"),  # a new plan, a corrected history
])
def test_a_production_model_on_changed_inputs_is_no_rival(champion_version, new_version, comparable, note):
    days = pd.date_range("2024-01-01", periods=100, freq="D")
    history = pd.DataFrame({"date": days, "units": 5.0})
    champion = {"model": b"", "last_date": days[-1].date(), "freq": "D", "season_length": 7,
                "calendar_regressors": None, "data_version": champion_version}
    new = {"freq": "D", "data_version": new_version,
           "backtest": json.dumps({"starts": [str(pd.Period(days[80], "D"))], "forecast": [[5.0] * 20]})}
    result = challenge(history, champion, new)
    assert result["comparable"] is comparable and result["points"] == 0 and result["note"].startswith(note)
