"""What can go wrong when serving a forecast, named by what the client should do about it.

``SeriesNotFound`` is the client's problem (404): the production set has no model for that
store-item. ``ServiceUnavailable`` and its kinds are ours (503, retry later): the registry or the
lake cannot be reached, or there is no usable production set. Anything else is a bug and
surfaces as a plain 500 without details.
"""
from __future__ import annotations

from azure.core.exceptions import AzureError


class SeriesNotFound(Exception):
    """No usable model for this store-item in the production set."""


class ServiceUnavailable(Exception):
    """The service cannot answer now; the same request may succeed later."""


class RegistryUnavailable(ServiceUnavailable):
    """The production registry did not answer."""


class LakeUnavailable(ServiceUnavailable):
    """The lake did not answer, or the production set's files cannot be read."""


class NoProductionSet(ServiceUnavailable):
    """The registry answered, but names no usable production model set."""


# What reading the lake raises when it cannot be reached or read: fsspec and pyarrow raise
# OSError (FileNotFoundError, PermissionError, ArrowIOError, connection resets) for local
# folders; adlfs raises Azure SDK errors (authentication, connection, throttling) for ADLS.
LAKE_ERRORS: tuple[type[BaseException], ...] = (OSError, TimeoutError, AzureError)
