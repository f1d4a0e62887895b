"""The key index of a model set: built from footers and keys, written atomically, one file per lookup."""
import os

import pandas as pd
import pyarrow.parquet as pq
import pytest
from fsspec.implementations.local import LocalFileSystem

from benchmarks.serving_set import fit_templates, replicate, write_set
from manymodels_assets.forecasting.keys import encode_key
from manymodels_assets.model_set_index import (INDEX_FILE, IndexMismatch, ModelSetReader, build_index, load_index,
                                             read_index, write_index)

FS = LocalFileSystem()
ODD_IDS = [("S 1", "it'em/7"), ("S~2", "100%"), ("Ä.ö", "x,y|z"), ("S3", "I3")]


@pytest.fixture(scope="module")
def rows():
    templates = fit_templates(ODD_IDS, "ms-index", days=120)
    many = replicate(templates, 400, "ms-index", stores=20)
    return pd.concat([pd.DataFrame(templates), many], ignore_index=True)


def written(tmp_path, rows, **kw):
    directory = str(tmp_path / "models" / "ms-index")
    write_set(FS, directory, rows, n_files=3, row_group_bytes=kw.pop("row_group_bytes", 40_000), **kw)
    return directory


def test_every_key_is_found_at_its_row_and_nothing_else_is(tmp_path, rows):
    directory = written(tmp_path, rows)
    assert len(pq.ParquetFile(os.path.join(directory, sorted(os.listdir(directory))[0])).metadata.row_group(0)
               .to_dict()["columns"]) > 10  # a real model set: many columns
    write_index(FS, directory)
    reader = ModelSetReader(FS, directory, read_index(FS, directory))
    assert len(reader) == len(rows)
    for key in rows["key"].sample(60, random_state=1).tolist() + [encode_key(s, i) for s, i in ODD_IDS]:
        row = reader.row(key)
        expected = rows.set_index("key").loc[key]
        assert row["key"] == key and row["model"] == expected["model"] and row["store_id"] == expected["store_id"]
    assert reader.row(encode_key("S 1", "missing")) is None
    assert reader.row("S1~I3") is None  # not "S3~I3" by some prefix match


def test_several_files_and_row_groups_are_indexed(tmp_path, rows):
    directory = written(tmp_path, rows)
    table = build_index(FS, directory)
    assert table.column("key").to_pylist() == sorted(rows["key"])
    assert len(set(table.column("file").to_pylist())) == 3 and max(table.column("row_group").to_pylist()) > 2


def test_a_lookup_reads_only_its_own_part_file(tmp_path, rows):
    directory = written(tmp_path, rows)
    reader = ModelSetReader(FS, directory, load_index(FS, directory))
    key = encode_key("S~2", "100%")
    own = reader.index.locate(key).file
    for name in os.listdir(directory):
        if name != own and not name.startswith("_"):
            os.remove(os.path.join(directory, name))  # the rest of the set is gone: not needed
    assert reader.row(key)["store_id"] == "S~2"


def test_the_index_is_built_on_first_use_and_written_atomically_beside_the_set(tmp_path, rows):
    directory = written(tmp_path, rows)
    assert not os.path.exists(os.path.join(directory, INDEX_FILE))
    index = load_index(FS, directory)
    assert len(index) == len(rows)
    assert [n for n in os.listdir(directory) if n.startswith("_")] == [INDEX_FILE]  # no temporary left
    # readers of the set (pyarrow datasets, Spark) skip it: the set reads as before
    assert len(pd.read_parquet(directory, columns=["key"])) == len(rows)
    os.utime(os.path.join(directory, INDEX_FILE), (1, 1))
    load_index(FS, directory)
    assert os.stat(os.path.join(directory, INDEX_FILE)).st_mtime == 1  # present: read, not rebuilt


def test_large_row_groups_are_streamed_up_to_the_row_with_the_same_answer(tmp_path, rows):
    directory = written(tmp_path, rows, row_group_bytes=10**9)
    index = load_index(FS, directory)
    streamed = ModelSetReader(FS, directory, index, stream_above_bytes=0)
    whole = ModelSetReader(FS, directory, index)
    for key in rows["key"].sample(30, random_state=2):
        assert streamed.row(key, ["backtest"]) == whole.row(key, ["backtest"])
        assert "backtest" not in whole.row(key, ["backtest"])


def test_a_set_holding_a_key_twice_has_no_index(tmp_path, rows):
    directory = written(tmp_path, pd.concat([rows, rows.iloc[:1]], ignore_index=True))
    with pytest.raises(ValueError, match="more than once"):
        write_index(FS, directory)


def test_an_index_of_other_files_is_detected_not_trusted(tmp_path, rows):
    directory = written(tmp_path, rows)
    index = load_index(FS, directory)
    for name in os.listdir(directory):
        if not name.startswith("_"):
            os.remove(os.path.join(directory, name))
    write_set(FS, directory, rows.iloc[::-1].iloc[5:], n_files=3, row_group_bytes=40_000)  # other rows per place
    reader = ModelSetReader(FS, directory, index)
    with pytest.raises(IndexMismatch):
        for key in rows["key"]:
            reader.row(key)


def test_row_groups_larger_than_a_cold_load_should_read_are_reported(tmp_path, rows, caplog, monkeypatch):
    import manymodels_assets.model_set_index as index_module

    directory = written(tmp_path, rows)
    with caplog.at_level("WARNING", logger=index_module.__name__):
        build_index(FS, directory)
        assert not caplog.records  # 40 kB row groups: fine
        monkeypatch.setattr(index_module, "STREAM_ABOVE_BYTES", 10_000)
        build_index(FS, directory)
    assert "parquet.block.size" in caplog.text
