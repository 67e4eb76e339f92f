"""Request metadata the router reads: the tenant header."""

from __future__ import annotations

from collections.abc import Iterable

from cim_router.service.convert import require_id
from cim_router.service.errors import InvalidArgument
from cim_router.service.tenants import DEFAULT_TENANT

TENANT_HEADER = "x-cim-tenant"

Metadata = Iterable[tuple[str, str | bytes]]


def tenant_from_metadata(metadata: Metadata | None) -> str:
    """The tenant a request names, DEFAULT_TENANT if none.

    Given twice, the request is refused rather than one copy picked: a proxy that checks
    one copy and a server that uses another would see different tenants.
    """
    values = [value for key, value in metadata or () if key == TENANT_HEADER]
    if len(values) > 1:
        raise InvalidArgument(TENANT_HEADER, "given more than once")
    if not values:
        return DEFAULT_TENANT
    tenant = values[0]
    if isinstance(tenant, bytes):  # only -bin keys carry bytes; kept for safety
        try:
            tenant = tenant.decode()
        except UnicodeDecodeError:
            raise InvalidArgument(TENANT_HEADER, "must be UTF-8 text") from None
    return require_id(TENANT_HEADER, tenant)
