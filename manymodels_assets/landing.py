"""The landing zone: drops of files per feed, their schema check, and quarantine.

Layout: ``<lake>/landing/<feed>/<drop>/<file>.parquet|.csv`` with two feeds: ``sales``
(what was sold) and ``calendar`` (planned prices and promotions for coming dates). Drop
folder names sort in arrival order (the generator uses UTC timestamps); the latest drop wins
when the same store, item and date arrive twice. A file that fails a check is moved, never
deleted, to ``landing/quarantine/<feed>/<drop>/<file>`` beside ``<file>.reason.txt``.
"""
from __future__ import annotations

import csv
import io
import posixpath
from dataclasses import dataclass

import pyarrow as pa
import pyarrow.parquet as pq

FORMATS = ("parquet", "csv")


@dataclass(frozen=True)
class Feed:
    name: str
    required: tuple[str, ...]
    optional: tuple[str, ...]


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


def inspect_file(fs, f: LandingFile) -> tuple[dict[str, str] | None, str | None]:
    """(column -> type name, reason it cannot be read as sales). Reads only the footer or header.

    CSV columns have type ``"string"``: their values are checked row by row when read.
    """
    if f.fmt not in FORMATS:
        return None, f"unsupported file type {f.fmt!r} (expected one of {FORMATS})"
    try:
        if f.fmt == "parquet":
            with fs.open(f.path, "rb") as fh:
                schema = pq.ParquetFile(fh).schema_arrow
            types = {n: schema.field(n).type for n in schema.names}
        else:
            with fs.open(f.path, "rb") as fh:
                header = fh.readline().decode("utf-8-sig")
            types = {c.strip(): pa.string() for c in next(csv.reader(io.StringIO(header)), [])}
    except Exception as exc:
        return None, f"unreadable {f.fmt} file: {type(exc).__name__}: {exc}"
    feed = f.feed
    missing = [c for c in feed.required if c not in types]
    if missing:
        return None, f"missing required column(s) {missing}; found {sorted(types)}"
    if feed is CALENDAR and not any(c in types for c in feed.optional):
        return None, f"a calendar file needs a price or promo column; found {sorted(types)}"
    if f.fmt == "parquet":
        checked = [_type_problem(n, types[n]) for n in (*feed.required, *feed.optional) if n in types]
        problems = [p for p in checked if p]
        if problems:
            return None, "; ".join(problems)
    return {n: str(t) for n, t in types.items() if n in (*feed.required, *feed.optional)}, None


def quarantine(fs, quarantine_dir: str, f: LandingFile, reason: str) -> str:
    """Move ``f`` to ``<quarantine_dir>/<feed>/<drop>/`` beside a file that says why; returns the new path."""
    folder = posixpath.join(quarantine_dir.rstrip("/"), f.feed.name, f.drop)
    fs.makedirs(folder, exist_ok=True)
    target = posixpath.join(folder, f.name)
    fs.pipe_file(target + ".reason.txt", f"{f.label}: {reason}\n".encode())
    fs.mv(f.path, target)
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
