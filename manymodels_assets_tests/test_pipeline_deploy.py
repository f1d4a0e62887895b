"""The code location's deployment files: the Dockerfile passes hadolint (no Docker engine runs here,
and a build would pull its base image from a registry), and the files agree with each other, with
pyproject.toml and with the one settings source; docs/production.md names every setting."""
import os
import re
import subprocess
import sys
import tomllib

import yaml

from manymodels_assets.settings import SECRET_VARIABLES, Settings

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEPLOY = os.path.join(ROOT, "deploy", "pipeline")


def read(*parts) -> str:
    with open(os.path.join(ROOT, *parts)) as f:
        return f.read()


def settings_variables() -> set[str]:
    """Every MANYMODELS_* variable settings.py reads (by get("NAME") or by its full name)."""
    source = read("manymodels_assets", "settings.py")
    return {n if n.startswith("MANYMODELS_") else f"MANYMODELS_{n}" for n in re.findall(r'\bget\("([A-Z_]+)"', source)}


def test_the_dockerfile_passes_hadolint_and_a_bad_one_does_not(tmp_path):
    hadolint = os.path.join(os.path.dirname(sys.executable), "hadolint")
    good = subprocess.run([hadolint, os.path.join(DEPLOY, "Dockerfile")], capture_output=True, text=True)
    assert good.returncode == 0, good.stdout + good.stderr
    bad = tmp_path / "Dockerfile"
    bad.write_text(read("deploy", "pipeline", "Dockerfile").replace("# hadolint ignore=DL3008\n", "")
                   .replace("--no-install-recommends ", ""))
    assert subprocess.run([hadolint, str(bad)], capture_output=True).returncode != 0


def test_the_image_serves_the_code_location_the_workspace_loads():
    docker = read("deploy", "pipeline", "Dockerfile")
    project = tomllib.loads(read("pyproject.toml"))["tool"]["dagster"]
    cmd = re.search(r"^CMD (\[.*\])$", docker, re.M).group(1)
    assert yaml.safe_load(cmd) == ["dagster", "code-server", "start", "-h", "0.0.0.0", "-p", "4000", "-m",
                                   project["module_name"]]
    assert "EXPOSE 4000" in docker and "USER 10001" in docker and '".[synapse]"' in docker
    [location] = yaml.safe_load(read("deploy", "pipeline", "workspace.yaml"))["load_from"]
    assert location["grpc_server"]["port"] == 4000
    assert location["grpc_server"]["location_name"] == project["code_location_name"]


def test_the_environment_example_is_what_settings_read_and_holds_no_secret():
    lines = [line for line in read("deploy", "pipeline", "pipeline.env.example").splitlines()
             if line and not line.startswith("#")]
    env = dict(line.split("=", 1) for line in lines)
    assert {k for k in env if k.startswith("MANYMODELS_")} <= settings_variables()
    assert not set(env) & set(SECRET_VARIABLES) - {"MANYMODELS_WAREHOUSE_ODBC", "MANYMODELS_SPARK_REMOTE"}
    assert "token=" not in env.get("MANYMODELS_SPARK_REMOTE", "")
    assert "Pwd=" not in env["MANYMODELS_WAREHOUSE_ODBC"] and "Authentication=ActiveDirectoryMsi" in \
        env["MANYMODELS_WAREHOUSE_ODBC"]
    settings = Settings.from_env(env)
    assert settings.warehouse_dialect == "synapse" and settings.warehouse_copy_credential == "managed_identity"
    assert settings.lake_root.startswith("abfss://") and settings.spark_remote.startswith("sc://")
    assert settings.training_tracking_uri != settings.production_tracking_uri


def test_the_production_guide_names_every_setting_and_only_real_ones():
    guide = read("docs", "production.md")
    named = set(re.findall(r"MANYMODELS_[A-Z_]+[A-Z]", guide))
    known = settings_variables()
    # the serving row abbreviates its four siblings as `_MAX_HORIZON` etc.
    listed = named | {f"MANYMODELS_SERVING{s}" for s in re.findall(r"`(_[A-Z_]+)`", guide)}
    assert known <= listed, sorted(known - listed)
    assert named <= known, sorted(named - known)
    assert "## Dagster on PostgreSQL" in guide and "What ran against a real Synapse: nothing" in guide
