"""The SQL of a warehouse load, for each dialect (sqlite, postgresql, synapse), in one place.

A load has two phases (run by :class:`~manymodels_assets.resources.warehouse.WarehouseResource`):

- **prepare**, outside any transaction: the tables and views when missing, session-scoped staging
  tables, and their rows. Synapse fills them with ``COPY INTO`` from parquet staged in the lake;
  SQLite and PostgreSQL with parameterised multi-row INSERTs. (Synapse allows no DDL inside a user
  transaction, so nothing of this phase can be part of the swap.)
- **swap**, one transaction: a lock that makes concurrent loads take turns, then per target table
  the loaded series' rows deleted and the staged rows inserted with ``INSERT ... SELECT``. Rows
  never travel as SQL literals.

Tables (``forecasts`` is the configurable base name):

| table | rows | replaced per |
|---|---|---|
| ``forecasts`` | the current forecast of every series | series |
| ``forecasts_history`` | every forecast ever loaded (one row per series, date and step) | series, date, step |
| ``forecasts_actuals`` | what sold on the dates that were forecast | series, date |

Views for Power BI: ``forecasts_latest``, ``forecasts_vs_actual``, ``forecasts_accuracy``.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional
from urllib.parse import urlsplit

from manymodels_assets.schemas import DIALECTS, WAREHOUSE_ACTUALS, WAREHOUSE_FORECASTS, Table

SERIES_COLUMNS = ("store_id", "item_id")
STAGES = {"keys": WAREHOUSE_FORECASTS.select(*SERIES_COLUMNS, name="keys"), "rows": WAREHOUSE_FORECASTS,
          "actuals": WAREHOUSE_ACTUALS}
"""Staging tables of one load: the loaded series, their forecast rows, their observed units."""

# How COPY INTO authenticates to the lake: IDENTITY constant, storage endpoint, whether a SECRET goes with it.
# Managed identity needs the .dfs endpoint; SAS needs .blob; for the others .blob is the faster one
# (COPY INTO documentation, authentication table for ADLS Gen2 parquet).
COPY_CREDENTIALS = {
    "managed_identity": ("Managed Identity", "dfs", False),
    "sas": ("Shared Access Signature", "blob", True),
    "account_key": ("Storage Account Key", "blob", True),
    "aad": (None, "blob", False),  # the loading user's own Entra ID identity: no CREDENTIAL clause
}
_SECRET = "<secret>"


@dataclass(frozen=True)
class Statement:
    """One SQL statement of a load. ``str()`` never shows the secret; only :meth:`text` does, for execution."""
    step: str
    sql: str
    secret: Optional[str] = field(default=None, repr=False)

    def text(self) -> str:
        return self.sql.replace(_SECRET, _literal(self.secret)) if self.secret is not None else self.sql

    def __str__(self) -> str:
        return self.sql.replace(_SECRET, "'***'")


def _literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def storage_location(url: str, endpoint: str, account_name: Optional[str] = None) -> str:
    """The https address COPY INTO reads: ``abfss://container@account.dfs.core.windows.net/p`` ->
    ``https://account.<endpoint>.core.windows.net/container/p`` (``abfs://container/p`` needs ``account_name``)."""
    parts = urlsplit(url)
    if parts.scheme in ("abfs", "abfss", "az"):
        container, _, host = parts.netloc.rpartition("@")
        if not container:  # adlfs style: abfs://container/path, the account configured beside it
            if not account_name:
                raise ValueError(f"{url}: name the storage account (MANYMODELS_LAKE_ACCOUNT_NAME)")
            container, host = parts.netloc, f"{account_name}.dfs.core.windows.net"
        path = f"{container}{parts.path}"
    elif parts.scheme == "https" and ".core." in parts.netloc:
        host, path = parts.netloc, parts.path.lstrip("/")
    else:
        raise ValueError(f"Synapse COPY INTO reads from Azure storage, not {url!r}: set MANYMODELS_LAKE_ROOT to an "
                         "abfss:// URL")
    account, _, rest = host.partition(".")
    suffix = rest.split(".", 1)[1]  # core.windows.net (or a sovereign cloud's)
    return f"https://{account}.{endpoint}.{suffix}/{path.lstrip('/')}"


class WarehouseSQL:
    """Statements of the warehouse load for one dialect; column types from ``schemas.py``."""

    def __init__(self, dialect: str, table: str = "forecasts", distribution: tuple[str, ...] = ("item_id",)):
        if dialect not in DIALECTS:
            raise ValueError(f"warehouse dialect {dialect!r} unknown; known: {', '.join(DIALECTS)}")
        if not distribution or not set(distribution) <= set(SERIES_COLUMNS):
            raise ValueError(f"distribution columns must be among {SERIES_COLUMNS}, not {distribution}")
        self.dialect, self.table, self.distribution = dialect, table, tuple(distribution)
        self.history, self.actuals = f"{table}_history", f"{table}_actuals"
        self.lock_table = f"{table}_load_lock"  # Synapse only: see lock()
        self.views = {"latest": f"{table}_latest", "vs_actual": f"{table}_vs_actual", "accuracy": f"{table}_accuracy"}

    # tables ------------------------------------------------------------------------------
    def targets(self) -> dict[str, Table]:
        """Target table name -> its schema."""
        return {self.table: WAREHOUSE_FORECASTS, self.history: WAREHOUSE_FORECASTS, self.actuals: WAREHOUSE_ACTUALS}

    def types(self, schema: Table) -> dict[str, str]:
        return schema.sql_types(self.dialect, keys=SERIES_COLUMNS)

    def _columns(self, schema: Table) -> str:
        return ", ".join(f"{c} {t}" for c, t in self.types(schema).items())

    def create_table(self, name: str, schema: Table) -> list[Statement]:
        """The table and, outside Synapse, an index on the columns a load deletes by."""
        if self.dialect == "synapse":
            # HASH on the series: a series' rows share a distribution, so loads and per-series reads move no
            # data; clustered columnstore for the scans Power BI sends.
            return [Statement(f"create {name}", f"CREATE TABLE {name} ({self._columns(schema)}) WITH "
                                                f"(DISTRIBUTION = HASH({', '.join(self.distribution)}), "
                                                f"CLUSTERED COLUMNSTORE INDEX)")]
        by = ", ".join(SERIES_COLUMNS + tuple(c for c in ("forecast_date", "date") if c in schema.names))
        return [Statement(f"create {name}", f"CREATE TABLE {name} ({self._columns(schema)})"),
                Statement(f"index {name}", f"CREATE INDEX ix_{name}_series ON {name} ({by})")]

    def add_column(self, name: str, column: str, sql_type: str) -> Statement:
        """A column added to a table made by an earlier release (T-SQL has no COLUMN keyword here)."""
        keyword = "" if self.dialect == "synapse" else "COLUMN "
        return Statement(f"add {name}.{column}", f"ALTER TABLE {name} ADD {keyword}{column} {sql_type}")

    def create_lock_table(self) -> list[Statement]:
        """Synapse: a one-row table that loads update first (see lock()); made by CTAS, not INSERT."""
        if self.dialect != "synapse":
            return []
        return [Statement(f"create {self.lock_table}",
                          f"CREATE TABLE {self.lock_table} WITH (DISTRIBUTION = ROUND_ROBIN, HEAP) AS "
                          "SELECT CAST(1 AS INT) AS id, CAST(NULL AS DATETIME2(0)) AS locked_at")]

    def create_views(self) -> list[Statement]:
        """Views for Power BI, in the SQL the three dialects share (joins, CASE, NULLIF; no window functions)."""
        t, h, a, v = self.table, self.history, self.actuals, self.views
        cols = ", ".join(f"f.{c}" for c in WAREHOUSE_FORECASTS.names)
        return [
            Statement(f"view {v['latest']}", f"CREATE VIEW {v['latest']} AS SELECT {cols} FROM {t} f JOIN "
                      "(SELECT store_id, item_id, MAX(scored_at) AS last_scored "
                      f"FROM {t} GROUP BY store_id, item_id) m "
                      "ON m.store_id = f.store_id AND m.item_id = f.item_id AND m.last_scored = f.scored_at"),
            Statement(f"view {v['vs_actual']}", f"CREATE VIEW {v['vs_actual']} AS SELECT h.store_id, h.item_id, "
                      "h.forecast_date, h.step, h.yhat, h.yhat_lower, h.yhat_upper, h.forecaster, h.status, "
                      "h.model_set, h.production_version, h.scored_at, a.units AS actual, a.units - h.yhat AS error, "
                      "ABS(a.units - h.yhat) AS abs_error, CASE WHEN a.units >= h.yhat_lower AND a.units <= "
                      f"h.yhat_upper THEN 1 ELSE 0 END AS in_interval FROM {h} h JOIN {a} a ON a.store_id = h.store_id "
                      "AND a.item_id = h.item_id AND a.date = h.forecast_date"),
            # Sums beside the ratios, so a report can re-aggregate WAPE per store or per item correctly.
            Statement(f"view {v['accuracy']}", f"CREATE VIEW {v['accuracy']} AS SELECT store_id, item_id, "
                      "COUNT(*) AS forecasts, SUM(abs_error) AS sum_abs_error, SUM(ABS(actual)) AS sum_actual, "
                      "AVG(abs_error) AS mae, SUM(abs_error) / NULLIF(SUM(ABS(actual)), 0) AS wape, "
                      "AVG(error) AS bias, AVG(1.0 * in_interval) AS interval_coverage "
                      f"FROM {v['vs_actual']} GROUP BY store_id, item_id"),
        ]

    # staging ----------------------------------------------------------------------------
    def stage_name(self, kind: str) -> str:
        # Session-scoped tables: concurrent loads never share one, and a dead session leaves none behind.
        return f"#{self.table}_stage_{kind}" if self.dialect == "synapse" else f"{self.table}_stage_{kind}"

    def create_stages(self) -> list[Statement]:
        out = []
        for kind, schema in STAGES.items():
            name, cols = self.stage_name(kind), self._columns(schema)
            if self.dialect == "synapse":
                # HEAP loads fastest; the targets' distribution, so INSERT ... SELECT moves no data.
                out.append(Statement(f"stage {kind}", f"CREATE TABLE {name} ({cols}) WITH "
                                                      f"(DISTRIBUTION = HASH({', '.join(self.distribution)}), HEAP)"))
            else:
                out.append(Statement(f"stage {kind}", f"CREATE TEMPORARY TABLE {name} ({cols})"))
        return out

    def drop_stages(self) -> list[Statement]:
        """Drop the staging tables if they exist (a pooled session may still hold a failed load's)."""
        out = []
        for kind in STAGES:
            name = self.stage_name(kind)
            sql = (f"IF OBJECT_ID('tempdb..{name}') IS NOT NULL DROP TABLE {name}" if self.dialect == "synapse"
                   else f"DROP TABLE IF EXISTS {name}")
            out.append(Statement(f"drop stage {kind}", sql))
        return out

    def copy_into(self, kind: str, files: list[str], credential: str = "managed_identity",
                  secret: Optional[str] = None) -> Statement:
        """Synapse: the staged parquet ``files`` (https URLs) into staging table ``kind``; columns by
        position, which the staged files keep in the table's order."""
        if self.dialect != "synapse":
            raise ValueError("COPY INTO is Synapse's bulk load")
        identity, _, needs_secret = COPY_CREDENTIALS[credential]
        if needs_secret and not secret:
            raise ValueError(f"COPY INTO with credential {credential!r} needs its secret "
                             "(MANYMODELS_WAREHOUSE_COPY_SECRET)")
        options = ["FILE_TYPE = 'PARQUET'"]
        if identity is not None:
            clause = f"IDENTITY = '{identity}'" + (f", SECRET = {_SECRET}" if needs_secret else "")
            options.append(f"CREDENTIAL = ({clause})")
        sources = ", ".join(_literal(f) for f in files)
        return Statement(f"copy {kind}",
                         f"COPY INTO {self.stage_name(kind)} FROM {sources} WITH ({', '.join(options)})",
                         secret=secret.lstrip("?") if needs_secret else None)

    def insert_values(self, kind: str, rows: int) -> str:
        """SQLite/PostgreSQL: a parameterised multi-row INSERT of ``rows`` rows into staging table ``kind``."""
        if self.dialect == "synapse":
            raise ValueError("Synapse dedicated pools load with COPY INTO, never INSERT ... VALUES")
        names = STAGES[kind].names
        values = ", ".join(["(" + ", ".join("?" * len(names)) + ")"] * rows)
        return f"INSERT INTO {self.stage_name(kind)} ({', '.join(names)}) VALUES {values}"

    # the swap ---------------------------------------------------------------------------
    def lock(self) -> Optional[Statement]:
        """The first statement of the swap: concurrent loads of the same series take turns, so neither
        deletes before the other's rows are committed (which would leave both sets: duplicates).

        PostgreSQL: a table lock that conflicts with itself and with writers, not with readers.
        Synapse has no LOCK TABLE (and no sp_getapplock); its INSERT and UPDATE take shared table locks,
        but two updates of one row still wait for each other, so each load first updates the one row of
        a lock table. SQLite: none needed, its first write takes the database's single write lock.
        """
        if self.dialect == "postgresql":
            return Statement("lock", f"LOCK TABLE {self.table} IN SHARE ROW EXCLUSIVE MODE")
        if self.dialect == "synapse":
            return Statement("lock", f"UPDATE {self.lock_table} SET locked_at = CURRENT_TIMESTAMP")
        return None

    def swap(self) -> list[Statement]:
        """The swap transaction, in order: the lock, then per target table its delete and insert."""
        lock = self.lock()
        return ([lock] if lock else []) + [s for pair in self.replacements() for s in pair]

    def replacements(self) -> list[tuple[Statement, Statement]]:
        """Per target table: delete the rows the load replaces, insert the staged ones."""
        keys, rows, act = (self.stage_name(k) for k in ("keys", "rows", "actuals"))
        t, h, a = self.table, self.history, self.actuals
        fc, ac = ", ".join(WAREHOUSE_FORECASTS.names), ", ".join(WAREHOUSE_ACTUALS.names)
        same_series = "s.store_id = {0}.store_id AND s.item_id = {0}.item_id"
        return [
            (Statement("delete forecasts", f"DELETE FROM {t} WHERE EXISTS (SELECT 1 FROM {keys} s WHERE "
                                          f"{same_series.format(t)})"),
             Statement("insert forecasts", f"INSERT INTO {t} ({fc}) SELECT {fc} FROM {rows}")),
            (Statement("delete history", f"DELETE FROM {h} WHERE EXISTS (SELECT 1 FROM {rows} s WHERE "
                                        f"{same_series.format(h)} AND s.forecast_date = {h}.forecast_date "
                                        f"AND s.step = {h}.step)"),
             Statement("insert history", f"INSERT INTO {h} ({fc}) SELECT {fc} FROM {rows}")),
            (Statement("delete actuals", f"DELETE FROM {a} WHERE EXISTS (SELECT 1 FROM {act} s WHERE "
                                        f"{same_series.format(a)} AND s.date = {a}.date)"),
             # only the dates some forecast was made for: the table stays as small as the history needs
             Statement("insert actuals", f"INSERT INTO {a} ({ac}) SELECT {ac} FROM {act} s WHERE EXISTS "
                                         f"(SELECT 1 FROM {h} WHERE {same_series.format(h)} "
                                         f"AND {h}.forecast_date = s.date)")),
        ]
