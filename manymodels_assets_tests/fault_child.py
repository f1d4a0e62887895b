"""Run one job in this process, optionally with a fault injected at a chosen point.

    python -m manymodels_assets_tests.fault_child JOB [--at module:function[#n]] [--after]
                                                      [--kill-pid PID] [--range FIRST LAST]

At the n-th call (default the first) of the function, before it runs (or after it returns,
with --after), the process SIGKILLs itself (no cleanup, no finally blocks) or, with --kill-pid,
SIGKILLs that process (e.g. a server) and carries on. Settings come from the environment
(MANYMODELS_HOME, DAGSTER_HOME), as for any run. Exit status: 0 run succeeded, 1 run failed,
3 the fault point was never reached.
"""
import argparse
import importlib
import os
import signal
import sys
import time


def arm(target: str, after: bool, victim: int | None, reached: dict) -> None:
    target, _, nth = target.partition("#")
    calls = {"left": int(nth or 1)}
    module_name, attr = target.split(":")
    owner_name, _, func_name = attr.rpartition(".")
    owner = importlib.import_module(module_name)
    for part in filter(None, owner_name.split(".")):
        owner = getattr(owner, part)
    original = getattr(owner, func_name)

    def fault():
        reached["yes"] = True
        if victim is None:
            os.kill(os.getpid(), signal.SIGKILL)
        os.kill(victim, signal.SIGKILL)
        while os.path.exists(f"/proc/{victim}") and open(f"/proc/{victim}/stat").read().split()[2] != "Z":
            time.sleep(0.05)

    def wrapped(*args, **kwargs):
        calls["left"] -= 1
        if calls["left"] == 0 and not after:
            fault()
        result = original(*args, **kwargs)
        if calls["left"] == 0 and after:
            fault()
        return result

    setattr(owner, func_name, wrapped)


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("job")
    p.add_argument("--at")
    p.add_argument("--after", action="store_true")
    p.add_argument("--kill-pid", type=int)
    p.add_argument("--range", nargs=2)
    args = p.parse_args()
    import dagster as dg

    from manymodels_assets.definitions import build_definitions
    from manymodels_assets.demo import run_job
    from manymodels_assets.sensors import RANGE_END, RANGE_START, all_store_items
    from manymodels_assets.settings import Settings

    reached: dict = {}
    if args.at:
        arm(args.at, args.after, args.kill_pid, reached)
    defs = build_definitions(Settings.from_env())
    with dg.DagsterInstance.get() as instance:
        if args.range:
            tags = {RANGE_START: args.range[0], RANGE_END: args.range[1]}
        else:
            tags = (all_store_items(instance) or {}) if args.job != "ingest_pipeline" else {}
        try:
            run_job(defs, instance, args.job, tags)
        except RuntimeError as exc:
            print(exc, file=sys.stderr)
            sys.exit(1)
    sys.exit(3 if args.at and not reached else 0)


if __name__ == "__main__":
    main()
