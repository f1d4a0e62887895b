"""The warehouse the forecasts are loaded into, over ODBC (pyodbc)."""
from __future__ import annotations

from typing import Optional

import dagster as dg
import pandas as pd

FORECAST_TABLE_COLUMNS = ("store_id", "item_id", "forecast_date", "step", "yhat", "yhat_lower", "yhat_upper",
                          "model_set", "forecaster", "scored_at", "cold_start")
_TYPES = {
    "sqlite": ("TEXT", "TEXT", "DATE", "INTEGER", "REAL", "REAL", "REAL", "TEXT", "TEXT", "TIMESTAMP", "INTEGER"),
    "postgresql": ("VARCHAR(200)", "VARCHAR(200)", "DATE", "INTEGER", "DOUBLE PRECISION", "DOUBLE PRECISION",
                   "DOUBLE PRECISION", "VARCHAR(100)", "VARCHAR(50)", "TIMESTAMP", "SMALLINT"),
}


class WarehouseResource(dg.ConfigurableResource):
    """The forecasts warehouse: a SQLite file through the SQLite3 ODBC driver by default.

    `cold_start` is 1 for a series forecast by a cold-start fallback (too little history to
    backtest). ``connection_string`` is a full ODBC connection string; set it through
    MANYMODELS_WAREHOUSE_ODBC so credentials stay out of code and the UI. A load replaces the
    rows of the loaded series in one transaction: a rerun never duplicates, a failed load
    leaves the previous rows in place.
    """

    connection_string: str
    dialect: str = "sqlite"  # sqlite | postgresql
    table: str = "forecasts"
    rows_per_insert: int = 90  # SQLite caps bound parameters at 999 per statement (11 columns)

    def connect(self):
        import pyodbc

        return pyodbc.connect(self.connection_string, autocommit=False)

    def _ddl(self, name: str, temporary: bool = False) -> str:
        types = _TYPES[self.dialect]
        cols = ", ".join(f"{c} {t}" for c, t in zip(FORECAST_TABLE_COLUMNS, types))
        return f"CREATE {'TEMPORARY ' if temporary else ''}TABLE {name} ({cols})"

    def ensure_table(self, cursor) -> None:
        exists = cursor.tables(table=self.table, tableType="TABLE").fetchone() is not None
        if not exists:
            cursor.execute(self._ddl(self.table))
            cursor.execute(f"CREATE INDEX ix_{self.table}_series ON {self.table} (store_id, item_id)")
            return
        have = {row.column_name.lower() for row in cursor.columns(table=self.table)}
        for name, typ in zip(FORECAST_TABLE_COLUMNS, _TYPES[self.dialect]):
            if name not in have:  # a table made by an earlier release
                cursor.execute(f"ALTER TABLE {self.table} ADD COLUMN {name} {typ}")

    def replace_forecasts(self, forecasts: pd.DataFrame, series: pd.DataFrame) -> int:
        """Replace all rows of the series in ``series`` (store_id, item_id) with ``forecasts``.

        Returns the rows inserted.
        """
        if self.dialect not in _TYPES:
            raise ValueError(f"dialect {self.dialect!r} not supported; use one of {sorted(_TYPES)}")
        rows = _rows(forecasts)
        stage = f"{self.table}_stage_keys"
        conn = self.connect()
        try:
            cur = conn.cursor()
            self.ensure_table(cur)
            cur.execute(f"CREATE TEMPORARY TABLE {stage} (store_id {_TYPES[self.dialect][0]}, "
                        f"item_id {_TYPES[self.dialect][1]})")
            self._insert(cur, stage, ("store_id", "item_id"),
                         list(series[["store_id", "item_id"]].itertuples(index=False, name=None)))
            cur.execute(f"DELETE FROM {self.table} WHERE EXISTS (SELECT 1 FROM {stage} s "
                        f"WHERE s.store_id = {self.table}.store_id AND s.item_id = {self.table}.item_id)")
            self._insert(cur, self.table, FORECAST_TABLE_COLUMNS, rows)
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

    def query(self, sql: str, params: Optional[list] = None) -> pd.DataFrame:
        conn = self.connect()
        try:
            cur = conn.cursor()
            cur.execute(sql, params or [])
            cols = [d[0] for d in cur.description]
            return pd.DataFrame.from_records(cur.fetchall(), columns=cols)
        finally:
            conn.close()


def _rows(forecasts: pd.DataFrame) -> list[tuple]:
    """Rows as the ODBC drivers take them, converted column by column."""
    f = forecasts
    scored = pd.to_datetime(f["scored_at"])
    scored = (scored.dt.tz_localize(None) if scored.dt.tz is not None else scored).dt.floor("s")
    columns = [
        f["store_id"].astype(str).tolist(), f["item_id"].astype(str).tolist(),
        pd.to_datetime(f["forecast_date"]).dt.date.tolist(), f["step"].astype(int).tolist(),
        *(f[c].astype(float).tolist() for c in ("yhat", "yhat_lower", "yhat_upper")),
        f["model_set"].tolist(), f["forecaster"].tolist(), scored.to_numpy().astype("datetime64[us]").tolist(),
        f["cold_start"].fillna(False).astype(bool).astype(int).tolist(),
    ]
    return list(zip(*columns))
