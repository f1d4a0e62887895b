"""The landing zone: drops of files per feed, their checks, and quarantine. No Spark here.

Layout: ``<lake>/landing/<feed>/<drop>/<file>.parquet|.csv`` with two feeds: ``sales``
(what was sold) and ``calendar`` (planned prices and promotions for coming dates). Drop
folder names sort in arrival order (the generator uses UTC timestamps); the latest drop wins
when the same store, item and date arrive twice.

Nothing is deleted. A file that cannot be read as its feed (unsupported type, unreadable or
corrupt, a missing or mistyped column, text that is not UTF-8, or no good row at all) is moved
to ``landing/quarantine/<feed>/<drop>/<file>`` beside ``<file>.reason.txt``. A readable file
with some bad rows stays where it is: its good rows are ingested, and its bad rows are
written beside the quarantine's reasons as ``<file>.<version>.rejected.csv`` (each row with
what was wrong with it).
"""
from __future__ import annotations

import codecs
import csv
import datetime as dt
import hashlib
import io
import posixpath
from dataclasses import dataclass

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

FORMATS = ("parquet", "csv")
_CHUNK = 1 << 20


@dataclass(frozen=True)
class Feed:
    name: str
    required: tuple[str, ...]
    optional: tuple[str, ...]

    @property
    def columns(self) -> tuple[str, ...]:
        return (*self.required, *self.optional)


SALES = Feed("sales", required=("store_id", "item_id", "date", "units"), optional=("price", "promo"))
CALENDAR = Feed("calendar", required=("store_id", "item_id", "date"), optional=("price", "promo"))
FEEDS = (SALES, CALENDAR)


@dataclass(frozen=True)
class LandingFile:
    path: str  # as the lake's filesystem names it
    drop: str
    name: str
    feed: Feed = SALES

    @property
    def label(self) -> str:
        return f"{self.feed.name}/{self.drop}/{self.name}"

    @property
    def fmt(self) -> str:
        return self.name.rsplit(".", 1)[-1].lower()


def list_files(fs, landing_dir: str, feed: Feed = SALES) -> list[LandingFile]:
    """Every file of ``feed`` in every drop, oldest drop first. Hidden and temporary files are skipped."""
    folder = posixpath.join(landing_dir.rstrip("/"), feed.name)
    if not fs.exists(folder):
        return []
    files = []
    for drop in fs.ls(folder, detail=True):
        if drop["type"] != "directory":
            continue
        drop_name = posixpath.basename(drop["name"].rstrip("/"))
        for entry in fs.ls(drop["name"], detail=True):
            name = posixpath.basename(entry["name"].rstrip("/"))
            if entry["type"] == "file" and not name.startswith(("_", ".")):
                files.append(LandingFile(path=entry["name"], drop=drop_name, name=name, feed=feed))
    return sorted(files, key=lambda f: (f.drop, f.name))


def _type_problem(name: str, t: pa.DataType) -> str | None:
    if name in ("store_id", "item_id"):
        ok = pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_integer(t) or pa.types.is_dictionary(t)
    elif name == "date":
        ok = pa.types.is_date(t) or pa.types.is_timestamp(t) or pa.types.is_string(t) or pa.types.is_large_string(t)
    elif name in ("units", "price"):
        ok = pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_decimal(t)
    else:  # promo
        ok = pa.types.is_integer(t) or pa.types.is_boolean(t)
    return None if ok else f"column {name!r} has type {t}"


def _parquet_columns(fh) -> list[tuple[str, pa.DataType]]:
    """Column types from the footer, after reading every data page once: a file whose footer is
    intact but whose pages are corrupt fails here, not in the middle of the Spark job."""
    pf = pq.ParquetFile(fh)
    for i in range(pf.num_row_groups):
        pf.read_row_group(i)
    schema = pf.schema_arrow
    return [(field.name, field.type) for field in schema]


def _csv_columns(fh) -> list[tuple[str, pa.DataType]]:
    """Header columns in file order (a CSV is read by its own header), after checking that the
    whole file is UTF-8: Spark would silently replace bad bytes."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    header, offset = b"", 0
    while chunk := fh.read(_CHUNK):
        if not header:
            header = chunk.split(b"\n", 1)[0]
        try:
            decoder.decode(chunk)
        except UnicodeDecodeError as exc:
            raise UnicodeDecodeError(exc.encoding, exc.object, exc.start, exc.end,
                                     f"byte {offset + exc.start} is not UTF-8") from None
        offset += len(chunk)
    decoder.decode(b"", final=True)
    names = next(csv.reader(io.StringIO(header.decode("utf-8-sig").rstrip("\r"))), [])
    return [(c.strip(), pa.string()) for c in names]


def inspect_file(fs, f: LandingFile) -> tuple[dict[str, str] | None, str | None]:
    """(column -> type name, in the file's order; or None and the reason it cannot be read as its feed).

    CSV columns have type ``"string"``: their values are checked row by row when read.
    """
    if f.fmt not in FORMATS:
        return None, f"unsupported file type {f.fmt!r} (expected one of {FORMATS})"
    try:
        with fs.open(f.path, "rb") as fh:
            columns = _parquet_columns(fh) if f.fmt == "parquet" else _csv_columns(fh)
    except (OSError, ValueError, pa.ArrowException, UnicodeDecodeError, csv.Error) as exc:
        return None, f"unreadable {f.fmt} file: {type(exc).__name__}: {exc}"
    feed = f.feed
    names = [n for n, _ in columns]
    if len(names) != len(set(names)) or "" in names:
        return None, f"duplicate or empty column names: {names}"
    types = dict(columns)
    missing = [c for c in feed.required if c not in types]
    if missing:
        return None, f"missing required column(s) {missing}; found {sorted(types)}"
    if feed is CALENDAR and not any(c in types for c in feed.optional):
        return None, f"a calendar file needs a price or promo column; found {sorted(types)}"
    if f.fmt == "parquet":
        problems = [p for p in (_type_problem(n, types[n]) for n in feed.columns if n in types) if p]
        if problems:
            return None, "; ".join(problems)
    return {n: str(t) for n, t in types.items() if n in feed.columns}, None


def _free_name(fs, folder: str, name: str) -> str:
    """``name`` in ``folder``, or ``name`` stamped with the time when an earlier quarantine holds it.

    Only the data file counts: a reason without its file is what a move interrupted by a crash
    leaves, and the rerun writes the same reason again.
    """
    target = posixpath.join(folder, name)
    if not fs.exists(target):
        return target
    stem, dot, ext = name.rpartition(".")
    stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%S%fZ")
    return posixpath.join(folder, f"{stem}.{stamp}.{ext}" if dot else f"{name}.{stamp}")


def quarantine(fs, quarantine_dir: str, f: LandingFile, reason: str) -> str:
    """Move ``f`` to ``<quarantine_dir>/<feed>/<drop>/`` beside a file that says why; returns the new path.

    An earlier quarantined file of the same name is kept: the new one gets a time stamp.
    """
    folder = posixpath.join(quarantine_dir.rstrip("/"), f.feed.name, f.drop)
    fs.makedirs(folder, exist_ok=True)
    target = _free_name(fs, folder, f.name)
    fs.pipe_file(target + ".reason.txt", f"{f.label}: {reason}\n".encode())
    fs.mv(f.path, target)
    return target


def reject_rows(fs, quarantine_dir: str, f: LandingFile, version: str, rows: pd.DataFrame, summary: str) -> str:
    """Write the bad rows of ``f`` (as they arrived, with a ``problem`` column) into the quarantine,
    named by the file's version so a rerun rewrites the same file and a new version adds another."""
    folder = posixpath.join(quarantine_dir.rstrip("/"), f.feed.name, f.drop)
    fs.makedirs(folder, exist_ok=True)
    tag = hashlib.sha1(version.encode()).hexdigest()[:8]
    target = posixpath.join(folder, f"{f.name}.{tag}.rejected.csv")
    fs.pipe_file(target, rows.to_csv(index=False).encode("utf-8"))
    fs.pipe_file(target + ".reason.txt", f"{f.label}: {summary}\n".encode())
    return target


def file_version(fs, path: str) -> str:
    """What changes when a file is rewritten: its etag (ADLS, blob) or modified time and size.

    Blob stores give last_modified to the second only, hence the etag first.
    """
    info = fs.info(path)
    if info.get("etag"):
        return str(info["etag"]).strip('"')
    return f"{info.get('mtime') or info.get('last_modified')}:{info.get('size')}"


def snapshot(fs, landing_dir: str) -> dict[str, str]:
    """Every landing file of every feed, by label (``<feed>/<drop>/<name>``), with its version."""
    return {f.label: file_version(fs, f.path) for feed in FEEDS for f in list_files(fs, landing_dir, feed)}
