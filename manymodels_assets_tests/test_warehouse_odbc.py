"""The warehouse load through real ODBC drivers: SQLite3, and psqlODBC against a PostgreSQL
server started on 127.0.0.1 for these tests."""
import datetime as dt

import pandas as pd
import pytest

from manymodels_assets.resources.warehouse import WarehouseResource
from manymodels_assets_tests.servers import postgres_server


def forecasts(series, steps=3, value=1.0, model_set="ms-1"):
    rows = [{"store_id": s, "item_id": i, "forecast_date": dt.date(2025, 1, 1) + dt.timedelta(days=k), "step": k + 1,
             "yhat": value, "yhat_lower": value - 1, "yhat_upper": value + 1, "model_set": model_set,
             "forecaster": "ets", "status": "ok", "production_version": "3",
             "scored_at": pd.Timestamp("2025-01-01 10:00:00")}
            for s, i in series for k in range(steps)]
    return pd.DataFrame(rows)


@pytest.fixture(scope="module")
def postgres():
    with postgres_server() as server:
        yield server


@pytest.fixture(params=["sqlite", "postgresql"])
def warehouse(request, tmp_path):
    if request.param == "sqlite":
        return WarehouseResource(connection_string=f"Driver={{SQLite3}};Database={tmp_path / 'w.db'}")
    port, user = request.getfixturevalue("postgres")
    db = f"w_{abs(hash(str(tmp_path))) % 10**8}"
    admin = WarehouseResource(connection_string=f"Driver={{PostgreSQL Unicode}};Server=127.0.0.1;Port={port};"
                                                f"Database=postgres;Uid={user};", dialect="postgresql")
    conn = admin.connect()
    conn.autocommit = True
    conn.cursor().execute(f"CREATE DATABASE {db}")
    conn.close()
    return WarehouseResource(connection_string=f"Driver={{PostgreSQL Unicode}};Server=127.0.0.1;Port={port};"
                                               f"Database={db};Uid={user};", dialect="postgresql")


def count(warehouse):
    return warehouse.query("SELECT store_id, item_id, COUNT(*) AS n, MAX(yhat) AS yhat FROM forecasts "
                           "GROUP BY store_id, item_id ORDER BY store_id, item_id")


def test_load_replaces_only_the_loaded_series(warehouse):
    all_series = [("S1", "I1"), ("S1", "I2"), ("S2", "I1")]
    keys = pd.DataFrame(all_series, columns=["store_id", "item_id"])
    assert warehouse.replace_forecasts(forecasts(all_series), keys) == 9
    assert warehouse.replace_forecasts(forecasts(all_series), keys) == 9  # rerun: same rows, no duplicates
    assert list(count(warehouse)["n"]) == [3, 3, 3]
    warehouse.replace_forecasts(forecasts([("S1", "I2")], steps=5, value=7.0), keys.iloc[[1]])
    got = count(warehouse)
    assert list(got["n"]) == [3, 5, 3] and list(got["yhat"]) == [1.0, 7.0, 1.0]


def test_a_crash_mid_load_leaves_the_previous_rows(warehouse, monkeypatch):
    series = [("S1", "I1"), ("S1", "I2")]
    keys = pd.DataFrame(series, columns=["store_id", "item_id"])
    warehouse.replace_forecasts(forecasts(series), keys)

    def crash_after_the_delete(self, cur, delete, insert):
        self._run(cur, delete)  # the old rows are deleted (uncommitted) by now: then die
        raise ConnectionError("connection lost")

    monkeypatch.setattr(WarehouseResource, "_replace", crash_after_the_delete)
    with pytest.raises(ConnectionError):
        warehouse.replace_forecasts(forecasts(series, value=9.0), keys)
    got = count(warehouse)
    assert list(got["n"]) == [3, 3] and list(got["yhat"]) == [1.0, 1.0]


def test_many_rows_are_sent_in_chunks(warehouse):
    series = [(f"S{s}", f"I{i}") for s in range(10) for i in range(10)]
    n = warehouse.replace_forecasts(forecasts(series, steps=28), pd.DataFrame(series, columns=["store_id", "item_id"]))
    assert n == 2800
    assert int(warehouse.query("SELECT COUNT(*) AS n FROM forecasts")["n"][0]) == 2800


def test_a_table_from_an_earlier_release_gets_the_new_columns(warehouse):
    conn = warehouse.connect()
    conn.cursor().execute("CREATE TABLE forecasts (store_id TEXT, item_id TEXT, forecast_date DATE, step INTEGER, "
                          "yhat REAL, yhat_lower REAL, yhat_upper REAL, model_set TEXT, forecaster TEXT, "
                          "scored_at TIMESTAMP)")
    conn.commit()
    conn.close()
    series = [("S1", "I1")]
    warehouse.replace_forecasts(forecasts(series).assign(status="cold_start"),
                                pd.DataFrame(series, columns=["store_id", "item_id"]))
    got = warehouse.query("SELECT status, production_version FROM forecasts")
    assert list(got["status"]) == ["cold_start"] * 3 and list(got["production_version"]) == ["3"] * 3
