"""The code location as a deployment loads it (``manymodels_assets.definitions.defs``, built from
the environment, MANYMODELS_RUN_CONFIG included), driven as its automation drives it:

    python -m manymodels_assets_tests.run_defaults_child

1. small daily sales in the landing zone, ingested by ``ingest_pipeline``;
2. the Sunday schedule's own request (``weekly_full_retraining``: every store-item, run config
   ``retrain: all`` and nothing else) run as ``training_pipeline``.

Prints JSON on stdout: the frequency the series were built at and the candidates the training
run ranked, read from the runs' materializations.
"""
import json
import os


def main() -> None:
    import dagster as dg

    from manymodels_assets.dagster_instance import in_process_tags
    from manymodels_assets.definitions import defs
    from manymodels_assets.sales_generator import GeneratorConfig, generate
    from manymodels_assets.schedules import weekly_full_retraining
    from manymodels_assets.settings import Settings

    landing = os.path.join(Settings.from_env().lake_root, "landing")
    generate(GeneratorConfig(stores=2, items=2, days=730, seed=5, series_per_part=4), landing,
             drop="20250101T000000Z")
    quiet = {"loggers": {"console": {"config": {"log_level": "ERROR"}}}}
    with dg.instance_for_test() as instance:
        assert defs.resolve_job_def("ingest_pipeline").execute_in_process(
            instance=instance, run_config=quiet, tags=in_process_tags()).success
        request = weekly_full_retraining(dg.build_schedule_context(instance=instance))
        run_config = {**quiet, **request.run_config}
        result = defs.resolve_job_def("training_pipeline").execute_in_process(
            instance=instance, run_config=run_config, tags={**request.tags, **in_process_tags()})
        assert result.success

        def metadata(asset: str) -> dict:
            event = instance.get_latest_materialization_event(dg.AssetKey(asset))
            return {k: v.value for k, v in event.asset_materialization.metadata.items()}

        print(json.dumps({"request_run_config": request.run_config,
                          "freq": metadata("store_item_series")["freq"],
                          "ranked": metadata("trained_models")["panel_ranking"].split(", ")}))


if __name__ == "__main__":
    main()
