"""How the lake is reached outside Spark: its filesystem (local, or ADLS Gen2 / Blob through adlfs)
with dagster-azure's credential options, and the locks its writers take turns with."""
from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import posixpath
import threading
import time
from collections.abc import Iterator
from typing import Optional, Union

import fsspec
from dagster_azure.adls2 import ADLS2DefaultAzureCredential, ADLS2Key, ADLS2SASToken
from fsspec.core import url_to_fs

Credential = Union[ADLS2SASToken, ADLS2Key, ADLS2DefaultAzureCredential]
AZURE = ("abfs", "abfss", "az")
log = logging.getLogger(__name__)


def default_credential() -> ADLS2DefaultAzureCredential:
    """No secret configured: managed identity, workload identity, `az login` or AZURE_* variables."""
    return ADLS2DefaultAzureCredential(kwargs={})


def is_local(root: str) -> bool:
    return "://" not in root or root.startswith("file://")


def protocol(root: str) -> str:
    return "file" if is_local(root) else root.split("://", 1)[0]


def fs_path(root: str) -> str:
    """``container/path`` of an Azure URL (``abfs://container/path`` or ``abfss://container@account.../path``)."""
    authority, _, path = root.split("://", 1)[1].partition("/")
    return posixpath.join(authority.split("@", 1)[0], path).rstrip("/")


def account_of(root: str) -> Optional[str]:
    """The storage account named in an ``abfss://container@account.dfs.core.windows.net/...`` URL."""
    authority = root.split("://", 1)[1].split("/", 1)[0]
    return authority.split("@", 1)[1].split(".", 1)[0] if "@" in authority else None


def filesystem(root: str, account_name: Optional[str], credential: Optional[Credential],
               connection_string: Optional[str]) -> fsspec.AbstractFileSystem:
    """The fsspec filesystem of ``root``. Azure: a connection string (emulators such as Azurite),
    else the account with an account key, a SAS token, or DefaultAzureCredential (managed
    identity, workload identity, `az login`, AZURE_* variables) when no secret is configured."""
    if is_local(root):
        return fsspec.filesystem("file")
    if protocol(root) not in AZURE:
        return url_to_fs(root)[0]
    from adlfs import AzureBlobFileSystem

    if connection_string:
        return AzureBlobFileSystem(connection_string=connection_string)
    options = {"account_name": account_name or account_of(root)}
    if isinstance(credential, ADLS2Key):
        options["account_key"] = credential.key
    elif isinstance(credential, ADLS2SASToken):
        options["sas_token"] = credential.token
    elif isinstance(credential, ADLS2DefaultAzureCredential) and credential.kwargs:
        from azure.identity.aio import DefaultAzureCredential

        options["credential"] = DefaultAzureCredential(**credential.kwargs)
    else:
        options["anon"] = False  # adlfs then asks DefaultAzureCredential
    return AzureBlobFileSystem(**options)


def blob_service(root: str, account_name: Optional[str], credential: Optional[Credential],
                 connection_string: Optional[str]):
    """A synchronous Blob service client for the same account (leases are not in fsspec)."""
    from azure.storage.blob import BlobServiceClient

    if connection_string:
        return BlobServiceClient.from_connection_string(connection_string)
    account = account_name or account_of(root)
    url = f"https://{account}.blob.core.windows.net"
    if isinstance(credential, ADLS2Key):
        return BlobServiceClient(url, credential={"account_name": account, "account_key": credential.key})
    if isinstance(credential, ADLS2SASToken):
        return BlobServiceClient(url, credential=credential.token)
    from azure.identity import DefaultAzureCredential

    return BlobServiceClient(url, credential=DefaultAzureCredential(**(credential.kwargs if credential else {})))


def _wait(acquire, name: str, timeout: float) -> None:
    started, announced = time.monotonic(), False
    while not acquire():
        if not announced:
            log.warning("waiting for the lake lock %r (another run writes it)", name)
            announced = True
        if time.monotonic() - started > timeout:
            raise TimeoutError(f"lake lock {name!r} still held after {timeout:.0f}s")
        time.sleep(0.2)


@contextlib.contextmanager
def file_lock(path: str, name: str, timeout: float) -> Iterator[None]:
    """An OS file lock: released by the kernel when its holder dies, even by SIGKILL."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        def acquire() -> bool:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return True
            except BlockingIOError:
                return False

        _wait(acquire, name, timeout)
        yield
    finally:
        os.close(fd)  # closing releases the flock


@contextlib.contextmanager
def lease_lock(service, container: str, blob: str, name: str, timeout: float,
               lease_seconds: int = 15) -> Iterator[None]:
    """A blob lease: renewed while held; if its holder dies the lease lapses within ``lease_seconds``."""
    from azure.core.exceptions import HttpResponseError, ResourceExistsError

    client = service.get_blob_client(container, blob)
    with contextlib.suppress(ResourceExistsError):
        client.upload_blob(b"", overwrite=False)
    holder: dict = {}

    def acquire() -> bool:
        try:
            holder["lease"] = client.acquire_lease(lease_duration=lease_seconds)
            return True
        except HttpResponseError as exc:
            if exc.status_code == 409:  # leased by another holder
                return False
            raise

    _wait(acquire, name, timeout)
    stop = threading.Event()

    def renew() -> None:
        while not stop.wait(lease_seconds / 3):
            holder["lease"].renew()

    renewer = threading.Thread(target=renew, name=f"lease-{name}", daemon=True)
    renewer.start()
    try:
        yield
    finally:
        stop.set()
        renewer.join()
        holder["lease"].release()
