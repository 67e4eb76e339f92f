"""Request metadata the router reads: the tenant and the request id, each at most once."""

from __future__ import annotations

from collections.abc import Iterable

from cim_router.service.convert import require_id
from cim_router.tenant.errors import InvalidArgument
from cim_router.tenant.registry import DEFAULT_TENANT

TENANT_HEADER = "x-cim-tenant"
REQUEST_HEADER = "x-cim-request-id"

Metadata = Iterable[tuple[str, str | bytes]]


def _single(metadata: Metadata | None, name: str) -> str | None:
    """A header's value; given twice, the request is refused rather than one copy picked:
    a proxy that checks one copy and a server that uses another would see different
    values."""
    values = [value for key, value in metadata or () if key == name]
    if len(values) > 1:
        raise InvalidArgument(name, "given more than once")
    if not values:
        return None
    value = values[0]
    if isinstance(value, bytes):  # only -bin keys carry bytes; kept for safety
        try:
            value = value.decode()
        except UnicodeDecodeError:
            raise InvalidArgument(name, "must be UTF-8 text") from None
    return value


def request_id_from_metadata(metadata: Metadata | None) -> str | None:
    """The request id of a call that writes, if it carries one (1..128 printable)."""
    found = _single(metadata, REQUEST_HEADER)
    return None if found is None else require_id(REQUEST_HEADER, found)


def tenant_from_metadata(metadata: Metadata | None) -> str:
    """The tenant a request names, DEFAULT_TENANT if none."""
    found = _single(metadata, TENANT_HEADER)
    return require_id(TENANT_HEADER, DEFAULT_TENANT if found is None else found)
