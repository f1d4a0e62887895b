"""The data lake: a local folder by default, ADLS Gen2 in production."""
from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import logging
import os
import posixpath
import time
import uuid
from collections.abc import Iterator
from typing import Optional

import dagster as dg
import fsspec
from fsspec.core import url_to_fs
from pydantic import PrivateAttr

from manymodels_assets import layout

CURRENT = "_CURRENT"
log = logging.getLogger(__name__)


class LakeResource(dg.ConfigurableResource):
    """The lake that holds landing drops, the raw table, series, model sets and forecasts.

    ``root`` is a local folder or an ADLS Gen2 URL (``abfss://container@account.dfs.core.windows.net/path``).
    Tables are versioned: each write goes to a new version folder and becomes visible only when
    the table's ``_CURRENT`` pointer is replaced in one small write, so a crash mid-write leaves
    the previous version readable.
    """

    root: str
    account_name: Optional[str] = None
    connection_string: Optional[str] = None  # set from MANYMODELS_LAKE_CONNECTION_STRING, never in code
    keep_versions: int = 3

    _fs = PrivateAttr(default=None)

    @property
    def fs(self) -> fsspec.AbstractFileSystem:
        if self._fs is None:
            options = {}
            if "://" in self.root and not self.root.startswith("file://"):
                if self.account_name:
                    options["account_name"] = self.account_name
                if self.connection_string:
                    options["connection_string"] = self.connection_string
                else:
                    options["anon"] = False  # DefaultAzureCredential: managed identity, az login, env
            self._fs, _ = url_to_fs(self.root, **options)
        return self._fs

    def uri(self, *parts: str) -> str:
        """Full URL of a path inside the lake."""
        return posixpath.join(self.root.rstrip("/"), *parts)

    def spark_uri(self, *parts: str) -> str:
        """The same location as Spark names it (abfss:// stays, local paths become file://)."""
        u = self.uri(*parts)
        return u if "://" in u else "file://" + u

    def spark_path(self, fs_path: str) -> str:
        """Spark's name for a path returned by ``self.fs`` (which drops the protocol)."""
        if "://" not in self.root or self.root.startswith("file://"):
            return "file://" + fs_path
        protocol, rest = self.root.split("://", 1)
        if protocol in ("abfs", "abfss", "az"):
            container, _, path = fs_path.partition("/")
            account = self.account_name or rest.split("@", 1)[-1].split(".", 1)[0]
            return f"abfss://{container}@{account}.dfs.core.windows.net/{path}"
        return f"{protocol}://{fs_path}"

    @property
    def is_local(self) -> bool:
        return "://" not in self.root or self.root.startswith("file://")

    @contextlib.contextmanager
    def lock(self, name: str, timeout: float = 6 * 3600) -> Iterator[None]:
        """Hold the lake-wide lock ``name`` (e.g. a table) while the block runs.

        Every process writing through this lake takes turns. On a local lake it is an OS file
        lock, released by the kernel when its holder dies (even by SIGKILL), so a crash never
        leaves a table locked.
        """
        if not self.is_local:
            raise NotImplementedError("lake locks on object storage")
        folder = os.path.join(self.root.removeprefix("file://"), layout.LOCKS)
        os.makedirs(folder, exist_ok=True)
        fd = os.open(os.path.join(folder, name.replace("/", "_") + ".lock"), os.O_RDWR | os.O_CREAT, 0o644)
        try:
            started, announced = time.monotonic(), False
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if not announced:
                        log.warning("waiting for the lake lock %r (another run writes it)", name)
                        announced = True
                    if time.monotonic() - started > timeout:
                        raise TimeoutError(f"lake lock {name!r} still held after {timeout:.0f}s") from None
                    time.sleep(0.2)
            yield
        finally:
            os.close(fd)  # closing releases the flock

    # versioned tables -------------------------------------------------------------------
    def current_version(self, table: str) -> Optional[str]:
        """Name of the table's current version folder, or None if it was never written."""
        pointer = self.uri(table, CURRENT)
        if not self.fs.exists(pointer):
            return None
        return self.fs.cat_file(pointer).decode().strip() or None

    def new_version(self, table: str, run_id: str = "") -> str:
        stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%S%fZ")
        return f"v-{stamp}-{(run_id or uuid.uuid4().hex)[:8]}"

    def publish(self, table: str, version: str) -> None:
        """Make ``version`` the table's current version in one atomic step, then prune old ones."""
        tmp = self.uri(table, f"_CURRENT.{uuid.uuid4().hex}.tmp")
        self.fs.pipe_file(tmp, version.encode())
        self.fs.mv(tmp, self.uri(table, CURRENT))
        self._prune(table, version)

    def _prune(self, table: str, current: str) -> None:
        versions = sorted(p.rstrip("/").rsplit("/", 1)[-1] for p in self.fs.ls(self.uri(table), detail=False)
                          if p.rstrip("/").rsplit("/", 1)[-1].startswith("v-"))
        for old in versions[: max(0, len(versions) - self.keep_versions)]:
            if old != current:
                self.fs.rm(self.uri(table, old), recursive=True)

    def move_into_place(self, staging: str, final: str) -> None:
        """Rename a fully written folder to its final name (atomic on a local disk and on ADLS Gen2)."""
        self.fs.mv(self.uri(staging), self.uri(final), recursive=True)
