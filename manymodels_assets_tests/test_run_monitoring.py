"""The shipped dagster.yaml under the real daemon: a run whose worker and code server are killed
is marked failed by run monitoring, and the run queue moves on."""
import os
import re
import signal

import dagster as dg
import psutil
import pytest

from manymodels_assets.sales_generator import GeneratorConfig, generate
from manymodels_assets_tests.dagster_procs import cli, daemon, env_for, instance_at, make_home, wait_for

pytestmark = pytest.mark.integration


def _worker(instance, run_id: str):
    """The run worker process of ``run_id``, from the pid its first engine event reports."""
    for event in instance.all_logs(run_id):
        found = re.search(r"pid: (\d+)", event.message or "")
        if found:
            return psutil.Process(int(found.group(1)))
    return None


def test_a_killed_run_is_marked_failed_and_the_queue_moves(tmp_path):
    """A crash takes the daemon, the code server and the run worker (and its Spark) down at once;
    after a restart, run monitoring fails the orphaned run and the queued run goes ahead."""
    home = make_home(tmp_path / "dagster", run_queue={"max_concurrent_runs": 1},
                     run_monitoring={"poll_interval_seconds": 3})
    mm_home = str(tmp_path / "mm")
    generate(GeneratorConfig(stores=2, items=2, days=90, seed=1), os.path.join(mm_home, "lake", "landing"))
    env = env_for(home, mm_home)
    with instance_at(home) as inst:
        with daemon(env, tmp_path / "daemon-1.log") as first_daemon:
            cli("job", "launch", "-w", "workspace.yaml", "-j", "ingest_pipeline", env=env)
            [first] = inst.get_runs()
            wait_for(lambda: _worker(inst, first.run_id), 240, "the first run's worker", every=0.2)
            cli("job", "launch", "-w", "workspace.yaml", "-j", "ingest_pipeline", env=env)
            second = next(r for r in inst.get_runs() if r.run_id != first.run_id)
            os.killpg(first_daemon.pid, signal.SIGKILL)  # the crash
            first_daemon.wait()
        assert inst.get_run_by_id(first.run_id).status == dg.DagsterRunStatus.STARTED  # orphaned
        assert inst.get_run_by_id(second.run_id).status == dg.DagsterRunStatus.QUEUED  # held by it
        with daemon(env, tmp_path / "daemon-2.log"):
            wait_for(lambda: inst.get_run_by_id(first.run_id).status == dg.DagsterRunStatus.FAILURE, 180,
                     "run monitoring to mark the killed run failed")
            wait_for(lambda: inst.get_run_by_id(second.run_id).status == dg.DagsterRunStatus.SUCCESS, 300,
                     "the queued run to start and succeed")
        assert any("code server that ran it is gone" in (e.message or "") for e in inst.all_logs(first.run_id))
