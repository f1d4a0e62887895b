"""Servers the tests start on 127.0.0.1 and stop by PID."""
import contextlib
import glob
import os
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
