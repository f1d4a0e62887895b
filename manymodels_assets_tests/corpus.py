"""A hostile landing zone: the bad (and the odd but good) inputs users send, with what must happen to each.

Every case writes its files under ``landing/<feed>/<drop>/`` with store ids of its own, and says
what it expects: the file accepted, the file quarantined (with words its reason must contain),
or some rows rejected (with their row numbers and problems). ``Corpus.good_rows`` is every row
that must reach the raw table (after the latest drop wins), exactly once.
"""
from __future__ import annotations

import datetime as dt
import io
import os
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

D1, D2 = "20250101T000000Z", "20250102T000000Z"
DAYS = pd.date_range("2024-08-01", periods=120, freq="D")  # long enough to backtest 28-day folds


def series(store: str, item: str, days=DAYS, units=None) -> pd.DataFrame:
    n = len(days)
    u = units if units is not None else (5 + 3 * np.sin(np.arange(n) * 2 * np.pi / 7)).round(1)
    return pd.DataFrame({"store_id": store, "item_id": item, "date": [d.date().isoformat() for d in days],
                         "units": np.asarray(u, dtype=float)})


@dataclass
class Case:
    name: str
    feed: str
    drop: str
    file: str
    content: bytes
    outcome: str  # "accepted" | "quarantined" | "rejected"
    reason: str = ""  # quarantined: words in the reason
    rejected: dict[int, str] = field(default_factory=dict)  # row number -> words of its problem
    values: dict[int, tuple[str, object]] = field(default_factory=dict)  # row number -> the bad column, value
    good: pd.DataFrame | None = None  # rows that must arrive (sales: store_id, item_id, date, units)


def _parquet(frame: pd.DataFrame, schema: pa.Schema | None = None) -> bytes:
    buf = io.BytesIO()
    pq.write_table(pa.Table.from_pandas(frame, preserve_index=False, schema=schema), buf)
    return buf.getvalue()


def _csv(frame: pd.DataFrame, **kw) -> bytes:
    return frame.to_csv(index=False, **kw).encode("utf-8")


def _corrupt_page(frame: pd.DataFrame) -> bytes:
    """A parquet file whose footer is intact but whose first data page is garbage."""
    raw = bytearray(_parquet(frame))
    meta = pq.ParquetFile(io.BytesIO(bytes(raw))).metadata.row_group(0).column(3)
    start = meta.data_page_offset
    raw[start + 20:start + 60] = b"\xff" * 40
    return bytes(raw)


def cases() -> list[Case]:
    good = series
    out: list[Case] = []

    def add(name, file, content, outcome, feed="sales", drop=D1, **kw):
        out.append(Case(name, feed, drop, file, content, outcome, **kw))

    # --- odd but good: must be accepted whole ---------------------------------------------
    base = good("G1", "I1")
    add("plain parquet", "plain.parquet", _parquet(base), "accepted", good=base)
    g = good("G2", "I1")
    add("csv columns in another order", "reordered.csv", _csv(g[["units", "date", "item_id", "store_id"]]),
        "accepted", good=g)
    g = good("G3", "I1")
    add("csv with extra columns", "extra.csv", _csv(g.assign(note="x", shelf=3)), "accepted", good=g)
    g = good("G4", "I1")
    add("csv with BOM and CRLF", "bom.csv", b"\xef\xbb\xbf" + _csv(g, lineterminator="\r\n"), "accepted", good=g)
    g = good("Store, North", 'Item "7"')
    add("quoted ids with commas and quotes", "quoted.csv", _csv(g), "accepted", good=g)
    g = pd.concat([good("Zürich ~%/|", "I...1"), good("Australia's North West", "Holiday")])
    add("odd ids: unicode, ~ % / | ... and apostrophes", "odd_ids.parquet", _parquet(g), "accepted", good=g)
    g = good("G5", "I1")
    add("file name with + space # and [ ]", "a+b c#[1].parquet", _parquet(g), "accepted", good=g)
    g = good("G6", "I1")
    add("drop name with +", "in_plus_drop.parquet", _parquet(g), "accepted", drop="20250101T000000Z+extra", good=g)
    g = good("7", "8")
    typed = pd.DataFrame({"store_id": 7, "item_id": 8, "date": pd.to_datetime(g["date"]),
                          "units": g["units"].round().astype("int64"), "promo": False})
    add("parquet with int ids, timestamps, int units, boolean promo", "typed.parquet", _parquet(typed), "accepted",
        good=g.assign(units=typed["units"].astype(float)))
    g = good("G7", "I1")
    add("exact duplicate rows in one file", "dups.parquet", _parquet(pd.concat([g, g.iloc[:5]])), "accepted", good=g)
    g = good("G8", "I1")
    conflict = g.iloc[:1].assign(units=99.0)
    add("conflicting rows in one file: the larger units win", "conflict.parquet",
        _parquet(pd.concat([g, conflict])), "accepted",
        good=pd.concat([g.iloc[1:], g.iloc[:1].assign(units=max(99.0, g["units"].iloc[0]))]))
    g = good("G9", "I1")
    add("first drop of a restated series", "restated.parquet", _parquet(g), "accepted",
        good=g.iloc[:-3])  # its last three days are restated by the later drop
    add("later drop restates three days", "restated.parquet", _parquet(g.iloc[-3:].assign(units=42.0)), "accepted",
        drop=D2, good=g.iloc[-3:].assign(units=42.0))
    g = good("G10", "I1")
    stamped = g.assign(date=[f"{d}T00:00:00" for d in g["date"]])
    add("dates with a time of day", "timestamps.csv", _csv(stamped), "accepted", good=g)
    add("header only", "header_only.csv", b"store_id,item_id,date,units\n", "accepted",
        good=base.iloc[0:0])
    g = good("L" * 300, "I1")
    add("a 300-character store id", "long_id.parquet", _parquet(g), "accepted", good=g)

    # --- unreadable as a feed: the whole file is quarantined ----------------------------------
    bad = good("Q1", "I1")
    add("unsupported extension", "sales.xlsx", b"PK\x03\x04 not really", "quarantined", reason="unsupported file type")
    add("a text file", "notes.txt", b"hello", "quarantined", reason="unsupported file type")
    add("empty csv", "empty.csv", b"", "quarantined", reason="missing required column")
    add("parquet without units", "no_units.parquet", _parquet(bad.drop(columns="units")), "quarantined",
        reason="missing required column(s) ['units']")
    add("units stored as text in parquet", "text_units.parquet", _parquet(bad.assign(units="many")), "quarantined",
        reason="'units' has type string")
    add("date stored as a number in parquet", "int_date.parquet", _parquet(bad.assign(date=20240101)),
        "quarantined", reason="'date' has type int64")
    add("truncated parquet", "truncated.parquet", _parquet(bad)[:200], "quarantined", reason="unreadable parquet")
    add("random bytes named parquet", "random.parquet", os.urandom(2000), "quarantined", reason="unreadable parquet")
    add("corrupt data page behind an intact footer", "corrupt_page.parquet", _corrupt_page(bad), "quarantined",
        reason="unreadable parquet")
    add("csv without a date column", "no_date.csv", _csv(bad.drop(columns="date")), "quarantined",
        reason="missing required column(s) ['date']")
    add("latin-1 csv", "latin1.csv", _csv(bad).replace(b"Q1", "Qé".encode("latin-1")), "quarantined",
        reason="not UTF-8")
    add("duplicate column names", "dup_cols.csv", b"store_id,item_id,date,units,units\nQ1,I1,2024-08-01,1,2\n",
        "quarantined", reason="duplicate or empty column names")
    add("every row bad", "all_bad.csv", _csv(bad.assign(units=-1.0)), "quarantined", reason="units is negative")
    add("calendar without price or promo", "no_price.parquet", _parquet(bad.drop(columns="units")), "quarantined",
        feed="calendar", reason="needs a price or promo column")

    # --- some rows bad: they are rejected, the rest arrive --------------------------------------
    def rows(store, problems: dict[int, tuple[str, object, str]], fmt="parquet"):
        """A good series whose listed rows (1-based) get column=value and must be rejected with words."""
        g = good(store, "I1").astype({"units": object})
        for r, (col, value, _) in problems.items():
            g.loc[r - 1, col] = value
        keep = g.drop(index=[r - 1 for r in problems]).astype({"units": float})
        content = _parquet(g.astype({"units": str, "date": str}) if fmt == "parquet-text" else g) \
            if fmt.startswith("parquet") else _csv(g)
        return content, keep, {r: words for r, (_, _, words) in problems.items()}, \
            {r: (col, value) for r, (col, value, _) in problems.items()}

    for name, store, problems, fmt in [
        ("a row dated 2100", "R1", {3: ("date", "2100-01-01", "date after")}, "csv"),
        ("a row dated 1600", "R2", {4: ("date", "1600-01-01", "date before")}, "csv"),
        ("a date that is not a date", "R3", {2: ("date", "yesterday", "not a date")}, "csv"),
        ("February 30th", "R4", {5: ("date", "2024-02-30", "not a date")}, "csv"),
        ("negative units", "R5", {3: ("units", -5, "negative")}, "csv"),
        ("infinite units", "R6", {6: ("units", "inf", "not finite")}, "csv"),
        ("NaN units", "R7", {7: ("units", "NaN", "not finite")}, "csv"),
        ("missing units", "R8", {8: ("units", "", "not a number")}, "csv"),
        ("implausible units", "R9", {9: ("units", 1e12, "units above")}, "csv"),
        ("units in words", "R10", {10: ("units", "ten", "not a number")}, "csv"),
        ("empty store id", "R11", {2: ("store_id", "", "store_id is empty")}, "csv"),
        ("blank item id", "R12", {3: ("item_id", "   ", "item_id is empty")}, "csv"),
        ("infinite units in a parquet float column", "R13", {4: ("units", float("inf"), "not finite")}, "parquet"),
    ]:
        content, keep, rejected, values = rows(store, problems, fmt)
        add(name, f"{store}.{fmt.split('-')[0]}", content, "rejected", rejected=rejected, values=values, good=keep)
    g = good("R14", "I1").assign(price=2.0, promo=0)
    g.loc[1, "price"], g.loc[2, "promo"], g.loc[3, "price"] = 0.0, 2, "abc"
    add("price zero, promo 2, price in words", "R14.csv", _csv(g), "rejected",
        rejected={2: "price is not positive", 3: "promo is not 0 or 1", 4: "price is not a number"},
        values={2: ("price", 0.0), 3: ("promo", 2), 4: ("price", "abc")},
        good=g.drop(index=[1, 2, 3])[["store_id", "item_id", "date", "units"]])
    return out


@dataclass
class Corpus:
    cases: list[Case]

    @property
    def good_rows(self) -> pd.DataFrame:
        frames = [c.good for c in self.cases if c.feed == "sales" and c.good is not None]
        out = pd.concat(frames, ignore_index=True)[["store_id", "item_id", "date", "units"]]
        out["date"] = pd.to_datetime(out["date"]).dt.date
        out["units"] = out["units"].astype(float)
        return out.sort_values(["store_id", "item_id", "date"]).reset_index(drop=True)


def write(landing_dir: str) -> Corpus:
    """Write every case under ``landing_dir`` (and nothing else); returns the corpus."""
    all_cases = cases()
    for c in all_cases:
        folder = os.path.join(landing_dir, c.feed, c.drop)
        os.makedirs(folder, exist_ok=True)
        with open(os.path.join(folder, c.file), "wb") as f:
            f.write(c.content)
    # hidden and temporary files are not landing files
    for name in (".DS_Store", "_tmp-part-00000.parquet"):
        with open(os.path.join(landing_dir, "sales", D1, name), "wb") as f:
            f.write(b"ignored")
    return Corpus(all_cases)


def today() -> dt.date:
    return dt.datetime.now(dt.timezone.utc).date()
