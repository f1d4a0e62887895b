"""Spark schemas derived from the core's column definitions (one source of truth)."""
from __future__ import annotations


def ddl(columns: dict[str, str], extra: dict[str, str] | None = None) -> str:
    return ", ".join(f"{name} {typ}" for name, typ in {**columns, **(extra or {})}.items())
