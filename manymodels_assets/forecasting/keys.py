"""The one codec between (store_id, item_id) and a series key.

A series key is also a Dagster dynamic partition key, so it must avoid what Dagster and its
UI give meaning to: ``|`` (multi-partition delimiter), ``,`` (UI backfills), ``[``, ``]`` and
``...`` (range syntax). Ids keep ``A-Z a-z 0-9 - _`` as they are; every other character,
``.`` included, is percent-encoded as UTF-8 bytes. ``~`` joins store and item and never
appears inside an encoded id, so decoding is unambiguous.
"""
from __future__ import annotations

import re
from urllib.parse import quote, unquote

SEPARATOR = "~"
_PLAIN_ID = r"[A-Za-z0-9_-]+"
_ENCODED_ID = re.compile(r"(?:[A-Za-z0-9_-]|%[0-9A-F]{2})+")


def _encode_id(value: str) -> str:
    # quote() leaves "." and "~" as they are: "." would allow "...", "~" is the separator.
    return quote(value, safe="").replace(".", "%2E").replace("~", "%7E")


def _decode_id(value: str) -> str:
    if not _ENCODED_ID.fullmatch(value):
        raise ValueError(f"not an encoded id: {value!r}")
    return unquote(value, errors="strict")


def encode_key(store_id: object, item_id: object) -> str:
    """Series key for a store and an item, e.g. ``("S01", "I.7")`` -> ``"S01~I%2E7"``."""
    store, item = str(store_id), str(item_id)
    if not store or not item:
        raise ValueError(f"store_id and item_id must be non-empty, got {store_id!r}, {item_id!r}")
    return f"{_encode_id(store)}{SEPARATOR}{_encode_id(item)}"


def decode_key(key: str) -> tuple[str, str]:
    """(store_id, item_id) of a series key; raises ValueError naming a malformed key."""
    parts = key.split(SEPARATOR)
    if len(parts) != 2:
        raise ValueError(f"series key {key!r} must be '<store>{SEPARATOR}<item>'")
    try:
        return _decode_id(parts[0]), _decode_id(parts[1])
    except (ValueError, UnicodeDecodeError) as exc:
        raise ValueError(f"series key {key!r} is malformed: {exc}") from None


def encode_keys(store_ids, item_ids) -> list[str]:
    """Vectorised :func:`encode_key` over two sequences (plain ids take a fast path)."""
    import pandas as pd

    stores = pd.Series(store_ids, dtype=str).reset_index(drop=True)
    items = pd.Series(item_ids, dtype=str).reset_index(drop=True)
    plain = stores.str.fullmatch(_PLAIN_ID) & items.str.fullmatch(_PLAIN_ID)
    keys = stores + SEPARATOR + items
    for i in (~plain).to_numpy().nonzero()[0]:
        keys.iat[i] = encode_key(stores.iat[i], items.iat[i])
    return keys.tolist()


def decode_keys(keys) -> tuple[list[str], list[str]]:
    """Vectorised :func:`decode_key`: (store_ids, item_ids)."""
    import pandas as pd

    k = pd.Series(keys, dtype=str).reset_index(drop=True)
    parts = k.str.split(SEPARATOR, n=1, expand=True).reindex(columns=[0, 1])
    plain = k.str.fullmatch(_PLAIN_ID + SEPARATOR + _PLAIN_ID)
    stores, items = parts[0].copy(), parts[1].copy()
    for i in (~plain).to_numpy().nonzero()[0]:
        stores.iat[i], items.iat[i] = decode_key(k.iat[i])
    return stores.tolist(), items.tolist()
