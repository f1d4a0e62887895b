"""The Synapse dialect, as far as it can be tested without a Synapse (none can run here): the load
runs against a stand-in connection that records what would be sent, in order, and reads the staged
parquet each COPY INTO names, as Synapse would. Its swap steps are the ones test_warehouse_bulk.py
runs on PostgreSQL. Microsoft's ODBC Driver 18, from the mssql-python package, is loaded for real.
"""
import logging
import re
import socket
import threading

import pyarrow.parquet as pq
import pyodbc
import pytest

from manymodels_assets.resources.lake import LakeResource
from manymodels_assets.resources.odbc import MSSQL_DRIVER, bundled_mssql_driver, resolve_driver
from manymodels_assets.resources.warehouse import WarehouseResource
from manymodels_assets.resources.warehouse_sql import STAGES, WarehouseSQL, storage_location
from manymodels_assets.settings import Settings
from manymodels_assets_tests.test_warehouse_bulk import D0, SERIES, actuals, forecasts, keys

SECRET = "sv=2024-11-04&sig=not-a-real-signature%3D"


@pytest.fixture
def lake(tmp_path):
    return LakeResource(root=str(tmp_path / "lake"))


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
