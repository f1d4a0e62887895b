"""The warehouse the forecasts are loaded into, over ODBC (pyodbc): SQLite, PostgreSQL or a Synapse
dedicated SQL pool. The SQL is in ``warehouse_sql.py``, the parquet staging in ``warehouse_stage.py``."""
from __future__ import annotations

import logging
from typing import Literal, Optional

import dagster as dg
import pandas as pd
from pydantic import ConfigDict

from manymodels_assets.resources import warehouse_stage
from manymodels_assets.resources.odbc import odbc_fields, resolve_driver
from manymodels_assets.resources.warehouse_sql import (COPY_CREDENTIALS, SERIES_COLUMNS, STAGES, Statement,
                                                       WarehouseSQL, storage_location)
from manymodels_assets.schemas import WAREHOUSE_FORECASTS, Table

__all__ = ["WarehouseResource", "odbc_fields"]
COLUMNS = WAREHOUSE_FORECASTS.names
log = logging.getLogger(__name__)


class WarehouseResource(dg.ConfigurableResource):
    """The forecasts warehouse: a SQLite file through the SQLite3 ODBC driver by default.

    ``connection_string`` is a full ODBC connection string; set it through MANYMODELS_WAREHOUSE_ODBC
    so credentials stay out of code and the UI. A load stages the rows (as parquet in the lake when
    given one; Synapse needs it: its COPY INTO reads them there), then in one transaction replaces
    the loaded series' rows of `forecasts`, adds them to `forecasts_history` and loads what sold on
    forecast dates into `forecasts_actuals`: a rerun never duplicates, a failed load leaves the
    previous rows, and concurrent loads take turns (see WarehouseSQL.lock). `status` says what kind
    of model made a series' forecast: `ok`, `cold_start` or `fallback`.
    """

    model_config = ConfigDict(use_attribute_docstrings=True)

    connection_string: str
    """The ODBC connection string: MANYMODELS_WAREHOUSE_ODBC, taken by name so it is never shown,
    or the embedded SQLite file when that is unset."""
    dialect: Literal["sqlite", "postgresql", "synapse"] = "sqlite"
    """The SQL the warehouse speaks (MANYMODELS_WAREHOUSE_DIALECT)."""
    table: str = "forecasts"
    """The current-forecast table; its history, actuals and views take its name as prefix."""
    rows_per_insert: int = 80
    """Rows per INSERT where rows are inserted (SQLite caps bound parameters at 999 per statement: 12 columns)."""
    distribution: list[str] = ["item_id"]
    """Synapse: the HASH distribution columns (every row of a series in one distribution); two columns
    need DW_COMPATIBILITY_LEVEL 50 (multi-column distribution)."""
    copy_credential: Literal["managed_identity", "sas", "account_key", "aad"] = "managed_identity"
    """Synapse: how COPY INTO reads the staged parquet from the lake."""
    copy_secret: Optional[str] = None
    """Synapse: the SAS token or storage account key of `copy_credential` (from MANYMODELS_WAREHOUSE_COPY_SECRET)."""
    actuals_days: int = 90
    """Days of each loaded series' sales offered to `forecasts_actuals` with each load (kept where forecast)."""
    lake_url: Optional[str] = None
    """Synapse: the lake root as https URL, when MANYMODELS_LAKE_ROOT is not an abfss:// URL (e.g. a mount)."""

    def sql(self) -> WarehouseSQL:
        return WarehouseSQL(self.dialect, self.table, tuple(self.distribution))

    def connect(self):
        import pyodbc

        return pyodbc.connect(resolve_driver(self.connection_string), autocommit=False)

    # tables -----------------------------------------------------------------------------
    def ensure_tables(self, conn) -> None:
        """Create what is missing (tables, Synapse's lock table, views); add columns an earlier release lacked."""
        sql, cur = self.sql(), conn.cursor()
        for name, schema in sql.targets().items():
            if not self._exists(cur, name, "TABLE"):
                self._create(conn, name, "TABLE", sql.create_table(name, schema))
                continue
            have = {row.column_name.lower() for row in cur.columns(table=name)}
            for column, typ in sql.types(schema).items():
                if column not in have:
                    self._run(cur, sql.add_column(name, column, typ))
        if sql.create_lock_table() and not self._exists(cur, sql.lock_table, "TABLE"):
            self._create(conn, sql.lock_table, "TABLE", sql.create_lock_table())
        for statement, name in zip(sql.create_views(), sql.views.values()):
            if not self._exists(cur, name, "VIEW"):
                self._create(conn, name, "VIEW", [statement])
        conn.commit()

    @staticmethod
    def _exists(cur, name: str, kind: str) -> bool:
        return cur.tables(table=name, tableType=kind).fetchone() is not None

    def _create(self, conn, name: str, kind: str, statements: list[Statement]) -> None:
        import pyodbc

        try:
            for statement in statements:
                self._run(conn.cursor(), statement)
            conn.commit()
        except pyodbc.Error:
            conn.rollback()
            if not self._exists(conn.cursor(), name, kind):
                raise
            # another load created it between our check and our CREATE: use theirs

    # the load ---------------------------------------------------------------------------
    def replace_forecasts(self, forecasts: pd.DataFrame, series: pd.DataFrame, actuals: Optional[pd.DataFrame] = None,
                          lake=None, load_id: str = "") -> int:
        """Replace all rows of the series in ``series`` (store_id, item_id) with ``forecasts``, add them
        to the history, and load ``actuals`` (store_id, item_id, date, units) for dates that were
        forecast. With ``lake``, the rows are staged there as parquet first. Returns the forecast rows.
        """
        if self.dialect == "synapse" and lake is None:
            raise ValueError("Synapse loads with COPY INTO from parquet staged in the lake: pass the lake")
        frames = {"keys": series[list(SERIES_COLUMNS)].drop_duplicates(), "rows": forecasts,
                  "actuals": actuals if actuals is not None else pd.DataFrame(columns=STAGES["actuals"].names)}
        load, staged = None, None
        if lake is not None:
            load = warehouse_stage.new_load_id(load_id)
            warehouse_stage.prune(lake)
            staged = warehouse_stage.stage(lake, load, frames)
        sql = self.sql()
        conn = self.connect()
        try:
            self.ensure_tables(conn)
            cur = conn.cursor()
            for statement in sql.drop_stages() + sql.create_stages():
                self._run(cur, statement)
            self._fill_stages(cur, sql, frames, staged, lake)
            conn.commit()
            lock = sql.lock()
            if lock is not None:
                self._run(cur, lock)
            for delete, insert in sql.replacements():
                self._replace(cur, delete, insert)
            conn.commit()
            log.debug("warehouse %s: commit", self.dialect)
            for statement in sql.drop_stages():
                self._run(cur, statement)
            conn.commit()
        except Exception:
            conn.rollback()
            log.debug("warehouse %s: rollback", self.dialect)
            raise
        finally:
            conn.close()  # the session's staging tables go with it
            if staged:
                warehouse_stage.remove(lake, load)
        return len(forecasts)

    def _fill_stages(self, cur, sql: WarehouseSQL, frames: dict, staged: Optional[dict], lake) -> None:
        if self.dialect == "synapse":
            _, endpoint, _ = COPY_CREDENTIALS[self.copy_credential]
            for kind, path in staged.items():
                if self.lake_url:  # the same file as Synapse reaches it
                    path = self.lake_url.rstrip("/") + "/" + path[len(lake.uri()):].lstrip("/")
                url = storage_location(path, endpoint, lake.account_name)
                self._run(cur, sql.copy_into(kind, [url], self.copy_credential, self.copy_secret))
            return
        for kind, schema in STAGES.items():
            # the staged parquet when there is one: the same files Synapse would read
            frame = warehouse_stage.read(lake, staged[kind]) if staged else frames[kind]
            self._insert(cur, sql, kind, _rows(frame, schema))

    def _replace(self, cur, delete: Statement, insert: Statement) -> None:
        self._run(cur, delete)
        self._run(cur, insert)

    def _run(self, cur, statement: Statement) -> None:
        log.debug("warehouse %s: %s: %s", self.dialect, statement.step, statement)  # str() hides secrets
        cur.execute(statement.text())

    def _insert(self, cur, sql: WarehouseSQL, kind: str, rows: list[tuple]) -> None:
        # Multi-row INSERT: the SQLite ODBC driver crashes with fast_executemany, and row-at-a-time
        # is 10x slower over psqlODBC.
        width = len(STAGES[kind].names)
        chunk = max(1, min(self.rows_per_insert, 990 // width))
        log.debug("warehouse %s: stage %s: %d rows", self.dialect, kind, len(rows))
        for start in range(0, len(rows), chunk):
            part = rows[start:start + chunk]
            cur.execute(sql.insert_values(kind, len(part)), [v for row in part for v in row])

    # reading ----------------------------------------------------------------------------
    def describe(self) -> str:
        """Where the warehouse is, for people: driver, server, port and database, never credentials."""
        shown = {k: v for k, v in odbc_fields(self.connection_string).items()
                 if k.lower() in ("driver", "server", "port", "database")}
        return "; ".join(f"{k}={v}" for k, v in shown.items()) or self.dialect

    def query(self, sql: str, params: Optional[list] = None) -> pd.DataFrame:
        conn = self.connect()
        try:
            cur = conn.cursor()
            cur.execute(sql, params or [])
            cols = [d[0] for d in cur.description]
            return pd.DataFrame.from_records(cur.fetchall(), columns=cols)
        finally:
            conn.close()


def _rows(frame: pd.DataFrame, schema: Table) -> list[tuple]:
    """Rows in ``schema``'s column order as the ODBC drivers take them, converted column by column."""
    def timestamp(c):
        t = pd.to_datetime(c)
        t = (t.dt.tz_localize(None) if t.dt.tz is not None else t).dt.floor("s")
        return t.to_numpy().astype("datetime64[us]").tolist()

    convert = {
        "date": lambda c: pd.to_datetime(c).dt.date.tolist(),
        "int": lambda c: c.astype(int).tolist(),
        "double": lambda c: c.astype(float).tolist(),
        "timestamp": timestamp,
    }
    text = lambda c: c.astype(object).where(c.notna(), None).tolist()  # noqa: E731
    if frame.empty:
        return []
    return list(zip(*(convert.get(col.type, text)(frame[col.name]) for col in schema.columns)))
