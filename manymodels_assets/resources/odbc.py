"""ODBC connection strings: their fields, and the driver that opens them (the dialect a string
names is read in settings.py).

Microsoft's ODBC Driver 18 for SQL Server (Synapse's driver) need not be installed system-wide:
when the connection string names it and unixODBC does not know it, the copy that the optional
``mssql-python`` package ships (in ``mssql-python-odbc``, under Microsoft's own licence; see
docs/production.md) is used by its path. Nothing here requires that package.
"""
from __future__ import annotations

import glob
import importlib.util
import os
import re
from typing import Optional

MSSQL_DRIVER = "ODBC Driver 18 for SQL Server"


def odbc_fields(connection_string: str) -> dict[str, str]:
    """key -> value of an ODBC connection string; a value in braces may contain ';'."""
    fields, i, s = {}, 0, connection_string
    while i < len(s):
        eq = s.find("=", i)
        if eq < 0:
            break
        key = s[i:eq].strip()
        if s[eq + 1:eq + 2] == "{":
            end = s.find("}", eq + 2)
            end = len(s) if end < 0 else end
            value, i = s[eq + 2:end], s.find(";", end) + 1 or len(s)
        else:
            end = s.find(";", eq + 1)
            end = len(s) if end < 0 else end
            value, i = s[eq + 1:end], end + 1
        if key:
            fields[key] = value.strip()
    return fields


def bundled_mssql_driver() -> Optional[str]:
    """Path of the ODBC Driver 18 library shipped by the ``mssql-python`` package, if it is installed."""
    if importlib.util.find_spec("mssql_python_odbc") is None:
        return None
    import mssql_python_odbc

    arch = {"x86_64": "x86_64", "aarch64": "arm64", "arm64": "arm64"}.get(os.uname().machine, os.uname().machine)
    found = sorted(glob.glob(os.path.join(mssql_python_odbc.get_libs_dir(), "linux", "*", arch, "lib",
                                          "libmsodbcsql-18*.so*")))
    # the Debian/Ubuntu build first: this project's install script targets those distributions
    found.sort(key=lambda p: "debian_ubuntu" not in p)
    return found[0] if found else None


def resolve_driver(connection_string: str, installed: Optional[list[str]] = None) -> str:
    """``connection_string`` with ``Driver={ODBC Driver 18 for SQL Server}`` replaced by the bundled
    library's path when unixODBC has no driver of that name; otherwise unchanged."""
    match = re.search(r"(?i)\bdriver\s*=\s*\{?\s*" + re.escape(MSSQL_DRIVER) + r"\s*\}?", connection_string)
    if not match:
        return connection_string
    if installed is None:
        import pyodbc

        installed = pyodbc.drivers()
    if MSSQL_DRIVER in installed:
        return connection_string
    library = bundled_mssql_driver()
    if library is None:
        raise LookupError(f"the connection string names {MSSQL_DRIVER!r}, which is neither registered with unixODBC "
                          "nor installed with the optional package: pip install 'manymodels_assets[synapse]'")
    return connection_string[:match.start()] + f"Driver={library}" + connection_string[match.end():]
