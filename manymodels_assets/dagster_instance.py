"""Extensions of the Dagster instance, named in `dagster.yaml` so that every process that loads
the instance (webserver, daemon, run workers, the CLI) uses them.

`BatchedSqliteEventLogStorage` and `BatchedPostgresEventLogStorage` cut Dagster's per-partition
bookkeeping of a range run over thousands of store-items to one planned event per asset and one
database transaction per batch of materializations (see their docstrings).

`MonitoredRunLauncher` lets run monitoring notice a dead run worker. The stock launcher cannot
say whether a run's worker is alive, so a run whose worker was killed (with its code server,
or a run executed in a process that was killed) stays STARTED for ever and holds a slot of the
run queue. This launcher asks the code server that started the run whether it still runs it,
and for a run executed in-process (the demo, tests) whether its process is still alive.
"""
from __future__ import annotations

import json
import os
import socket

from collections.abc import Mapping, Sequence
from typing import Any

from dagster import DagsterEventType
from dagster._config import Field, IntSource, StringSource
from dagster._core.launcher.base import CheckRunHealthResult, WorkerStatus
from dagster._core.launcher.default_run_launcher import DefaultRunLauncher
from dagster._core.storage.tags import GRPC_INFO_TAG

from dagster._core.storage.event_log.sql_event_log import SqlEventLogStorageTable
from dagster._core.storage.event_log.sqlite.sqlite_event_log import SqliteEventLogStorage
from dagster_postgres.event_log import PostgresEventLogStorage
from dagster_postgres.utils import get_token_provider_from_config, pg_config, pg_url_from_config

RUN_PROCESS_TAG = "manymodels/run_process"
"""``<host>:<pid>`` of a process that executes a run in-process (see :func:`in_process_tags`)."""


def in_process_tags() -> dict[str, str]:
    """Tags for a run executed in this process, so run monitoring can tell when it died."""
    return {RUN_PROCESS_TAG: f"{socket.gethostname()}:{os.getpid()}"}


class MonitoredRunLauncher(DefaultRunLauncher):
    """The default launcher (runs in a subprocess of the code server), plus worker health checks."""

    @property
    def supports_check_run_worker_health(self) -> bool:
        return True

    def check_run_worker_health(self, run) -> CheckRunHealthResult:
        if RUN_PROCESS_TAG in run.tags:
            return _process_health(run.tags[RUN_PROCESS_TAG])
        if GRPC_INFO_TAG not in run.tags:
            return CheckRunHealthResult(WorkerStatus.UNKNOWN, "no record of who runs it", transient=True)
        from dagster._grpc.client import DagsterGrpcClient
        from dagster._grpc.types import GetCurrentRunsResult
        from dagster_shared.serdes import deserialize_value

        info = json.loads(run.tags[GRPC_INFO_TAG])
        client = DagsterGrpcClient(port=info.get("port"), socket=info.get("socket"), host=info.get("host"),
                                   use_ssl=bool(info.get("use_ssl", False)))
        try:
            current = deserialize_value(client.get_current_runs(), GetCurrentRunsResult).current_runs
        except Exception as exc:  # noqa: BLE001 - grpc raises its own error types; all mean "cannot ask"
            # The run worker is a child of its code server: with the server gone, so is the run.
            return CheckRunHealthResult(WorkerStatus.FAILED, f"the code server that ran it is gone ({exc})")
        if run.run_id in current:
            return CheckRunHealthResult(WorkerStatus.RUNNING)
        return CheckRunHealthResult(WorkerStatus.FAILED, "its code server no longer runs it (the worker died)")


def _process_health(host_pid: str) -> CheckRunHealthResult:
    host, _, pid = host_pid.rpartition(":")
    if host != socket.gethostname():
        return CheckRunHealthResult(WorkerStatus.UNKNOWN, f"it runs on {host}", transient=True)
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return CheckRunHealthResult(WorkerStatus.FAILED, f"its process {pid} is gone")
    except PermissionError:  # alive, owned by someone else
        pass
    return CheckRunHealthResult(WorkerStatus.RUNNING)


# --- event log storage -----------------------------------------------------------------------

_BATCHABLE = ({DagsterEventType.ASSET_MATERIALIZATION}, {DagsterEventType.ASSET_OBSERVATION})
DEFAULT_EVENT_BATCH_SIZE = 1000


class _RangeRunBookkeeping:
    """What both storages add.

    Planned events: a range run over N store-items writes one ASSET_MATERIALIZATION_PLANNED
    event per asset with the partition subset, not N (dagster writes them from the process that
    creates the run, which is why this lives in the storage every process loads). The price:
    a failed run does not mark its partitions failed; this product records each series'
    status in the model set and shows failed series in the run's metadata instead.

    Materializations: Dagster buffers those of a range run and hands them over in batches of
    DAGSTER_EVENT_BATCH_SIZE when that variable is set; it is read from the environment by
    the process that handles the events. The storage is the one piece of configuration every
    process loads, so its `event_batch_size` sets that default for the process.
    """

    supports_partition_subset_in_asset_materialization_planned_events = True

    @staticmethod
    def _enable_batches(size: int) -> None:
        os.environ.setdefault("DAGSTER_EVENT_BATCH_SIZE", str(size))


class BatchedSqliteEventLogStorage(_RangeRunBookkeeping, SqliteEventLogStorage):
    """Dagster's sqlite event log (files under ``<base_dir>/history/runs``, the default layout), with
    batches of asset events written in one transaction per database instead of two per event.

    The stock storage writes each materialization to the run's database and to the index
    database, each time through a new engine and transaction: about 7 ms per partition.
    """

    def __init__(self, base_dir: str, event_batch_size: int = DEFAULT_EVENT_BATCH_SIZE, inst_data=None):
        self._home = base_dir
        self._event_batch_size = event_batch_size
        self._enable_batches(event_batch_size)
        super().__init__(os.path.join(base_dir, "history", "runs"), inst_data=inst_data)

    @classmethod
    def config_type(cls):
        return {"base_dir": StringSource, "event_batch_size": Field(IntSource, is_required=False,
                                                                    default_value=DEFAULT_EVENT_BATCH_SIZE)}

    @classmethod
    def from_config_value(cls, inst_data, config_value: Mapping[str, Any]):
        return cls(inst_data=inst_data, **config_value)

    def store_event_batch(self, events: Sequence) -> None:
        types = {e.get_dagster_event().event_type for e in events}
        events = [e for e in events if not e.get_dagster_event().is_asset_failed_to_materialize]
        if types not in _BATCHABLE or not events or len({e.run_id for e in events}) != 1:
            return super().store_event_batch(events)
        rows = [self._event_to_row(e) for e in events]
        with self.run_connection(events[0].run_id) as conn:
            conn.execute(SqlEventLogStorageTable.insert(), rows)
        with self.index_transaction() as conn:
            ids = [conn.execute(SqlEventLogStorageTable.insert().values(**row)).inserted_primary_key[0]
                   for row in rows]
            self._store_asset_event_tags(conn, events, ids)
            self._store_asset_event(conn, events[-1], ids[-1])  # the asset's latest event, as postgres does


class BatchedPostgresEventLogStorage(_RangeRunBookkeeping, PostgresEventLogStorage):
    """dagster-postgres' event log (which already writes a batch of materializations in one
    statement) with one planned event per asset for a range run; `event_batch_size` sets
    DAGSTER_EVENT_BATCH_SIZE for every process that loads the instance. Use
    ``postgresql+psycopg2://`` URLs (SQLAlchemy 2.1 with psycopg 3 breaks Dagster's NOTIFY)."""

    def __init__(self, *args, event_batch_size: int = DEFAULT_EVENT_BATCH_SIZE, **kwargs):
        self._enable_batches(event_batch_size)
        super().__init__(*args, **kwargs)

    @classmethod
    def config_type(cls):
        return {**pg_config(), "event_batch_size": Field(IntSource, is_required=False,
                                                         default_value=DEFAULT_EVENT_BATCH_SIZE)}

    @classmethod
    def from_config_value(cls, inst_data, config_value: Mapping[str, Any]):
        return cls(inst_data=inst_data, postgres_url=pg_url_from_config(config_value),
                   should_autocreate_tables=config_value.get("should_autocreate_tables", True),
                   token_provider=get_token_provider_from_config(config_value),
                   event_batch_size=config_value.get("event_batch_size", DEFAULT_EVENT_BATCH_SIZE))
