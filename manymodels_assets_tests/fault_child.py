"""Run one job in this process and SIGKILL it at a chosen point: the crash the fault tests inject.

    python -m manymodels_assets_tests.fault_child <job> <module:function[#n]> [after]

The function is wrapped so that the process kills itself (SIGKILL: no cleanup, no finally
blocks) just before its n-th call (default the first), or just after it returns with ``after``. Settings come from
the environment (MANYMODELS_HOME, DAGSTER_HOME), as for any run.
"""
import importlib
import os
import signal
import sys


def arm(target: str, after: bool) -> None:
    target, _, nth = target.partition("#")
    calls = {"left": int(nth or 1)}
    module_name, attr = target.split(":")
    owner_name, _, func_name = attr.rpartition(".")
    module = importlib.import_module(module_name)
    owner = module
    for part in filter(None, owner_name.split(".")):
        owner = getattr(owner, part)
    original = getattr(owner, func_name)

    def crash(*args, **kwargs):
        calls["left"] -= 1
        if calls["left"] > 0:
            return original(*args, **kwargs)
        if not after:
            os.kill(os.getpid(), signal.SIGKILL)
        result = original(*args, **kwargs)
        os.kill(os.getpid(), signal.SIGKILL)
        return result

    setattr(owner, func_name, crash)


def main() -> None:
    job, target = sys.argv[1], sys.argv[2]
    after = len(sys.argv) > 3 and sys.argv[3] == "after"
    import dagster as dg

    from manymodels_assets.definitions import build_definitions
    from manymodels_assets.demo import run_job
    from manymodels_assets.sensors import all_store_items
    from manymodels_assets.settings import Settings

    arm(target, after)
    defs = build_definitions(Settings.from_env())
    with dg.DagsterInstance.get() as instance:
        tags = all_store_items(instance) if job != "ingest_pipeline" else {}
        run_job(defs, instance, job, tags or {})
    sys.exit(3)  # not killed: the fault point was never reached


if __name__ == "__main__":
    main()
