"""What a model-set row stores as bytes or text: the fitted model, and the calendar's regressors."""
from __future__ import annotations

import json
import pickle
import zlib

import pandas as pd

FORMAT = "pickle+zlib/1"
"""Fitted models: pickle, zlib-compressed (about 4x smaller for sktime/statsmodels)."""


def dump_model(model) -> bytes:
    return zlib.compress(pickle.dumps(model, protocol=5), level=6)


def load_model(blob: bytes):
    return pickle.loads(zlib.decompress(blob))


def dump_regressors(X: pd.DataFrame) -> str:
    return json.dumps({"periods": [str(p) for p in X.index], "columns": list(X.columns),
                       "values": X.to_numpy(dtype=float).round(8).tolist()})


def load_regressors(payload: str, freq: str) -> pd.DataFrame:
    d = json.loads(payload)
    return pd.DataFrame(d["values"], columns=d["columns"], index=pd.PeriodIndex(d["periods"], freq=freq))
