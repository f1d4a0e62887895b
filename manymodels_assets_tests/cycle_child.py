"""Two days of the pipeline in one process, on the settings in the environment (so one Spark session
serves all of it):

    python -m manymodels_assets_tests.cycle_child [--next-drop DIR]
                                                  [--then JOB --at module:function --kill-pid PID]

1. the whole graph on what the landing zone holds (``demo.run_all``, as ``manymodels demo``);
2. with ``--next-drop``: DIR's feeds copied into the landing zone, then ingest, training, promotion
   (with a rule every model passes, so short synthetic series always yield a new production
   version) and scoring over every store-item;
3. with ``--then``: one more job with a fault armed (fault_child.py: at the function's first call,
   PID is SIGKILLed); it is expected to fail.

Prints JSON on stdout: seconds per step, what step 1 produced (model set, forecasts version), and
step 3's outcome. Exit status 1, the failure on stderr, when step 1 or 2 fails.
"""
import argparse
import json
import os
import shutil
import sys
import time

CYCLE = ["ingest_pipeline", "training_pipeline", "promotion_pipeline", "batch_scoring_pipeline"]
DEPLOY_ANY = {"ops": {"promoted_models": {"config": {"min_accuracy": -1e9, "max_mase": 1e9}}}}


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--next-drop")
    p.add_argument("--then")
    p.add_argument("--at")
    p.add_argument("--kill-pid", type=int)
    args = p.parse_args()
    import dagster as dg

    from manymodels_assets import layout
    from manymodels_assets.dagster_instance import in_process_tags
    from manymodels_assets.definitions import build_definitions
    from manymodels_assets.demo import QUIET, run_all
    from manymodels_assets.sensors import all_store_items
    from manymodels_assets.settings import Settings
    from manymodels_assets_tests.fault_child import arm

    settings = Settings.from_env()
    defs = build_definitions(settings)
    lake, training = defs.resources["lake"], defs.resources["training_registry"]
    report: dict = {"seconds": {}}

    def execute(job: str, config: dict) -> dg.ExecuteInProcessResult:
        tags = {**(all_store_items(instance) if job != "ingest_pipeline" else {}), **in_process_tags()}
        started = time.perf_counter()
        result = defs.resolve_job_def(job).execute_in_process(instance=instance, tags=tags, run_config=config,
                                                              raise_on_error=False)
        report["seconds"][job + (" (then)" if job in report["seconds"] else "")] = round(
            time.perf_counter() - started, 1)
        return result

    def errors(result) -> list[str]:
        return [e.event_specific_data.error.to_string() for e in result.all_events
                if e.is_step_failure and e.event_specific_data and e.event_specific_data.error]

    with dg.DagsterInstance.get() as instance:
        started = time.perf_counter()
        try:
            run_all(defs, instance, log=lambda _: None)
        except RuntimeError as exc:
            sys.exit(f"the whole graph failed: {exc}")
        report["seconds"]["whole graph (demo.run_all)"] = round(time.perf_counter() - started, 1)
        report["model_set"] = training.latest_version().tags["model_set"]
        report["forecasts_version"] = lake.current_version(layout.FORECASTS)
        if args.next_drop:
            landing = settings.landing_root or os.path.join(settings.lake_root, layout.LANDING)
            shutil.copytree(args.next_drop, landing, dirs_exist_ok=True)
            for job in CYCLE:
                result = execute(job, {**QUIET, **(DEPLOY_ANY if job == "promotion_pipeline" else {})})
                if not result.success:
                    sys.exit(f"{job} failed: {errors(result)}")
        if args.then:
            reached: dict = {}
            arm(args.at, False, args.kill_pid, reached)
            result = execute(args.then, QUIET)
            report.update(then_succeeded=result.success, then_errors=errors(result), fault_reached=bool(reached))
    print(json.dumps(report))


if __name__ == "__main__":
    main()
