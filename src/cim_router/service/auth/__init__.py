"""Who is calling, and whether they may: principals, roles and the check every RPC passes
before it reads or changes anything."""

from cim_router.service.auth.principal import (
    ANONYMOUS,
    Access,
    OpenAccess,
    Principal,
    Role,
    current_principal,
)

__all__ = ["ANONYMOUS", "Access", "OpenAccess", "Principal", "Role", "current_principal"]
