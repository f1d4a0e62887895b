"""One schema per table: column name -> logical type. Spark, Arrow and SQL types are derived.

This module imports nothing from the project, so every layer (the forecasting core, the Spark
engine, the warehouse, the serving process) reads its columns from here.
"""
from __future__ import annotations

from dataclasses import dataclass

# logical type -> (Spark DDL type, SQL type per warehouse dialect)
_SPARK = {"string": "string", "int": "int", "double": "double", "date": "date", "timestamp": "timestamp",
          "boolean": "boolean", "binary": "binary"}
_SQL = {
    # SQLite stores by affinity: TEXT/INTEGER/REAL are what its ODBC driver maps back cleanly.
    "sqlite": {"string": "TEXT", "key": "TEXT", "int": "INTEGER", "double": "REAL", "date": "DATE",
               "timestamp": "TIMESTAMP", "boolean": "INTEGER"},
    "postgresql": {"string": "VARCHAR(400)", "key": "VARCHAR(400)", "int": "INTEGER", "double": "DOUBLE PRECISION",
                   "date": "DATE", "timestamp": "TIMESTAMP", "boolean": "SMALLINT"},
    # Synapse dedicated pools: HASH distribution needs a bounded type; no TEXT, no BOOLEAN.
    "synapse": {"string": "NVARCHAR(400)", "key": "NVARCHAR(400)", "int": "INT", "double": "FLOAT", "date": "DATE",
                "timestamp": "DATETIME2(0)", "boolean": "BIT"},
}
DIALECTS = tuple(_SQL)


@dataclass(frozen=True)
class Column:
    name: str
    type: str  # a key of _SPARK
    doc: str = ""


@dataclass(frozen=True)
class Table:
    name: str
    columns: tuple[Column, ...]

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.columns]

    def types(self) -> dict[str, str]:
        return {c.name: c.type for c in self.columns}

    def spark_ddl(self) -> str:
        return ", ".join(f"{c.name} {_SPARK[c.type]}" for c in self.columns)

    def spark_type(self, name: str) -> str:
        return _SPARK[self.types()[name]]

    def sql_types(self, dialect: str, keys: tuple[str, ...] = ()) -> dict[str, str]:
        """Column -> SQL type in ``dialect``; ``keys`` get the bounded key type (indexable everywhere)."""
        if dialect not in _SQL:
            raise ValueError(f"unknown SQL dialect {dialect!r}; known: {list(_SQL)}")
        return {c.name: _SQL[dialect]["key" if c.name in keys else c.type] for c in self.columns}

    def select(self, *names: str, name: str | None = None) -> "Table":
        by_name = {c.name: c for c in self.columns}
        return Table(name or self.name, tuple(by_name[n] for n in names))

    def without(self, *names: str, name: str | None = None) -> "Table":
        return Table(name or self.name, tuple(c for c in self.columns if c.name not in names))


def _table(name: str, *columns: tuple) -> Table:
    return Table(name, tuple(Column(*c) for c in columns))


RAW_SALES = _table(
    "raw_sales",
    ("store_id", "string"), ("item_id", "string"), ("date", "date"),
    ("units", "double"), ("price", "double"), ("promo", "int"),
    ("drop", "string", "the landing drop the row came from (the latest drop wins)"),
)
RAW_CALENDAR = RAW_SALES.without("units", name="raw_calendar")
"""The planned price and promotion of future dates."""
LANDED = RAW_SALES.without("drop", name="landed")
"""The columns a landing file may give, typed (a scan casts or parses each one)."""

SERIES = _table(
    "series",
    ("key", "string", "series key: store and item through the key codec"),
    ("store_id", "string"), ("item_id", "string"),
    ("date", "date", "first day of the period"),
    ("units", "double"), ("price", "double"), ("promo", "int"),
    ("freq", "string", "pandas frequency of the series"),
    ("data_version", "string", "hash of the series' dates and units"),
)

MODEL_SET = _table(
    "model_set",
    ("key", "string"), ("store_id", "string"), ("item_id", "string"),
    ("status", "string", "ok | cold_start | fallback | inactive | failed (see forecasting.status)"),
    ("forecaster", "string"),
    ("params", "string", "the fitted forecaster's parameters, JSON"),
    ("n_obs", "int"), ("n_folds", "int"), ("first_date", "date"), ("last_date", "date"), ("freq", "string"),
    ("season_length", "int"), ("horizon", "int"),
    ("mae", "double"), ("rmse", "double"), ("mape", "double"), ("smape", "double"), ("wape", "double"),
    ("mase", "double"),
    ("interval_level", "double"), ("interval_scale", "string"), ("interval_halfwidth", "double"),
    ("interval_width", "double"), ("interval_coverage", "double"),
    ("candidate_metrics", "string", "every candidate's backtest metrics (or why it was skipped), JSON"),
    ("candidate_backtests", "string", "every candidate's backtest forecasts, JSON, for a sample of series: "
                                      "what the next run's panel combination weights are learned from"),
    ("backtest", "string", "the chosen forecaster's backtest windows, JSON"),
    ("calendar_regressors", "string", "the planned calendar's regressors over the horizon, JSON"),
    ("data_version", "string"),
    ("fit_seconds", "double"),
    ("reason", "string", "why the series has this status and forecaster (cold start, fallback)"),
    ("error", "string", "what failed (candidates, refit), if anything"),
    ("model_format", "string"),
    ("model", "binary", "the serialized fitted forecaster; null in a row carried over by reference: "
                        "the bytes stay in model set `model_set`"),
    ("model_set", "string", "the model set this row was trained in"),
    ("config_version", "string", "hash of the training configuration the model was trained with"),
    ("trained_at", "timestamp"),
)

FORECASTS = _table(
    "forecasts",
    ("key", "string"), ("store_id", "string"), ("item_id", "string"),
    ("forecast_date", "date"),
    ("step", "int", "periods after the model's training end (its lead time); the first is past 1 when the "
                    "production model is older than the series' newest data"),
    ("yhat", "double"), ("yhat_lower", "double"), ("yhat_upper", "double"),
    ("forecaster", "string"),
    ("status", "string", "the model's status: ok, cold_start, fallback or inactive (a zero forecast)"),
    ("model_set", "string", "the model set the model was trained in"),
    ("production_version", "string", "the production registry version that served it"),
    ("scored_at", "timestamp"),
)
"""Forecast rows: the lake's `forecasts` table, and (without `key`) the warehouse's."""

WAREHOUSE_FORECASTS = FORECASTS.without("key")

WAREHOUSE_ACTUALS = SERIES.select("store_id", "item_id", "date", "units", name="actuals")
"""What sold on the forecast dates: the warehouse's forecast-vs-actual views compare with it."""
