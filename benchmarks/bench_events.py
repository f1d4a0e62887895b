"""What a run spent where, read back from the Dagster event log, the lake and the registry.

Event timestamps are taken when an event is created, before it is stored, and a range run's
materializations are stored in batches after the last of them is created. So for each step:

- body: STEP_START .. STEP_OUTPUT (the asset function, including any Dagster calls it makes),
- materializations: STEP_OUTPUT .. STEP_SUCCESS (creating one ASSET_MATERIALIZATION per
  partition, with the run's metadata copied into each, and storing them),

and for the run: the time from asking for it to RUN_START (run creation, which writes the
ASSET_MATERIALIZATION_PLANNED events) and from RUN_SUCCESS until the call returned.
"""
from __future__ import annotations

import dagster as dg
import pandas as pd

DET = dg.DagsterEventType


def run_records(instance: dg.DagsterInstance, run_id: str) -> list:
    """Every event record of a run (fetches are capped at 10,000: page with the cursor)."""
    records, cursor = [], None
    while True:
        conn = instance.get_records_for_run(run_id, cursor=cursor, limit=10_000)
        records.extend(conn.records)
        if not conn.has_more:
            return records
        cursor = conn.cursor


def _value(v):
    return getattr(v, "value", v)


def _small(v) -> bool:
    """Numbers and short text; not the plots and tables a plotted partition carries."""
    return isinstance(v, (int, float)) or (isinstance(v, str) and len(v) <= 300)


def run_figures(instance: dg.DagsterInstance, run_id: str, called: float, returned: float) -> dict:
    """Seconds of a run by what spent them (wall clock; ``called``/``returned`` are time.time())."""
    steps: dict[str, dict] = {}
    planned, started, succeeded = 0, None, None
    for r in run_records(instance, run_id):
        e = r.event_log_entry
        if e.dagster_event is None:
            continue
        kind, ts = e.dagster_event.event_type, e.timestamp
        step = steps.setdefault(e.step_key, {"mats": 0, "metadata": {}}) if e.step_key else None
        if kind == DET.ASSET_MATERIALIZATION_PLANNED:
            planned += 1
        elif kind == DET.RUN_START:
            started = ts
        elif kind == DET.RUN_SUCCESS:
            succeeded = ts
        elif step is None:
            continue
        elif kind == DET.STEP_START:
            step["start"] = ts
        elif kind == DET.STEP_OUTPUT:
            step["output"] = ts
        elif kind in (DET.STEP_SUCCESS, DET.STEP_FAILURE):
            step["end"] = ts
        elif kind == DET.ASSET_MATERIALIZATION:
            step["mats"] += 1
            step.setdefault("first_mat", ts)
            if not step["metadata"]:  # numbers are copied into every partition's event: one is enough
                md = e.asset_materialization.metadata
                step["metadata"] = {k: _value(v) for k, v in md.items() if _small(_value(v))}
    out_steps = {}
    for key, s in steps.items():
        if "start" not in s or "end" not in s:
            continue
        output = s.get("output", s.get("first_mat", s["end"]))
        out_steps[key] = {"wall_s": s["end"] - s["start"], "body_s": output - s["start"],
                          "materializations_s": s["end"] - output, "materializations": s["mats"],
                          "metadata": s["metadata"]}
    wall = returned - called
    before = (started - called) if started else 0.0
    after = (returned - succeeded) if succeeded else 0.0
    bodies = sum(s["body_s"] for s in out_steps.values())
    mats = sum(s["materializations_s"] for s in out_steps.values())
    return {"wall_s": wall, "planned_events": planned, "run_creation_s": before, "run_end_s": after,
            "materializations_s": mats, "materializations": sum(s["materializations"] for s in out_steps.values()),
            "bodies_s": bodies, "dagster_events_s": before + mats, "dagster_total_s": wall - bodies,
            "steps": out_steps}


def model_set_figures(lake, layout, model_set: str) -> dict:
    """Σ fit_seconds (the models' own arithmetic, summed over series) and the set's size, from the lake."""
    frame = pd.read_parquet(lake.uri(layout.model_set(model_set)), columns=["fit_seconds", "status", "forecaster"])
    return {"series": len(frame), "fit_seconds_sum": float(frame["fit_seconds"].sum()),
            "fit_ms_median": float(frame["fit_seconds"].median() * 1e3),
            "status": frame["status"].value_counts().to_dict(),
            "forecasters": frame["forecaster"].fillna("none").value_counts().to_dict()}


def mlflow_span(tracking_uri: str, registered: str | None) -> float | None:
    """Seconds from a model version's MLflow run creation to the version's registration, read
    from the registry; ``registered`` as the assets report it: ``"<model name> v<version>"``."""
    if not registered or " v" not in registered:
        return None
    from mlflow import MlflowClient

    name, _, version = registered.rpartition(" v")
    client = MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
    mv = client.get_model_version(name, version)
    return (mv.creation_timestamp - client.get_run(mv.run_id).info.start_time) / 1e3
