"""The lake and landing zone on Azure storage: adlfs against Azurite's blob endpoint (Azurite has
no dfs endpoint), blob-lease locks, and Spark without an ABFS connector saying so plainly."""
import os
import subprocess
import threading
import time

import pandas as pd
import pytest

from manymodels_assets import landing
from manymodels_assets.engine.tables import SparkCannotReachLake, ensure_reachable
from manymodels_assets.resources.lake import LakeResource
from manymodels_assets_tests.servers import azurite, spark_session

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def blob(tmp_path_factory):
    with azurite(tmp_path_factory.mktemp("azurite")) as connection_string:
        yield connection_string


def _lake(connection_string, container, local_root=None):
    lake = LakeResource(root=local_root or f"abfs://{container}/mm", connection_string=connection_string,
                        landing_root=f"abfs://{container}/landing" if local_root else None)
    lake.landing_fs.mkdir(container, exist_ok=True)
    return lake


def test_landing_listing_versions_and_quarantine_on_blob_storage(blob, tmp_path):
    lake = _lake(blob, "landing1", local_root=str(tmp_path / "lake"))
    frame = pd.DataFrame({"store_id": ["S 1"], "item_id": ["I+1"], "date": ["2024-01-01"], "units": [1.0]})
    lake.landing_fs.pipe_file(lake.landing_uri("sales", "d+1", "a b+c.parquet"), frame.to_parquet())
    lake.landing_fs.pipe_file(lake.landing_uri("sales", "d+1", "bad.parquet"), b"not parquet")
    files = landing.list_files(lake.landing_fs, lake.landing_uri(), landing.SALES)
    assert [(f.drop, f.name) for f in files] == [("d+1", "a b+c.parquet"), ("d+1", "bad.parquet")]
    assert landing.inspect_file(lake.landing_fs, files[0])[1] is None
    versions = landing.snapshot(lake.landing_fs, lake.landing_uri())
    assert all(v and not v.startswith("None") for v in versions.values())  # etags, not mtimes
    moved = landing.quarantine(lake.landing_fs, lake.landing_uri("quarantine"), files[1], "unreadable")
    assert lake.landing_fs.cat_file(moved) == b"not parquet"
    assert not lake.landing_fs.exists(files[1].path)
    assert not lake.spark_reads_landing  # local lake, landing on blob storage: ingest copies files first


def test_versioned_tables_publish_on_blob_storage(blob):
    lake = _lake(blob, "lake1")
    for version in ("v-1", "v-2", "v-3", "v-4"):
        lake.fs.pipe_file(lake.uri("series", version, "part-0.parquet"), b"x")
        lake.publish("series", version)
    assert lake.current_version("series") == "v-4"
    assert sorted(p.rsplit("/", 1)[-1] for p in lake.fs.ls(lake.uri("series"), detail=False)
                  if "/v-" in p) == ["v-2", "v-3", "v-4"]  # the last three kept


def test_a_lake_lock_on_blob_storage_is_a_lease_that_serialises_writers(blob):
    lake = _lake(blob, "lake2")
    order = []

    def writer(name, hold):
        with lake.lock("series"):
            order.append(f"{name}+")
            time.sleep(hold)
            order.append(f"{name}-")

    first = threading.Thread(target=writer, args=("a", 1.5))
    first.start()
    time.sleep(0.3)
    writer("b", 0)
    first.join()
    assert order == ["a+", "a-", "b+", "b-"]


def test_a_lease_held_by_a_killed_process_lapses(blob, tmp_path):
    script = (f"from manymodels_assets.resources.lake import LakeResource\n"
              f"import os, signal\n"
              f"lake = LakeResource(root='abfs://lake3/mm', connection_string={blob!r})\n"
              f"lake.fs.mkdir('lake3', exist_ok=True)\n"
              f"cm = lake.lock('series'); cm.__enter__(); print('held', flush=True)\n"
              f"os.kill(os.getpid(), signal.SIGKILL)\n")
    out = subprocess.run([os.sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert out.stdout.strip() == "held" and out.returncode == -9
    lake = _lake(blob, "lake3")
    started = time.monotonic()
    with lake.lock("series", timeout=120):
        waited = time.monotonic() - started
    assert 3 < waited < 45  # held until the 15 s lease lapsed, then ours


def test_spark_without_an_abfs_connector_fails_in_one_sentence():
    spark = spark_session()
    lake = LakeResource(root="abfss://lake@someaccount.dfs.core.windows.net/mm")
    with pytest.raises(SparkCannotReachLake, match="no hadoop-azure"):
        ensure_reachable(spark, lake)
