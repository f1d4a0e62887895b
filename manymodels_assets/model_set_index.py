"""The key index of a model set: which part file, row group and row hold a series' model.

A model set is a folder of parquet part files written by Spark: keys sorted inside each file
but spread over the files by hash, in row groups of ROW_GROUP_BYTES. Finding one series by filtering
the set reads every file's key column; with the index it is one dictionary lookup, and loading
the model reads one row group of one file (see :meth:`ModelSetReader.row`).

The index is ``_index.parquet`` beside the part files (key, file, row_group, row; sorted by
key), written with the set (engine.modelsets.write_model_set) or, for a set written before,
on first use. It is built from the parts' footers and ``key`` columns, never from the model bytes.
Spark and pyarrow dataset readers skip names starting with ``_``, so the set reads as before.
Only pyarrow and fsspec here: the pipeline, the service and the pyfunc wrapper share it.
"""
from __future__ import annotations

import logging
import posixpath
import uuid
from dataclasses import dataclass
from typing import Any, Iterable

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

log = logging.getLogger(__name__)

INDEX_FILE = "_index.parquet"
INDEX_SCHEMA = pa.schema([("key", pa.string()), ("file", pa.string()), ("row_group", pa.int32()),
                          ("row", pa.int32())])
ROW_GROUP_BYTES = 2 * 2**20
"""The row-group size to write model sets with (Spark: ``.option("parquet.block.size", ROW_GROUP_BYTES)``):
a cold model load reads one row group, 1.6 ms at 2 MB against about 60 ms at Spark's default 128 MB."""
STREAM_ABOVE_BYTES = 16 * 2**20
# A larger row group is decoded in batches of this many rows, stopping at the wanted row.
_BATCH_ROWS = 32


class IndexMismatch(Exception):
    """The index points at a row that holds another key: the index is not this set's."""


@dataclass(frozen=True)
class Location:
    file: str
    row_group: int
    row: int


def part_files(fs, model_set_dir: str) -> list[str]:
    """Names of the set's parquet part files (hidden ``_``/``.`` files such as the index excluded)."""
    names = (posixpath.basename(p.rstrip("/")) for p in fs.ls(model_set_dir, detail=False))
    return sorted(n for n in names if n.endswith(".parquet") and not n.startswith(("_", ".")))


def build_index(fs, model_set_dir: str) -> pa.Table:
    """The index of a model set as a table sorted by key; raises ValueError on a duplicate key."""
    pieces, largest = [], 0
    for name in part_files(fs, model_set_dir):
        with fs.open(posixpath.join(model_set_dir, name), "rb") as f:
            pf = pq.ParquetFile(f)
            for rg in range(pf.num_row_groups):
                largest = max(largest, pf.metadata.row_group(rg).total_byte_size)
                keys = pf.read_row_group(rg, columns=["key"]).column("key").combine_chunks()
                n = len(keys)
                pieces.append(pa.table([keys.cast(pa.string()), pa.array([name] * n, pa.string()),
                                        pa.array(np.full(n, rg, np.int32)), pa.array(np.arange(n, dtype=np.int32))],
                                       schema=INDEX_SCHEMA))
    if largest > STREAM_ABOVE_BYTES:
        log.warning("model set %s has row groups of up to %d MB: each cold model load reads about half of one; "
                    "write model sets with parquet.block.size = %d (model_set_index.ROW_GROUP_BYTES)",
                    model_set_dir, largest >> 20, ROW_GROUP_BYTES)
    table = pa.concat_tables(pieces) if pieces else INDEX_SCHEMA.empty_table()
    table = table.sort_by("key")
    keys = table.column("key").to_numpy(zero_copy_only=False)
    if len(keys) > 1 and (keys[1:] == keys[:-1]).any():
        dup = keys[1:][keys[1:] == keys[:-1]][0]
        raise ValueError(f"model set {model_set_dir} holds key {dup!r} more than once")
    return table


def write_index(fs, model_set_dir: str) -> str:
    """Build the set's index and write it beside the part files atomically; returns its path.

    The pipeline calls this right after writing a model set; the service builds it on first
    use of a set without one. Written under a temporary hidden name, then renamed, so a
    reader sees the whole index or none. ``fs`` is the lake's fsspec filesystem
    (``LakeResource.fs``) and ``model_set_dir`` the set's folder as that filesystem names it
    (``lake.uri(...)``).
    """
    table = build_index(fs, model_set_dir)
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink, compression="zstd")
    final = posixpath.join(model_set_dir, INDEX_FILE)
    tmp = posixpath.join(model_set_dir, f"_{INDEX_FILE}.{uuid.uuid4().hex}.tmp")
    fs.pipe_file(tmp, sink.getvalue().to_pybytes())
    fs.mv(tmp, final)
    return final


class KeyIndex:
    """Key -> :class:`Location`, in memory: about 100 bytes per key (10 MB at 100,000 keys)."""

    def __init__(self, table: pa.Table):
        keys = table.column("key").to_pylist()
        self._pos = dict(zip(keys, range(len(keys))))
        files = table.column("file").combine_chunks().dictionary_encode()
        self._file_names = files.dictionary.to_pylist()
        self._file_ids = files.indices.to_numpy()
        self._row_groups = table.column("row_group").to_numpy()
        self._rows = table.column("row").to_numpy()

    def __len__(self) -> int:
        return len(self._pos)

    def __contains__(self, key: str) -> bool:
        return key in self._pos

    def locate(self, key: str) -> Location | None:
        i = self._pos.get(key)
        if i is None:
            return None
        return Location(self._file_names[self._file_ids[i]], int(self._row_groups[i]), int(self._rows[i]))

    def keys(self) -> Iterable[str]:
        return self._pos.keys()


def read_index(fs, model_set_dir: str) -> KeyIndex:
    """The set's index; FileNotFoundError when it has none."""
    with fs.open(posixpath.join(model_set_dir, INDEX_FILE), "rb") as f:
        return KeyIndex(pq.read_table(f, schema=INDEX_SCHEMA))


def load_index(fs, model_set_dir: str) -> KeyIndex:
    """The set's index, built and written beside it first if it has none."""
    if not fs.exists(posixpath.join(model_set_dir, INDEX_FILE)):
        write_index(fs, model_set_dir)
    return read_index(fs, model_set_dir)


class ModelSetReader:
    """Single rows of one model set through its index; each part file's footer is read once."""

    def __init__(self, fs, directory: str, index: KeyIndex, stream_above_bytes: int = STREAM_ABOVE_BYTES):
        self.fs, self.directory, self.index = fs, directory, index
        self.stream_above_bytes = stream_above_bytes
        self._footers: dict[str, pq.FileMetaData] = {}

    def __len__(self) -> int:
        return len(self.index)

    def row(self, key: str, skip_columns: Iterable[str] = ()) -> dict[str, Any] | None:
        """The model-set row of ``key`` as a dict of Python values without ``skip_columns``; None if absent.

        A small row group is read whole in one coalesced request; a large one (Spark's default
        is 128 MB) is streamed in small batches up to the row, so a lookup reads on average half
        a row group and never the rest of the set. Raises IndexMismatch if the row holds another key.
        """
        at = self.index.locate(key)
        if at is None:
            return None
        path = posixpath.join(self.directory, at.file)
        skip = set(skip_columns)
        with self.fs.open(path, "rb") as f:
            footer = self._footers.get(path)
            if footer is None:
                footer = self._footers[path] = pq.read_metadata(f)
            small = footer.row_group(at.row_group).total_byte_size <= self.stream_above_bytes
            pf = pq.ParquetFile(f, metadata=footer, pre_buffer=small, buffer_size=0 if small else 1 << 20)
            columns = [n for n in pf.schema_arrow.names if n not in skip]
            if small:
                found = pf.read_row_group(at.row_group, columns=columns).slice(at.row, 1).to_pylist()
                row = found[0] if found else None
            else:
                row = _stream_to(pf, at, columns)
        if row is None or row.get("key") != key:
            found = None if row is None else row.get("key")
            raise IndexMismatch(f"{at} in {self.directory} holds {found!r}, not {key!r}")
        return row


def _stream_to(pf: pq.ParquetFile, at: Location, columns: list[str]) -> dict[str, Any] | None:
    seen = 0
    for batch in pf.iter_batches(batch_size=_BATCH_ROWS, row_groups=[at.row_group], columns=columns):
        if seen + batch.num_rows > at.row:
            return batch.slice(at.row - seen, 1).to_pylist()[0]
        seen += batch.num_rows
    return None
