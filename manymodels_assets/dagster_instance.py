"""Extensions of the Dagster instance, named in `dagster.yaml` so that every process that loads
the instance (webserver, daemon, run workers, the CLI) uses them.

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

from dagster._core.launcher.base import CheckRunHealthResult, WorkerStatus
from dagster._core.launcher.default_run_launcher import DefaultRunLauncher
from dagster._core.storage.tags import GRPC_INFO_TAG

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
