"""A deployment's own config defaults (MANYMODELS_RUN_CONFIG) and the launchpad's help texts."""
import os
import subprocess
import sys

import dagster as dg
import pytest

from manymodels_assets.assets.models import TrainingSettings
from manymodels_assets.assets.run_defaults import (DocumentedConfig, RunConfigError, RunDefaults, parse, read_file,
                                                   with_defaults)
from manymodels_assets.assets.series import SeriesConfig
from manymodels_assets.definitions import build_definitions
from manymodels_assets.settings import Settings
from manymodels_assets_tests.dagster_procs import ROOT

CONFIGURABLE = ["raw_sales", "store_item_series", "trained_models", "promoted_models", "batch_forecasts"]


def op_fields(job: dg.JobDefinition, asset: str) -> dict:
    ops = job.run_config_schema.config_type.fields["ops"].config_type.fields
    return ops[asset].config_type.fields["config"].config_type.fields


def test_every_config_field_has_its_help_text_in_the_launchpad(tmp_path):
    job = build_definitions(Settings.from_env({"MANYMODELS_HOME": str(tmp_path)})).resolve_implicit_global_asset_job_def()
    undocumented = [f"{asset}.{name}" for asset in CONFIGURABLE
                    for name, field in op_fields(job, asset).items() if not field.description]
    assert undocumented == []
    assert op_fields(job, "store_item_series")["freq"].description.startswith('Series frequency: "auto"')


def test_a_deployment_default_replaces_the_built_in_one_and_a_run_still_overrides_it():
    Series = with_defaults(SeriesConfig, {"freq": "MS", "fill": "interpolate"}, "file: ops.store_item_series.config")
    assert (Series().freq, Series().fill) == ("MS", "interpolate")
    assert Series(freq="W-SUN").freq == "W-SUN"
    assert Series.model_fields["freq"].description == SeriesConfig.model_fields["freq"].description

    @dg.asset
    def store_item_series(config: Series) -> tuple:
        return config.freq, config.fill

    assert dg.materialize([store_item_series]).output_for_node("store_item_series") == ("MS", "interpolate")
    run_config = {"ops": {"store_item_series": {"config": {"freq": "D"}}}}
    assert dg.materialize([store_item_series], run_config=run_config).output_for_node("store_item_series") == (
        "D", "interpolate")  # the run's field wins, the file's other field stays


@pytest.mark.parametrize("values, message", [
    ({"horizn": 3}, "no field ['horizn']"),
    ({"horizon": 0}, "horizon must be >= 1"),
    ({"candidates": ["etss"]}, "unknown candidates ['etss']"),
    ({"retrain": "sometimes"}, 'retrain must be "changed" or "all"'),
    ({"n_folds": "three"}, "n_folds"),
    ({"horizon": "6"}, 'root:horizon. Value "6"'),  # as strict as the launchpad: text is not a number
    ({"use_panel_prior": "off"}, 'root:use_panel_prior. Value "off"'),
])
def test_a_bad_training_default_is_refused_naming_the_file_and_the_key(values, message):
    with pytest.raises(RunConfigError) as err:
        with_defaults(TrainingSettings, values, "/etc/mm.yaml: ops.trained_models.config")
    assert str(err.value).startswith("/etc/mm.yaml: ops.trained_models.config: ") and message in str(err.value)


@pytest.mark.parametrize("cls, values, message", [
    ("PromotionConfig", {"metric": "MASE"}, "metric 'MASE' not in"),
    ("PromotionConfig", {"min_new_points": 0}, "min_new_points must be >= 1"),
    ("ScoringConfig", {"horizon": -3}, "horizon must be >= 1"),
    ("ScoringConfig", {"horizon": 0}, "horizon must be >= 1"),
    ("IngestConfig", {"min_date": "x"}, "min_date must be a date, YYYY-MM-DD, not 'x'"),
    ("SeriesConfig", {"late_store_periods": -1}, "late_store_periods must be 0 or more"),
])
def test_what_a_later_run_would_refuse_is_refused_at_load(cls, values, message):
    from manymodels_assets.assets import forecasts, promotion, raw_sales, series

    config = {"PromotionConfig": promotion.PromotionConfig, "ScoringConfig": forecasts.ScoringConfig,
              "IngestConfig": raw_sales.IngestConfig, "SeriesConfig": series.SeriesConfig}[cls]
    with pytest.raises(RunConfigError, match=message):
        with_defaults(config, values, "f.yaml: ops.x.config")


def test_a_field_keeps_its_constraints_under_a_new_default():
    import pydantic

    class Bounded(DocumentedConfig):
        n: int = pydantic.Field(3, ge=1)

    assert with_defaults(Bounded, {"n": 5}, "f.yaml")().n == 5
    with pytest.raises(pydantic.ValidationError):
        with_defaults(Bounded, {"n": 5}, "f.yaml")(n=0)


def test_the_settings_cannot_name_another_file_than_the_imported_one(tmp_path):
    with pytest.raises(ValueError, match="as MANYMODELS_RUN_CONFIG, but it is read from the environment"):
        build_definitions(Settings.from_env({"MANYMODELS_HOME": str(tmp_path),
                                             "MANYMODELS_RUN_CONFIG": str(tmp_path / "x.yaml")}))


def test_a_bad_frequency_default_is_refused():
    with pytest.raises(RunConfigError, match="ops.store_item_series.config: frequency '5B'"):
        with_defaults(SeriesConfig, {"freq": "5B"}, "f.yaml: ops.store_item_series.config")


def test_the_file_is_the_launchpads_shape_and_nothing_else(tmp_path):
    assert read_file(None) == {}
    path = tmp_path / "run.yaml"
    path.write_text("ops:\n  trained_models:\n    config:\n      horizon: 6\n")
    assert read_file(str(path)) == {"trained_models": {"horizon": 6}}
    path.write_text("ops:\n  raw_sales:\n    config:\n      min_date: 2020-01-01\n")
    assert read_file(str(path)) == {"raw_sales": {"min_date": "2020-01-01"}}  # a YAML date, as text
    path.write_text("ops:\n  trained_models:\n    config:\n      <<: {horizon: 6, n_folds: 2}\n      horizon: 7\n")
    assert read_file(str(path)) == {"trained_models": {"horizon": 7, "n_folds": 2}}  # a merge key may be overridden
    path.write_text("ops:\n  trained_models:\n    config: {horizon: 6}\n  trained_models:\n    config: {horizon: 7}\n")
    with pytest.raises(RunConfigError, match=r"\['trained_models'\] given twice"):
        read_file(str(path))
    for empty in ("", "# all commented out\n", "ops:\n", "ops: []\n", "ops:\n  trained_models:\n",
                  "ops:\n  trained_models:\n    config:\n", "ops:\n  trained_models: {}\n"):
        path.write_text(empty)
        with pytest.raises(RunConfigError, match="run.yaml"):  # a truncated file is not "no defaults"
            read_file(str(path))
    with pytest.raises(RunConfigError, match="cannot read .*missing.yaml"):
        read_file(str(tmp_path / "missing.yaml"))
    path.write_text("ops: [unclosed\n")
    with pytest.raises(RunConfigError, match="run.yaml is not valid YAML"):
        read_file(str(path))
    with pytest.raises(RunConfigError, match=r"not \['resources'\]"):
        parse({"ops": {}, "resources": {"lake": {}}}, "f.yaml")
    with pytest.raises(RunConfigError, match="ops.trained_models must hold one key, `config:`"):
        parse({"ops": {"trained_models": {"horizon": 6}}}, "f.yaml")
    deployment = RunDefaults({"trained_model": {"horizon": 6}}, "f.yaml")
    deployment.of("trained_models")(TrainingSettings)
    with pytest.raises(RunConfigError, match=r"f.yaml: no configurable asset \['trained_model'\]"):
        deployment.check_all_used()


def test_a_bad_file_stops_the_code_location_from_loading(tmp_path):
    run_config = tmp_path / "pipeline.yaml"
    run_config.write_text("ops:\n  trained_models:\n    config:\n      horizon: 0\n")
    env = {**os.environ, "MANYMODELS_HOME": str(tmp_path), "DAGSTER_HOME": str(tmp_path),
           "MANYMODELS_RUN_CONFIG": str(run_config)}
    out = subprocess.run([os.path.join(os.path.dirname(sys.executable), "dagster"), "definitions", "validate",
                          "-w", "workspace.yaml"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode != 0
    assert f"{run_config}: ops.trained_models.config: horizon must be >= 1" in out.stdout + out.stderr
    # an emergency rollback and the scoring service do not need the assets' config
    out = subprocess.run([sys.executable, "-c", "import manymodels_assets.rollback, manymodels_assets.serving.server"],
                         cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]


def test_every_resource_field_of_ours_has_its_help_text(tmp_path):
    resources = build_definitions(Settings.from_env({"MANYMODELS_HOME": str(tmp_path)})).resources
    undocumented = [f"{key}.{name}" for key, resource in resources.items()
                    for name, field in type(resource).model_fields.items()
                    if name in type(resource).__annotations__ and not field.description]
    assert undocumented == []
    assert "abfss://" in type(resources["lake"]).model_fields["root"].description


def test_the_shipped_example_file_loads():
    from manymodels_assets.assets.forecasts import ScoringConfig
    from manymodels_assets.assets.promotion import PromotionConfig
    from manymodels_assets.assets.raw_sales import IngestConfig

    path = os.path.join(ROOT, "deploy", "pipeline", "run_config.example.yaml")
    deployment = RunDefaults(read_file(path), path)
    classes = dict(zip(CONFIGURABLE, (IngestConfig, SeriesConfig, TrainingSettings, PromotionConfig, ScoringConfig)))
    configured = {asset: deployment.of(asset)(cls)() for asset, cls in classes.items()}
    deployment.check_all_used()
    assert configured["store_item_series"].freq == "MS" and configured["trained_models"].horizon == 6
