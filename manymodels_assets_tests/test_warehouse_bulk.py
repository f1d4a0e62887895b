"""The warehouse's bulk path on real servers: rows staged as parquet in the lake, staging tables,
then one swap transaction behind a lock, and the Power BI views, on PostgreSQL (a server started
here) and SQLite, both through their ODBC drivers. The Synapse dialect, whose swap these same
steps are, is in test_warehouse_synapse.py.
"""
import datetime as dt
import logging
import threading
import time

import pandas as pd
import pyodbc
import pytest

from manymodels_assets.resources.lake import LakeResource
from manymodels_assets.resources.warehouse import WarehouseResource
from manymodels_assets.resources.warehouse_sql import WarehouseSQL
from manymodels_assets_tests.servers import postgres_server

pytestmark = pytest.mark.integration

D0 = dt.date(2025, 3, 1)
SERIES = [("S1", "I1"), ("S1", "I2")]


def forecasts(series, origin: dt.date, steps=3, value=10.0, scored="2025-03-01 06:00:00", version="3"):
    return pd.DataFrame([{"store_id": s, "item_id": i, "forecast_date": origin + dt.timedelta(days=k + 1),
                          "step": k + 1, "yhat": value + k, "yhat_lower": value + k - 2, "yhat_upper": value + k + 2,
                          "forecaster": "ets", "status": "ok", "model_set": "ms-1", "production_version": version,
                          "scored_at": pd.Timestamp(scored)} for s, i in series for k in range(steps)])


def keys(series):
    return pd.DataFrame(series, columns=["store_id", "item_id"])


def actuals(series, days: list[dt.date], units=11.0):
    return pd.DataFrame([{"store_id": s, "item_id": i, "date": d, "units": units + n}
                         for s, i in series for n, d in enumerate(days)])


@pytest.fixture(scope="module")
def postgres():
    with postgres_server() as server:
        yield server


def pg_odbc(postgres, db: str) -> str:
    port, user = postgres
    return f"Driver={{PostgreSQL Unicode}};Server=127.0.0.1;Port={port};Database={db};Uid={user};"


@pytest.fixture(params=["sqlite", "postgresql"])
def warehouse(request, tmp_path):
    if request.param == "sqlite":
        return WarehouseResource(connection_string=f"Driver={{SQLite3}};Database={tmp_path / 'w.db'}")
    postgres = request.getfixturevalue("postgres")
    db = f"b_{abs(hash(str(tmp_path))) % 10**8}"
    admin = pyodbc.connect(pg_odbc(postgres, "postgres"), autocommit=True)
    admin.cursor().execute(f"CREATE DATABASE {db}")
    admin.close()
    return WarehouseResource(connection_string=pg_odbc(postgres, db), dialect="postgresql")


@pytest.fixture
def lake(tmp_path):
    return LakeResource(root=str(tmp_path / "lake"))


def steps_sent(caplog) -> list[str]:
    return [r.getMessage().split(": ")[1] for r in caplog.records
            if r.name == "manymodels_assets.resources.warehouse" and r.getMessage().count(": ") >= 1]


def test_the_load_stages_parquet_then_swaps_in_one_transaction_behind_the_lock(warehouse, lake, caplog):
    caplog.set_level(logging.DEBUG, logger="manymodels_assets.resources.warehouse")
    assert warehouse.replace_forecasts(forecasts(SERIES, D0), keys(SERIES), lake=lake, load_id="run1") == 6
    sent = steps_sent(caplog)
    swap = [s.step for s in WarehouseSQL(warehouse.dialect).swap()]
    # prepare (staging tables filled from the staged parquet), commit, then the swap and its commit
    start = sent.index(swap[0])
    assert sent[start:start + len(swap) + 1] == swap + ["commit"], sent
    assert {"stage keys", "stage rows", "stage actuals"} <= set(sent[:start])
    assert (swap[0] == "lock") == (warehouse.dialect == "postgresql")
    # the staged files were removed after the load
    assert not lake.fs.exists(lake.uri("warehouse", "staging")) or not lake.fs.ls(lake.uri("warehouse", "staging"))
    got = warehouse.query("SELECT store_id, item_id, COUNT(*) AS n FROM forecasts GROUP BY store_id, item_id "
                          "ORDER BY store_id, item_id")
    assert got.values.tolist() == [["S1", "I1", 3], ["S1", "I2", 3]]


def test_postgresql_and_synapse_swap_the_same_way():
    steps = {d: [s.step for s in WarehouseSQL(d).swap()] for d in ("postgresql", "synapse")}
    assert steps["postgresql"] == steps["synapse"] == ["lock", "delete forecasts", "insert forecasts",
                                                        "delete history", "insert history", "delete actuals",
                                                        "insert actuals"]
    pg, syn = WarehouseSQL("postgresql").replacements(), WarehouseSQL("synapse").replacements()
    for (pd_, pi), (sd, si) in zip(pg, syn):  # the same statements, but for the staging tables' names
        assert pd_.sql.replace("forecasts_stage_", "#forecasts_stage_") == sd.sql
        assert pi.sql.replace("forecasts_stage_", "#forecasts_stage_") == si.sql


def test_views_latest_forecast_forecast_vs_actual_and_accuracy(warehouse, lake):
    # day 0: forecasts for D1..D3; day 2: actuals of D0..D2 arrive with the forecasts for D3..D5
    warehouse.replace_forecasts(forecasts(SERIES, D0), keys(SERIES), lake=lake)
    d2 = D0 + dt.timedelta(days=2)
    sold = actuals(SERIES, [D0, D0 + dt.timedelta(days=1), d2], units=9.0)
    for _ in range(2):  # a rerun changes nothing
        warehouse.replace_forecasts(forecasts(SERIES, d2, value=20.0, scored="2025-03-03 06:00:00", version="4"),
                                    keys(SERIES), sold, lake=lake)
    latest = warehouse.query("SELECT store_id, item_id, forecast_date, production_version FROM forecasts_latest")
    assert len(latest) == 6 and set(latest["production_version"]) == {"4"}
    assert set(pd.to_datetime(latest["forecast_date"]).dt.date) == {d2 + dt.timedelta(days=k) for k in (1, 2, 3)}
    # only dates some forecast was made for are kept as actuals (D0 was never forecast)
    kept = warehouse.query("SELECT date FROM forecasts_actuals")
    assert sorted(set(pd.to_datetime(kept["date"]).dt.date)) == [D0 + dt.timedelta(days=1), d2]
    assert int(warehouse.query("SELECT COUNT(*) AS n FROM forecasts_history")["n"][0]) == 12
    vs = warehouse.query("SELECT store_id, item_id, forecast_date, step, yhat, actual, error, abs_error, in_interval "
                         "FROM forecasts_vs_actual ORDER BY store_id, item_id, forecast_date")
    # D1 (step 1: yhat 10, actual 10) and D2 (step 2: yhat 11, actual 11 -> units 9 + 1, 9 + 2)
    assert vs[["step", "yhat", "actual"]].astype(float).values.tolist() == [[1, 10, 10], [2, 11, 11]] * 2
    assert vs["abs_error"].astype(float).tolist() == [0.0] * 4 and vs["in_interval"].astype(int).tolist() == [1] * 4
    warehouse.replace_forecasts(forecasts(SERIES[:1], D0, value=7.0), keys(SERIES[:1]), lake=lake)  # restated: 7, 8
    acc = warehouse.query("SELECT store_id, item_id, forecasts, mae, wape, bias, interval_coverage "
                          "FROM forecasts_accuracy ORDER BY store_id, item_id")
    first = acc.iloc[0]
    assert (first["store_id"], first["item_id"], int(first["forecasts"])) == ("S1", "I1", 2)
    assert float(first["mae"]) == pytest.approx(3.0) and float(first["bias"]) == pytest.approx(3.0)
    assert float(first["wape"]) == pytest.approx(6.0 / 21.0)
    assert float(first["interval_coverage"]) == pytest.approx(0.0)
    assert float(acc.iloc[1]["mae"]) == pytest.approx(0.0) and float(acc.iloc[1]["interval_coverage"]) == 1.0


class _PausedBeforeCommit(WarehouseResource):
    """A load that stops inside its swap transaction, holding whatever lock it took, until released."""

    def _replace(self, cur, delete, insert):
        super()._replace(cur, delete, insert)
        if insert.step == "insert actuals":
            _PAUSE["inside"].set()
            assert _PAUSE["release"].wait(30)


_PAUSE: dict = {}


@pytest.mark.parametrize("lock", ["table", "synapse row", "none"])
def test_two_loads_of_the_same_series_at_once_on_postgresql(postgres, tmp_path, lake, monkeypatch, lock):
    db = f"c_{lock.replace(' ', '_')}_{abs(hash(str(tmp_path))) % 10**6}"
    admin = pyodbc.connect(pg_odbc(postgres, "postgres"), autocommit=True)
    admin.cursor().execute(f"CREATE DATABASE {db}")
    admin.close()
    if lock == "synapse row":  # Synapse's lock statement, verbatim, over a lock table made as PostgreSQL makes it
        conn = pyodbc.connect(pg_odbc(postgres, db), autocommit=True)
        conn.cursor().execute("CREATE TABLE forecasts_load_lock AS "
                              "SELECT 1 AS id, CAST(NULL AS TIMESTAMP) AS locked_at")
        conn.close()
        synapse_lock = WarehouseSQL("synapse").lock()
        monkeypatch.setattr(WarehouseSQL, "lock", lambda self: synapse_lock)
    elif lock == "none":  # the control: without the lock both loads' rows survive
        monkeypatch.setattr(WarehouseSQL, "lock", lambda self: None)
    _PAUSE.update(inside=threading.Event(), release=threading.Event())
    first = _PausedBeforeCommit(connection_string=pg_odbc(postgres, db), dialect="postgresql")
    second = WarehouseResource(connection_string=pg_odbc(postgres, db), dialect="postgresql")
    conn = second.connect()
    second.ensure_tables(conn)  # tables exist before either load (creation is not what is raced)
    conn.close()
    errors = []

    def run(warehouse, value):
        try:
            warehouse.replace_forecasts(forecasts(SERIES, D0, value=value), keys(SERIES), lake=lake)
        except Exception as exc:  # noqa: BLE001 - reported by the assertion below
            errors.append(exc)

    a = threading.Thread(target=run, args=(first, 1.0))
    a.start()
    assert _PAUSE["inside"].wait(30), errors
    b = threading.Thread(target=run, args=(second, 2.0))
    b.start()

    def waiting_on_a_lock() -> bool:
        return int(second.query("SELECT COUNT(*) AS n FROM pg_stat_activity WHERE datname = ? AND "
                                "wait_event_type = 'Lock'", [db])["n"][0]) > 0

    deadline = time.time() + 20
    while b.is_alive() and not waiting_on_a_lock() and time.time() < deadline:
        time.sleep(0.1)
    second_waited = b.is_alive() and waiting_on_a_lock()
    _PAUSE["release"].set()
    a.join(30)
    b.join(30)
    assert not errors, errors
    got = second.query("SELECT yhat, COUNT(*) AS n FROM forecasts GROUP BY yhat ORDER BY yhat")
    if lock == "none":
        assert not second_waited and int(got["n"].sum()) == 12  # duplicates: what the lock prevents
    else:
        assert second_waited, "the second load did not wait for the first one's transaction"
        assert int(got["n"].sum()) == 6 and got["yhat"].astype(float).tolist() == [2.0, 3.0, 4.0]
