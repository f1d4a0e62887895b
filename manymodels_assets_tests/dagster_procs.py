"""Dagster's own processes (daemon, webserver) started by the tests on 127.0.0.1 and stopped by PID."""
import contextlib
import os
import shutil
import signal
import subprocess
import sys
import time

import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.dirname(sys.executable)


def make_home(path, **overrides) -> str:
    """A DAGSTER_HOME holding the shipped dagster.yaml, with top-level sections overridden."""
    os.makedirs(path, exist_ok=True)
    with open(os.path.join(ROOT, "dagster.yaml")) as f:
        config = yaml.safe_load(f)
    for key, value in overrides.items():
        config[key] = {**config.get(key, {}), **value} if isinstance(value, dict) else value
    # The shipped file names the home by $DAGSTER_HOME; a test process holds several homes at once.
    storage = config.get("event_log_storage", {}).get("config", {})
    if storage.get("base_dir") == {"env": "DAGSTER_HOME"}:
        storage["base_dir"] = str(path)
    with open(os.path.join(path, "dagster.yaml"), "w") as f:
        yaml.safe_dump(config, f)
    return str(path)


def env_for(home: str, manymodels_home: str, **extra) -> dict:
    return {**os.environ, "DAGSTER_HOME": home, "MANYMODELS_HOME": manymodels_home,
            "MANYMODELS_SPARK_MASTER": "local[2]", "MANYMODELS_SPARK_DRIVER_MEMORY": "1g",
            "PYSPARK_PYTHON": sys.executable, **extra}


@contextlib.contextmanager
def process_group(argv, env, log_path):
    """A process in its own session (so its children, e.g. code servers and Spark, go with it)."""
    log = open(log_path, "w")
    proc = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        yield proc
    finally:
        stop_group(proc)
        log.close()


def stop_group(proc, grace: float = 30) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        pass
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()


def daemon(env, log_path):
    return process_group([os.path.join(BIN, "dagster-daemon"), "run", "-w", "workspace.yaml"], env, log_path)


def webserver(env, port: int, log_path):
    return process_group([os.path.join(BIN, "dagster-webserver"), "-w", "workspace.yaml", "-h", "127.0.0.1",
                          "-p", str(port)], env, log_path)


def wait_for(predicate, timeout: float, what: str, every: float = 1.0):
    deadline = time.time() + timeout
    while True:
        value = predicate()
        if value:
            return value
        assert time.time() < deadline, f"timed out after {timeout:.0f}s waiting for {what}"
        time.sleep(every)


def cli(*args, env, timeout: float = 300) -> str:
    out = subprocess.run([os.path.join(BIN, "dagster"), *args], cwd=ROOT, env=env, capture_output=True,
                         text=True, timeout=timeout)
    assert out.returncode == 0, out.stdout + out.stderr
    return out.stdout


def has_tool(name: str) -> bool:
    return shutil.which(name) is not None


def instance_at(home: str):
    """The Dagster instance of a DAGSTER_HOME, as the processes started on it see it. Opening it
    creates its sqlite databases, so processes started afterwards never race to create them."""
    from dagster._core.instance.ref import InstanceRef

    import dagster as dg

    instance = dg.DagsterInstance.from_ref(InstanceRef.from_dir(home))
    instance.get_runs(limit=1)
    instance.all_instigator_state()
    instance.fetch_materializations(dg.AssetKey("raw_sales"), limit=1)
    return instance
