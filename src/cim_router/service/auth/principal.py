"""A caller as the router knows it once authenticated, and the access check's port."""

from __future__ import annotations

import enum
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

import grpc

if TYPE_CHECKING:
    from cim_router.service.auth.quotas import KeyQuota

ALL_TENANTS = "*"


class Role(enum.Enum):
    """What a caller may do; each role is a fixed set of RPCs (see auth/roles.py)."""

    ADMIN = "admin"  # tenants, keys, agents, policy; everything a router may do
    ROUTER = "router"  # an ACD or chat platform: interactions, context, reads
    AGENT = "agent"  # one agent's desktop: its own state, offers and interactions
    VIEWER = "viewer"  # wallboards: stats, lists, explanations; no context values


@dataclass(frozen=True)
class Principal:
    """An authenticated caller: an API key (or a client certificate) bound to a tenant (or
    every tenant) and a role; an agent key also to one agent id."""

    caller: str  # what audit records: the key's id or the certificate's subject, never a key
    role: Role
    tenant: str = ALL_TENANTS
    agent_id: str = ""
    # The key's live quota counts (None: no quota, as for certificates and ANONYMOUS).
    quota: KeyQuota | None = field(default=None, compare=False, repr=False)

    def may_use(self, tenant: str) -> bool:
        return self.tenant in (ALL_TENANTS, tenant)


# Without authentication configured, every caller is this one: full access, recorded as
# nobody in particular.
ANONYMOUS = Principal(caller="", role=Role.ADMIN)


# The principal of the call being served (set by the servicer's `rpc` wrapper), for what
# depends on who reads: a viewer sees no context values.
current_principal: ContextVar[Principal] = ContextVar("cim_router_principal", default=ANONYMOUS)


class Access(Protocol):
    """The check every RPC passes first: who calls (UNAUTHENTICATED if nobody valid), and
    whether they may make this call on this tenant (PERMISSION_DENIED). Neither refusal
    says whether the target exists; neither changes anything."""

    async def check(
        self, method: str, request: Any, tenant: str, context: grpc.aio.ServicerContext[Any, Any]
    ) -> Principal: ...


class OpenAccess:
    """No authentication: every call is ANONYMOUS."""

    async def check(
        self, method: str, request: Any, tenant: str, context: grpc.aio.ServicerContext[Any, Any]
    ) -> Principal:
        return ANONYMOUS
