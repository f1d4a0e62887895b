"""Servers the tests start on 127.0.0.1 and stop by PID."""
import contextlib
import glob
import os
import signal
import shutil
import socket
import subprocess
import tempfile
import time


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def postgres_server():
    """A throwaway PostgreSQL cluster; yields (port, user). Fails, never skips, if PostgreSQL is missing."""
    bins = sorted(glob.glob("/usr/lib/postgresql/*/bin"))
    assert bins, "PostgreSQL server binaries not found: run `make test` (it installs them)"
    bindir = bins[-1]
    data = tempfile.mkdtemp(prefix="manymodels-pg-")
    # initdb refuses to run as root: run the server as the postgres system user then.
    as_user = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    if as_user:
        shutil.chown(data, "postgres")
    port, user = free_port(), "manymodels"
    subprocess.run(as_user + [f"{bindir}/initdb", "-D", data, "-U", user, "--auth=trust", "-E", "UTF8"],
                   check=True, capture_output=True)
    proc = subprocess.Popen(as_user + [f"{bindir}/postgres", "-D", data, "-p", str(port), "-h", "127.0.0.1",
                                       "-k", data], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 30
        while subprocess.run([f"{bindir}/pg_isready", "-h", "127.0.0.1", "-p", str(port)],
                             capture_output=True).returncode != 0:
            assert proc.poll() is None, "PostgreSQL exited while starting"
            assert time.time() < deadline, "PostgreSQL did not come up in 30 s"
            time.sleep(0.2)
        yield port, user
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        shutil.rmtree(data, ignore_errors=True)


@contextlib.contextmanager
def http_process(argv, port: int, env=None, ready_path: str = "/", timeout: float = 90, log_path=None):
    """A process serving HTTP on 127.0.0.1:``port``; yields the Popen once ``ready_path`` answers (any
    status). Output goes to ``log_path`` (or is discarded). Stopped by PID, killed if it lingers."""
    import urllib.error
    import urllib.request

    log = open(log_path, "w") if log_path else subprocess.DEVNULL
    proc = subprocess.Popen(argv, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.time() + timeout
        while True:
            assert proc.poll() is None, f"{argv[:4]} exited with {proc.returncode} while starting (log: {log_path})"
            assert time.time() < deadline, f"{argv[:4]} did not answer on port {port} in {timeout:.0f} s"
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}{ready_path}", timeout=2).close()
                break
            except urllib.error.HTTPError:
                break  # it answers, with an error status: up
            except OSError:
                time.sleep(0.2)
        yield proc
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if log_path:
            log.close()


@contextlib.contextmanager
def mlflow_server(folder, port: int | None = None, log_name: str = "mlflow.log"):
    """An `mlflow server` on 127.0.0.1 with its own sqlite backend and artifact store under
    ``folder`` (kept, so a restarted server on the same folder sees the same registry).
    Yields (uri, Popen)."""
    import sys

    os.makedirs(folder, exist_ok=True)
    port = port or free_port()
    argv = [os.path.join(os.path.dirname(sys.executable), "mlflow"), "server", "--host", "127.0.0.1",
            "--port", str(port), "--workers", "1", "--backend-store-uri", f"sqlite:///{folder}/mlflow.db",
            "--artifacts-destination", f"{folder}/artifacts"]
    with http_process(argv, port, ready_path="/health", timeout=120,
                      log_path=os.path.join(folder, log_name)) as proc:
        yield f"http://127.0.0.1:{port}", proc


def _spark_home() -> str:
    import pyspark

    return os.path.dirname(pyspark.__file__)


def _wait_for_port(port: int, proc_alive, what: str, log_path: str, timeout: float = 120) -> None:
    deadline = time.time() + timeout
    while True:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        assert proc_alive(), f"{what} exited while starting (log: {log_path})"
        assert time.time() < deadline, f"{what} did not listen on 127.0.0.1:{port} in {timeout:.0f} s (log: {log_path})"
        time.sleep(0.3)


def _stop(proc: subprocess.Popen, sig: int = signal.SIGTERM, grace: float = 30) -> None:
    proc.send_signal(sig)
    try:
        proc.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


@contextlib.contextmanager
def spark_standalone(folder, cores: int = 2, memory: str = "3g"):
    """A Spark standalone master and one worker from the installed pyspark (the pip package has no
    start-master.sh), on 127.0.0.1. Yields a dict: master URL, master web UI URL, worker work dir.
    ``bin/spark-class`` execs java, so each Popen's PID is the JVM's, and both are stopped by it."""
    import sys

    os.makedirs(folder, exist_ok=True)
    spark_class = os.path.join(_spark_home(), "bin", "spark-class")
    env = {**os.environ, "SPARK_LOCAL_IP": "127.0.0.1", "PYSPARK_PYTHON": os.environ.get("PYSPARK_PYTHON", sys.executable),
           "SPARK_LOG_DIR": str(folder)}
    port, ui, worker_ui = free_port(), free_port(), free_port()
    work = os.path.join(folder, "work")
    procs = []
    try:
        master_log = os.path.join(folder, "master.log")
        with open(master_log, "w") as log:
            procs.append(subprocess.Popen([spark_class, "org.apache.spark.deploy.master.Master", "--host", "127.0.0.1",
                                           "--port", str(port), "--webui-port", str(ui)],
                                          env=env, stdout=log, stderr=subprocess.STDOUT))
        _wait_for_port(port, lambda: procs[0].poll() is None, "Spark master", master_log)
        worker_log = os.path.join(folder, "worker.log")
        with open(worker_log, "w") as log:
            procs.append(subprocess.Popen([spark_class, "org.apache.spark.deploy.worker.Worker", "--host", "127.0.0.1",
                                           "--cores", str(cores), "--memory", memory, "--webui-port", str(worker_ui),
                                           "--work-dir", work, f"spark://127.0.0.1:{port}"],
                                          env=env, stdout=log, stderr=subprocess.STDOUT))
        _wait_for_port(worker_ui, lambda: procs[1].poll() is None, "Spark worker", worker_log)
        deadline = time.time() + 60
        while "Successfully registered with master" not in open(worker_log).read():
            assert procs[1].poll() is None, f"Spark worker exited (log: {worker_log})"
            assert time.time() < deadline, f"Spark worker did not register with the master (log: {worker_log})"
            time.sleep(0.3)
        yield {"master": f"spark://127.0.0.1:{port}", "ui": f"http://127.0.0.1:{ui}", "work_dir": work,
               "worker_log": worker_log}
    finally:
        for proc in reversed(procs):
            _stop(proc)


@contextlib.contextmanager
def spark_connect_server(folder, master: str = "local[2]", driver_memory: str = "2g"):
    """A Spark Connect server from the installed pyspark (``sbin/start-connect-server.sh``) on
    127.0.0.1; yields its ``sc://`` URL. The script daemonizes and writes the JVM's PID under
    SPARK_PID_DIR; the server is stopped by that PID."""
    import sys

    os.makedirs(folder, exist_ok=True)
    port = free_port()
    env = {**os.environ, "SPARK_PID_DIR": str(folder), "SPARK_LOG_DIR": str(folder), "SPARK_LOCAL_IP": "127.0.0.1",
           "PYSPARK_PYTHON": os.environ.get("PYSPARK_PYTHON", sys.executable), "SPARK_IDENT_STRING": "manymodels"}
    script = os.path.join(_spark_home(), "sbin", "start-connect-server.sh")
    subprocess.run([script, "--master", master, "--driver-memory", driver_memory,
                    "--conf", "spark.connect.grpc.binding.address=127.0.0.1",
                    "--conf", f"spark.connect.grpc.binding.port={port}",
                    "--conf", "spark.driver.host=127.0.0.1", "--conf", "spark.driver.bindAddress=127.0.0.1",
                    "--conf", "spark.ui.enabled=false",
                    "--conf", "spark.sql.session.timeZone=UTC"], env=env, check=True, capture_output=True)
    [pid_file] = glob.glob(os.path.join(folder, "*SparkConnectServer*.pid"))
    pid = int(open(pid_file).read().strip())
    [log_path] = glob.glob(os.path.join(folder, "*SparkConnectServer*.out")) or [pid_file]
    try:
        _wait_for_port(port, lambda: os.path.exists(f"/proc/{pid}"), "Spark Connect server", log_path)
        yield f"sc://127.0.0.1:{port}", log_path
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, 15)
        deadline = time.time() + 30
        while os.path.exists(f"/proc/{pid}") and time.time() < deadline:
            time.sleep(0.2)
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, 9)


AZURITE_ACCOUNT = "devstoreaccount1"
# Azurite's well-known development key: public (Azurite's docs), accepted by the emulator only.
AZURITE_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="


@contextlib.contextmanager
def azurite(folder):
    """Azurite's blob endpoint (npm `azurite`, installed under .tools/ by `make test`) on a free
    loopback port, with its data in ``folder``; yields a connection string. Stopped by PID."""
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    binary = os.path.join(root, ".tools", "node_modules", ".bin", "azurite-blob")
    assert os.path.exists(binary), "Azurite is not installed: run `make test` (it installs it under .tools/)"
    port = free_port()
    proc = subprocess.Popen([binary, "--blobHost", "127.0.0.1", "--blobPort", str(port), "--location", str(folder),
                             "--skipApiVersionCheck", "--silent"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 60
        while True:
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", port)) == 0:
                    break
            assert proc.poll() is None, "Azurite exited while starting"
            assert time.time() < deadline, "Azurite did not listen in 60 s"
            time.sleep(0.2)
        yield (f"DefaultEndpointsProtocol=http;AccountName={AZURITE_ACCOUNT};AccountKey={AZURITE_KEY};"
               f"BlobEndpoint=http://127.0.0.1:{port}/{AZURITE_ACCOUNT};")
    finally:
        # Azurite ignores SIGTERM, and on SIGINT waits for its clients' idle keep-alive connections:
        # 30 s per stop, measured. Its data is a scratch folder, so a short grace is enough.
        _stop(proc, signal.SIGINT, grace=3)


def spark_session():
    """The tests' local Spark session (local[2], loopback), shared by every test in the process."""
    from pyspark.sql import SparkSession

    from manymodels_assets.resources.spark import spark_config

    builder = SparkSession.builder
    for key, value in spark_config(master="local[2]", driver_memory="2g").items():
        builder = builder.config(key, value)
    return builder.getOrCreate()


def serving_pid(server: subprocess.Popen) -> int:
    """The process that answers an ``mlflow server``'s HTTP: its uvicorn child. Killing the
    ``mlflow server`` process itself leaves that child serving (an orphan), so a test that takes the
    server away kills this one; the parent is then stopped as usual."""
    for stat in glob.glob("/proc/[0-9]*/stat"):
        try:
            ppid = int(open(stat).read().rsplit(")", 1)[1].split()[1])
            cmdline = open(stat[:-4] + "cmdline").read()
        except (OSError, ValueError):  # gone meanwhile
            continue
        if ppid == server.pid and "uvicorn" in cmdline:
            return int(stat.split("/")[2])
    raise AssertionError(f"mlflow server {server.pid} has no uvicorn child")
