"""The warehouse load through the real SQLite3 ODBC driver."""
import datetime as dt

import pandas as pd
import pytest

from manymodels_assets.resources.warehouse import WarehouseResource


def forecasts(series, steps=3, value=1.0, model_set="ms-1"):
    rows = [{"store_id": s, "item_id": i, "forecast_date": dt.date(2025, 1, 1) + dt.timedelta(days=k), "step": k + 1,
             "yhat": value, "yhat_lower": value - 1, "yhat_upper": value + 1, "model_set": model_set,
             "forecaster": "ets", "scored_at": pd.Timestamp("2025-01-01 10:00:00"), "cold_start": False}
            for s, i in series for k in range(steps)]
    return pd.DataFrame(rows)


@pytest.fixture
def warehouse(tmp_path):
    return WarehouseResource(connection_string=f"Driver={{SQLite3}};Database={tmp_path / 'w.db'}")


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


def test_a_failed_load_leaves_the_previous_rows(warehouse):
    series = [("S1", "I1"), ("S1", "I2")]
    keys = pd.DataFrame(series, columns=["store_id", "item_id"])
    warehouse.replace_forecasts(forecasts(series), keys)
    broken = forecasts(series, value=9.0)
    broken.loc[4, "step"] = "not a number"  # fails while the rows are inserted, after the delete
    with pytest.raises(ValueError):
        warehouse.replace_forecasts(broken, keys)
    got = count(warehouse)
    assert list(got["n"]) == [3, 3] and list(got["yhat"]) == [1.0, 1.0]


def test_many_rows_are_sent_in_chunks(warehouse):
    series = [(f"S{s}", f"I{i}") for s in range(10) for i in range(10)]
    n = warehouse.replace_forecasts(forecasts(series, steps=28), pd.DataFrame(series, columns=["store_id", "item_id"]))
    assert n == 2800
    assert int(warehouse.query("SELECT COUNT(*) AS n FROM forecasts")["n"][0]) == 2800


def test_a_table_from_before_the_cold_start_column_is_upgraded(warehouse):
    conn = warehouse.connect()
    conn.cursor().execute("CREATE TABLE forecasts (store_id TEXT, item_id TEXT, forecast_date DATE, step INTEGER, "
                          "yhat REAL, yhat_lower REAL, yhat_upper REAL, model_set TEXT, forecaster TEXT, "
                          "scored_at TIMESTAMP)")
    conn.commit()
    conn.close()
    series = [("S1", "I1")]
    warehouse.replace_forecasts(forecasts(series).assign(cold_start=True),
                                pd.DataFrame(series, columns=["store_id", "item_id"]))
    assert list(warehouse.query("SELECT cold_start FROM forecasts")["cold_start"]) == [1, 1, 1]
