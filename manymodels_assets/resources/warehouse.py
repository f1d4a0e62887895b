"""The warehouse the forecasts are loaded into, over ODBC (pyodbc)."""
from __future__ import annotations

from typing import Optional

import dagster as dg
import pandas as pd

from manymodels_assets.schemas import DIALECTS, WAREHOUSE_FORECASTS

COLUMNS = WAREHOUSE_FORECASTS.names
SERIES_COLUMNS = ("store_id", "item_id")


class WarehouseResource(dg.ConfigurableResource):
    """The forecasts warehouse: a SQLite file through the SQLite3 ODBC driver by default.

    `status` says what kind of model made a series' forecast: `ok` (backtested and selected),
    `cold_start` (too little history) or `fallback` (every candidate failed).
    ``connection_string`` is a full ODBC connection string; set it through MANYMODELS_WAREHOUSE_ODBC so credentials stay out of code and the UI. A load replaces the
    rows of the loaded series in one transaction: a rerun never duplicates, a failed load
    leaves the previous rows in place.
    """

    connection_string: str
    dialect: str = "sqlite"  # sqlite | postgresql
    table: str = "forecasts"
    rows_per_insert: int = 80  # SQLite caps bound parameters at 999 per statement (12 columns)

    def connect(self):
        import pyodbc

        return pyodbc.connect(self.connection_string, autocommit=False)

    def _types(self) -> dict[str, str]:
        return WAREHOUSE_FORECASTS.sql_types(self.dialect, keys=SERIES_COLUMNS)

    def _ddl(self, name: str, temporary: bool = False) -> str:
        cols = ", ".join(f"{c} {t}" for c, t in self._types().items())
        return f"CREATE {'TEMPORARY ' if temporary else ''}TABLE {name} ({cols})"

    def ensure_table(self, cursor) -> None:
        exists = cursor.tables(table=self.table, tableType="TABLE").fetchone() is not None
        if not exists:
            cursor.execute(self._ddl(self.table))
            cursor.execute(f"CREATE INDEX ix_{self.table}_series ON {self.table} (store_id, item_id)")
            return
        have = {row.column_name.lower() for row in cursor.columns(table=self.table)}
        for name, typ in self._types().items():
            if name not in have:  # a table made by an earlier release
                cursor.execute(f"ALTER TABLE {self.table} ADD COLUMN {name} {typ}")

    def replace_forecasts(self, forecasts: pd.DataFrame, series: pd.DataFrame) -> int:
        """Replace all rows of the series in ``series`` (store_id, item_id) with ``forecasts``.

        Returns the rows inserted.
        """
        if self.dialect not in ("sqlite", "postgresql"):
            raise ValueError(f"dialect {self.dialect!r} not supported for loading yet; known: {DIALECTS}")
        rows = _rows(forecasts)
        stage = f"{self.table}_stage_keys"
        conn = self.connect()
        try:
            cur = conn.cursor()
            self.ensure_table(cur)
            key_type = self._types()["store_id"]
            cur.execute(f"CREATE TEMPORARY TABLE {stage} (store_id {key_type}, item_id {key_type})")
            self._insert(cur, stage, ("store_id", "item_id"),
                         list(series[["store_id", "item_id"]].itertuples(index=False, name=None)))
            cur.execute(f"DELETE FROM {self.table} WHERE EXISTS (SELECT 1 FROM {stage} s "
                        f"WHERE s.store_id = {self.table}.store_id AND s.item_id = {self.table}.item_id)")
            self._insert(cur, self.table, COLUMNS, rows)
            cur.execute(f"DROP TABLE {stage}")
            conn.commit()
        except Exception:
            conn.rollback()
            raise
        finally:
            conn.close()
        return len(rows)

    def _insert(self, cur, table: str, columns, rows) -> None:
        # Multi-row INSERT: the SQLite ODBC driver crashes with fast_executemany, and row-at-a-time
        # is 10x slower over psqlODBC.
        width = len(columns)
        chunk = max(1, min(self.rows_per_insert, 990 // width))
        for start in range(0, len(rows), chunk):
            part = rows[start:start + chunk]
            values = ", ".join(["(" + ", ".join("?" * width) + ")"] * len(part))
            cur.execute(f"INSERT INTO {table} ({', '.join(columns)}) VALUES {values}",
                        [v for row in part for v in row])

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


def odbc_fields(connection_string: str) -> dict[str, str]:
    """key -> value of an ODBC connection string; a value in braces may contain ';'."""
    fields, i, s = {}, 0, connection_string
    while i < len(s):
        eq = s.find("=", i)
        if eq < 0:
            break
        key = s[i:eq].strip()
        if s[eq + 1:eq + 2] == "{":
            end = s.find("}", eq + 2)
            end = len(s) if end < 0 else end
            value, i = s[eq + 2:end], s.find(";", end) + 1 or len(s)
        else:
            end = s.find(";", eq + 1)
            end = len(s) if end < 0 else end
            value, i = s[eq + 1:end], end + 1
        if key:
            fields[key] = value.strip()
    return fields


def _rows(forecasts: pd.DataFrame) -> list[tuple]:
    """Rows in COLUMNS order as the ODBC drivers take them, converted column by column."""
    f = forecasts
    scored = pd.to_datetime(f["scored_at"])
    scored = (scored.dt.tz_localize(None) if scored.dt.tz is not None else scored).dt.floor("s")
    convert = {
        "forecast_date": lambda c: pd.to_datetime(c).dt.date.tolist(),
        "step": lambda c: c.astype(int).tolist(),
        "yhat": lambda c: c.astype(float).tolist(),
        "yhat_lower": lambda c: c.astype(float).tolist(),
        "yhat_upper": lambda c: c.astype(float).tolist(),
        "scored_at": lambda c: scored.to_numpy().astype("datetime64[us]").tolist(),
    }
    text = lambda c: c.astype(object).where(c.notna(), None).tolist()  # noqa: E731
    return list(zip(*(convert.get(name, text)(f[name]) for name in COLUMNS)))
