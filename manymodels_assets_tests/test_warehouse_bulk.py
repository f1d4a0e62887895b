"""The warehouse's bulk path: rows staged as parquet in the lake, staging tables, then one swap
transaction behind a lock; the Power BI views; the Synapse dialect and Microsoft's ODBC driver.

What runs for real: the whole load, the lock and the views on PostgreSQL (a server started here)
and SQLite, both through their ODBC drivers; Microsoft's ODBC Driver 18 from the mssql-python
package, loaded by pyodbc. No Synapse can run here: its load runs against a stand-in connection
that records what would be sent (and reads the staged files each COPY INTO names, as Synapse
would), and the same swap steps then run on PostgreSQL.
"""
import datetime as dt
import logging
import re
import socket
import threading
import time

import pandas as pd
import pyarrow.parquet as pq
import pyodbc
import pytest

from manymodels_assets.resources.lake import LakeResource
from manymodels_assets.resources.odbc import MSSQL_DRIVER, bundled_mssql_driver, resolve_driver
from manymodels_assets.resources.warehouse import WarehouseResource
from manymodels_assets.resources.warehouse_sql import STAGES, WarehouseSQL, storage_location
from manymodels_assets.settings import Settings
from manymodels_assets_tests.servers import postgres_server

D0 = dt.date(2025, 3, 1)
SERIES = [("S1", "I1"), ("S1", "I2")]
SECRET = "sv=2024-11-04&sig=not-a-real-signature%3D"


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
        conn.cursor().execute("CREATE TABLE forecasts_load_lock AS SELECT 1 AS id, CAST(NULL AS TIMESTAMP) AS locked_at")
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


class SynapseRecorder:
    """Stands in for a Synapse connection (none can run here): records what a load sends, in order,
    answers the catalog with "nothing exists yet", and at each COPY INTO reads the staged files the
    statement names from the local lake, as Synapse would read them from ADLS."""

    def __init__(self, lake_root: str, lake_url: str):
        self.lake_root, self.lake_url, self.sent, self.copied = lake_root, lake_url, [], {}

    def cursor(self):
        return self

    def execute(self, sql, *params):
        assert not params, "Synapse loads send no row as a parameter or literal"
        self.sent.append(sql)
        if sql.startswith("COPY INTO"):
            stage = sql.split()[2]
            [url] = re.findall(r"FROM '([^']+)'", sql)
            local = self.lake_root + url.split("/lake/mm", 1)[1]
            self.copied[stage] = pq.read_table(local)

    def tables(self, table, tableType):  # noqa: N803 - pyodbc's keyword
        return self

    def fetchone(self):
        return None

    def columns(self, table):
        return []

    def commit(self):
        self.sent.append("COMMIT")

    def rollback(self):
        self.sent.append("ROLLBACK")

    def close(self):
        pass


@pytest.mark.parametrize("credential", ["managed_identity", "sas", "account_key", "aad"])
def test_the_synapse_load_sends_ddl_copy_into_and_one_swap_transaction(lake, monkeypatch, caplog, credential):
    caplog.set_level(logging.DEBUG)
    recorder = SynapseRecorder(lake.root, "https://acct.dfs.core.windows.net/lake/mm")
    monkeypatch.setattr(WarehouseResource, "connect", lambda self: recorder)
    secret = SECRET if credential in ("sas", "account_key") else None
    wh = WarehouseResource(connection_string=f"Driver={{{MSSQL_DRIVER}}};Server=tcp:ws.sql.azuresynapse.net,1433;"
                                             "Database=pool;Authentication=ActiveDirectoryMsi",
                           dialect="synapse", copy_credential=credential, copy_secret=secret,
                           lake_url="https://acct.dfs.core.windows.net/lake/mm")
    sold = actuals(SERIES, [D0])
    assert wh.replace_forecasts(forecasts(SERIES, D0), keys(SERIES), sold, lake=lake) == 6
    sent = recorder.sent
    # prepare outside the transaction: tables, lock table, views, staging; then COPY INTO each stage
    creates = [s for s in sent if s.startswith("CREATE TABLE forecasts")]
    assert [c.split()[2] for c in creates] == ["forecasts", "forecasts_history", "forecasts_actuals",
                                               "forecasts_load_lock"]
    assert all("DISTRIBUTION = HASH(item_id), CLUSTERED COLUMNSTORE INDEX" in c for c in creates[:3])
    assert "store_id NVARCHAR(400)" in creates[0] and "scored_at DATETIME2(0)" in creates[0]
    assert "DISTRIBUTION = ROUND_ROBIN, HEAP) AS SELECT" in creates[3]  # CTAS: no INSERT, even for the lock row
    assert sum(s.startswith("CREATE VIEW") for s in sent) == 3
    stages = [s for s in sent if s.startswith("CREATE TABLE #")]
    assert len(stages) == 3 and all("HEAP" in s and "HASH(item_id)" in s for s in stages)
    copies = [s for s in sent if s.startswith("COPY INTO")]
    assert [c.split()[2] for c in copies] == ["#forecasts_stage_keys", "#forecasts_stage_rows",
                                              "#forecasts_stage_actuals"]
    endpoint = "dfs" if credential == "managed_identity" else "blob"
    assert all(f"FROM 'https://acct.{endpoint}.core.windows.net/lake/mm/warehouse/staging/" in c for c in copies)
    identity = {"managed_identity": "CREDENTIAL = (IDENTITY = 'Managed Identity')",
                "sas": "CREDENTIAL = (IDENTITY = 'Shared Access Signature', SECRET = '",
                "account_key": "CREDENTIAL = (IDENTITY = 'Storage Account Key', SECRET = '", "aad": None}[credential]
    assert all((identity in c) if identity else "CREDENTIAL" not in c for c in copies)
    # no row ever travels as SQL: only COPY INTO and INSERT ... SELECT
    assert not any("VALUES" in s for s in sent) and all("SELECT" in s for s in sent if s.startswith("INSERT"))
    # the staged parquet Synapse reads: readable, columns in the staging table's order and types
    for kind, schema in STAGES.items():
        table = recorder.copied[f"#forecasts_stage_{kind}"]
        assert table.column_names == schema.names
    assert recorder.copied["#forecasts_stage_rows"].num_rows == 6
    assert str(recorder.copied["#forecasts_stage_rows"].schema.field("scored_at").type) == "timestamp[us]"
    # then one transaction: the lock row first, every delete before its insert, one commit
    commits = [i for i, s in enumerate(sent) if s == "COMMIT"]
    swap = sent[commits[-3] + 1:commits[-2] + 1]
    assert swap[0] == "UPDATE forecasts_load_lock SET locked_at = CURRENT_TIMESTAMP"
    assert [s.split()[0] for s in swap[1:]] == ["DELETE", "INSERT"] * 3 + ["COMMIT"]
    assert not any(s.startswith(("CREATE", "DROP", "COPY")) for s in swap)  # no DDL inside the transaction
    assert sent[-4:-1] == [f"IF OBJECT_ID('tempdb..#forecasts_stage_{k}') IS NOT NULL DROP TABLE "
                           f"#forecasts_stage_{k}" for k in ("keys", "rows", "actuals")]
    # the secret goes to Synapse inside COPY INTO and nowhere else: not into any log line
    if secret:
        assert all(secret in c for c in copies)
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert SECRET not in logged and "COPY INTO" in logged and SECRET not in wh.describe()


def test_copy_into_needs_its_secret_and_synapse_needs_the_lake(lake):
    sql = WarehouseSQL("synapse")
    with pytest.raises(ValueError, match="MANYMODELS_WAREHOUSE_COPY_SECRET"):
        sql.copy_into("rows", ["https://a.blob.core.windows.net/c/x.parquet"], "sas", None)
    with pytest.raises(ValueError, match="never INSERT"):
        sql.insert_values("rows", 1)
    with pytest.raises(ValueError, match="pass the lake"):
        WarehouseResource(connection_string="Driver=x", dialect="synapse").replace_forecasts(
            forecasts(SERIES, D0), keys(SERIES))
    with pytest.raises(ValueError, match="abfss://"):
        storage_location(lake.uri("x.parquet"), "dfs")


def test_storage_locations_for_copy_into():
    assert storage_location("abfss://lake@acct.dfs.core.windows.net/mm/warehouse/staging/l/rows.parquet", "blob") \
        == "https://acct.blob.core.windows.net/lake/mm/warehouse/staging/l/rows.parquet"
    assert storage_location("abfs://lake/mm/rows.parquet", "dfs", account_name="acct") \
        == "https://acct.dfs.core.windows.net/lake/mm/rows.parquet"
    assert storage_location("abfss://lake@acct.dfs.core.chinacloudapi.cn/mm/r.parquet", "dfs") \
        == "https://acct.dfs.core.chinacloudapi.cn/lake/mm/r.parquet"


def test_settings_choose_synapse_for_the_microsoft_driver_and_keep_the_copy_secret_in_the_environment(monkeypatch,
                                                                                                       tmp_path):
    from manymodels_assets.definitions import build_resources

    odbc = f"Driver={{{MSSQL_DRIVER}}};Server=tcp:ws.sql.azuresynapse.net,1433;Database=pool;Uid=u;Pwd=p"
    env = {"MANYMODELS_HOME": str(tmp_path), "MANYMODELS_WAREHOUSE_ODBC": odbc,
           "MANYMODELS_WAREHOUSE_COPY_CREDENTIAL": "sas", "MANYMODELS_WAREHOUSE_COPY_SECRET": SECRET}
    settings = Settings.from_env(env)
    assert settings.warehouse_dialect == "synapse" and settings.warehouse_copy_credential == "sas"
    assert SECRET not in repr(settings)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    warehouse = build_resources(settings)["warehouse"]
    assert warehouse.dialect == "synapse" and warehouse.copy_credential == "sas"
    assert SECRET not in warehouse.describe() and "Pwd" not in warehouse.describe()


def test_microsofts_odbc_driver_18_from_the_mssql_python_package_is_used_when_not_registered():
    library = bundled_mssql_driver()
    assert library and "mssql_python_odbc" in library, "mssql-python is installed by `make test` (dev extra)"
    # A loopback port that accepts and hangs up: the driver connects, starts its TDS handshake and
    # reports the failure in its own words (no SQL Server can run here).
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)

    def hang_up():
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:  # closed: the test is over
                return
            conn.close()

    threading.Thread(target=hang_up, daemon=True).start()
    named = f"Driver={{{MSSQL_DRIVER}}};Server=tcp:127.0.0.1,{listener.getsockname()[1]};Database=x;Uid=u;Pwd=p"
    try:
        assert resolve_driver(named, installed=[MSSQL_DRIVER]) == named  # registered with unixODBC: used by name
        resolved = resolve_driver(named, installed=["SQLite3"])
        assert resolved.startswith(f"Driver={library};Server=") and resolved.endswith("Uid=u;Pwd=p")
        with pytest.raises(pyodbc.Error, match=r"\[Microsoft\]\[ODBC Driver 18 for SQL Server\].*handshake"):
            WarehouseResource(connection_string=named, dialect="synapse").query("SELECT 1")
    finally:
        listener.close()
