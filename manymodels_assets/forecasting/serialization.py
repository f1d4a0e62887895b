"""Fitted-model (de)serialisation: pickle, zlib-compressed (about 4x smaller for sktime/statsmodels)."""
from __future__ import annotations

import pickle
import zlib

FORMAT = "pickle+zlib/1"


def dump_model(model) -> bytes:
    return zlib.compress(pickle.dumps(model, protocol=5), level=6)


def load_model(blob: bytes):
    return pickle.loads(zlib.decompress(blob))
