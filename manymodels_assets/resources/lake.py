"""The data lake (a local folder by default, ADLS Gen2 in production) and its landing zone."""
from __future__ import annotations

import datetime as dt
import os
import posixpath
import uuid
from contextlib import AbstractContextManager
from typing import Optional

import dagster as dg
import fsspec
from pydantic import ConfigDict, Field, PrivateAttr

from manymodels_assets import layout
from manymodels_assets.resources import lake_io


class LakeResource(dg.ConfigurableResource):
    """The lake that holds landing drops, the raw tables, series, model sets and forecasts.

    `root` is a local folder or an ADLS Gen2 URL (`abfss://container@account.dfs.core.windows.net/path`);
    `landing_root`, when set, puts the landing zone (and its quarantine) elsewhere, e.g. on ADLS
    while Spark's tables stay on a disk or mount it can read. Azure storage is reached through
    adlfs with dagster-azure's credential options (account key, SAS token, or
    DefaultAzureCredential when none is given), or a connection string for emulators. Tables are
    versioned: each write goes to a new version folder and becomes visible only when the
    table's `_CURRENT` pointer is replaced in one small write, so a crash mid-write leaves the
    previous version readable.
    """

    model_config = ConfigDict(use_attribute_docstrings=True)

    root: str
    """The lake: a local folder or an `abfss://` URL (MANYMODELS_LAKE_ROOT)."""
    landing_root: Optional[str] = None
    """Where suppliers drop files, when not `<root>/landing` (MANYMODELS_LANDING_ROOT)."""
    account_name: Optional[str] = None
    """The ADLS Gen2 storage account (MANYMODELS_LAKE_ACCOUNT_NAME)."""
    credential: lake_io.Credential = Field(default_factory=lake_io.default_credential, discriminator="credential_type")
    """How Azure storage is reached: account key, SAS token, or Azure identity (the default)."""
    connection_string: Optional[str] = None
    """A storage connection string, e.g. for an emulator (from MANYMODELS_LAKE_CONNECTION_STRING by name, never shown)."""
    keep_versions: int = 3
    """Versions of each table kept after a write (older ones are removed; readers of the last few keep working)."""

    _fs = PrivateAttr(default=None)
    _landing_fs = PrivateAttr(default=None)

    def _filesystem(self, root: str) -> fsspec.AbstractFileSystem:
        return lake_io.filesystem(root, self.account_name, self.credential, self.connection_string)

    @property
    def fs(self) -> fsspec.AbstractFileSystem:
        if self._fs is None:
            self._fs = self._filesystem(self.root)
        return self._fs

    @property
    def landing_fs(self) -> fsspec.AbstractFileSystem:
        if self._landing_fs is None:
            self._landing_fs = self._filesystem(self.landing_root) if self.landing_root else self.fs
        return self._landing_fs

    def uri(self, *parts: str) -> str:
        """Full URL of a path inside the lake."""
        return posixpath.join(self.root.rstrip("/"), *parts)

    def landing_uri(self, *parts: str) -> str:
        """Full URL of a path inside the landing zone (``quarantine`` is one of its folders)."""
        base = self.landing_root.rstrip("/") if self.landing_root else self.uri(layout.LANDING)
        return posixpath.join(base, *parts)

    @property
    def spark_reads_landing(self) -> bool:
        """Whether Spark can read landing files where they lie: when they are local, or on the same
        kind of storage as the lake (which Spark must read anyway). Otherwise ingest copies
        each file once per version into the lake first."""
        landing = self.landing_root or self.root
        return lake_io.is_local(landing) or lake_io.protocol(landing) == lake_io.protocol(self.root)

    def spark_uri(self, *parts: str) -> str:
        """The same location as Spark names it (abfss:// stays, local paths become file://)."""
        u = self.uri(*parts)
        return u if "://" in u else "file://" + u

    def spark_path(self, fs_path: str) -> str:
        """Spark's name for a path returned by ``self.fs`` or ``self.landing_fs`` (which drop the protocol)."""
        if lake_io.is_local(self.root):
            return "file://" + fs_path
        proto = lake_io.protocol(self.root)
        if proto in lake_io.AZURE:
            container, _, path = fs_path.partition("/")
            account = self.account_name or lake_io.account_of(self.root)
            return f"abfss://{container}@{account}.dfs.core.windows.net/{path}"
        return f"{proto}://{fs_path}"

    @property
    def is_local(self) -> bool:
        return lake_io.is_local(self.root)

    def lock(self, name: str, timeout: float = 6 * 3600) -> AbstractContextManager[None]:
        """Hold the lake-wide lock ``name`` (e.g. a table) while the block runs.

        Every process writing through this lake takes turns. On a local lake it is an OS file
        lock, released by the kernel when its holder dies (even by SIGKILL); on Azure storage a
        blob lease under ``_locks/``, renewed while held and lapsing within 15 s of a crash.
        """
        lock_name = name.replace("/", "_")
        if self.is_local:
            path = os.path.join(self.root.removeprefix("file://"), layout.LOCKS, lock_name + ".lock")
            return lake_io.file_lock(path, name, timeout)
        container, _, prefix = lake_io.fs_path(self.root).partition("/")
        service = lake_io.blob_service(self.root, self.account_name, self.credential, self.connection_string)
        return lake_io.lease_lock(service, container, posixpath.join(prefix, layout.LOCKS, lock_name), name, timeout)

    # versioned tables -------------------------------------------------------------------
    def current_version(self, table: str) -> Optional[str]:
        """Name of the table's current version folder, or None if it was never written."""
        pointer = self.uri(table, layout.CURRENT)
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
        self.fs.mv(tmp, self.uri(table, layout.CURRENT))
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
