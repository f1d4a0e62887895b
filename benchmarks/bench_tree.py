"""CPU seconds, peak RSS and load of a process tree, per stage, sampled from a background thread.

A stage's work is spread over the driver, Spark's JVM, its Python workers (forked and reaped by
the pyspark daemon) and servers the benchmark started (PostgreSQL, mlflow). None of them can
report their own CPU for a stage, so the tree under this process is sampled with psutil:

- CPU of a stage = for each process, its own user+system time and its reaped children's time at
  the end minus at the start. A process that exited during the stage while its parent lived is
  counted through the parent's reaped-children time (which holds its whole life), so only its
  time before the stage is taken off; counting both would count it twice.
- Peak RSS = the largest resident set of one process in any sample (the 12 GB target is per
  process), and of the whole tree; and the kernel's high-water mark (VmHWM) of the processes
  alive in the stage, which also catches spikes between samples (but counts since each
  process started, so a long-lived process carries its peak into later stages).
- Load = the 1-minute load average in each sample. It includes this benchmark's own processes;
  ``others`` estimates the rest as load minus the tree's CPU seconds per wall second.
"""
from __future__ import annotations

import contextlib
import os
import threading
import time
from dataclasses import dataclass, field

import psutil

GROUPS = ("driver", "spark_jvm", "python_workers", "postgres", "mlflow_server", "other")


@dataclass
class _Proc:
    group: str
    ppid: int
    own: float  # user + system
    reaped: float  # children_user + children_system (children it has waited for)
    hwm: int  # peak resident set since the process started


@dataclass
class _Window:
    name: str
    started: float
    base: dict[tuple[int, float], _Proc]
    last: dict[tuple[int, float], _Proc] = field(default_factory=dict)
    peak_rss: int = 0
    peak_rss_group: str = ""
    peak_tree_rss: int = 0
    peak_hwm: int = 0  # the kernel's high-water mark (VmHWM): catches spikes between samples
    loads: list[float] = field(default_factory=list)
    alive: set[tuple[int, float]] = field(default_factory=set)  # in the latest sample


def _group(p: psutil.Process, root: int) -> str:
    if p.pid == root:
        return "driver"
    try:
        name, cmd = p.name(), " ".join(p.cmdline())
    except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
        return "other"
    # The JVM's class path names pyspark too: tell it by its name or Spark's launcher scripts first.
    if name == "java" or "org.apache.spark" in cmd or "spark-submit" in cmd or "spark-class" in cmd:
        return "spark_jvm"
    if "pyspark.daemon" in cmd or "pyspark.worker" in cmd:
        return "python_workers"
    if name.startswith("postgres") or "/postgresql/" in cmd:
        return "postgres"
    if "mlflow" in cmd or "uvicorn" in cmd or "gunicorn" in cmd:
        return "mlflow_server"
    return "other"


class TreeSampler:
    """Samples the tree under ``root`` (default: this process) every ``interval`` seconds."""

    def __init__(self, root: int | None = None, interval: float = 0.5):
        self.root = root or os.getpid()
        self.interval = interval
        self._windows: list[_Window] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="bench-tree-sampler", daemon=True)

    def __enter__(self) -> "TreeSampler":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            self._sample()

    def _snapshot(self) -> tuple[dict[tuple[int, float], _Proc], dict[tuple[int, float], int]]:
        procs, rss = {}, {}
        try:
            root = psutil.Process(self.root)
            tree = [root, *root.children(recursive=True)]
        except psutil.NoSuchProcess:
            return procs, rss
        for p in tree:
            try:
                with p.oneshot():
                    key = (p.pid, p.create_time())
                    t = p.cpu_times()
                    mem = p.memory_info().rss
                    ppid = p.ppid()
            except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
                continue
            # classified again each time: a process can exec another program (spark-class -> java)
            procs[key] = _Proc(_group(p, self.root), ppid, t.user + t.system, t.children_user + t.children_system,
                               _hwm(p.pid) or mem)
            rss[key] = mem
        return procs, rss

    def _sample(self) -> None:
        procs, rss = self._snapshot()
        load = os.getloadavg()[0]
        with self._lock:
            for w in self._windows:
                _update(w, procs, rss, load)

    @contextlib.contextmanager
    def stage(self, name: str):
        """Measure the block; yields a dict filled with the stage's figures when it ends."""
        procs, rss = self._snapshot()
        window = _Window(name, time.perf_counter(), base=procs)
        _update(window, procs, rss, os.getloadavg()[0])
        with self._lock:
            self._windows.append(window)
        figures: dict = {}
        try:
            yield figures
        finally:
            procs, rss = self._snapshot()
            with self._lock:
                _update(window, procs, rss, os.getloadavg()[0])
                self._windows.remove(window)
            figures.update(_figures(window, time.perf_counter() - window.started))


def _update(w: _Window, procs: dict, rss: dict, load: float) -> None:
    w.last.update(procs)
    for key, r in rss.items():
        if r > w.peak_rss:
            w.peak_rss, w.peak_rss_group = r, procs[key].group
    w.peak_tree_rss = max(w.peak_tree_rss, sum(rss.values()))
    w.peak_hwm = max([w.peak_hwm, *(p.hwm for p in procs.values())])
    w.loads.append(load)
    w.alive = set(procs)


def _figures(w: _Window, wall: float) -> dict:
    by_group = dict.fromkeys(GROUPS, 0.0)
    for key, last in w.last.items():
        base = w.base.get(key)
        own0, reaped0 = (base.own, base.reaped) if base else (0.0, 0.0)
        if key not in w.alive and _reaped_in_tree(w, last):
            spent = -own0  # a living ancestor's reaped-children time holds all of its life
        else:
            spent = (last.own - own0) + (last.reaped - reaped0)
        by_group[last.group] += spent
    cpu = sum(by_group.values())
    load = sum(w.loads) / len(w.loads) if w.loads else 0.0
    return {"wall_s": wall, "cpu_s": cpu, "cpu_by_group_s": {g: round(s, 2) for g, s in by_group.items() if s},
            "peak_rss_gb": w.peak_rss / 2**30, "peak_rss_process": w.peak_rss_group,
            "peak_tree_rss_gb": w.peak_tree_rss / 2**30, "peak_hwm_gb": w.peak_hwm / 2**30, "load_mean": load,
            "load_max": max(w.loads, default=0.0), "others_load": max(0.0, load - cpu / wall) if wall else 0.0}


def _hwm(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/status") as f:
            return next((int(line.split()[1]) * 1024 for line in f if line.startswith("VmHWM:")), 0)
    except OSError:
        return 0


def _reaped_in_tree(w: _Window, proc: _Proc) -> bool:
    """Whether an exited process's time rolled up (wait() by wait()) into a process still alive:
    its parent is alive, or exited too and rolled up in turn."""
    alive = {pid for pid, _ in w.alive}
    seen = {pid: p for (pid, _), p in w.last.items()}
    for _ in range(32):  # parent chains are short; the bound only guards against pid reuse loops
        if proc.ppid in alive:
            return True
        if proc.ppid not in seen:
            return False
        proc = seen[proc.ppid]
    return False
