"""An access check for tests: the principal a call names in test headers (role, caller,
agent), so that one server serves every role; what the real checks decide is theirs."""

from __future__ import annotations

from typing import Any

import grpc

from cim_router._pb import router_pb2_grpc
from cim_router.service.auth import Principal, Role


class HeaderAccess:
    async def check(
        self, method: str, request: Any, tenant: str, context: grpc.aio.ServicerContext[Any, Any]
    ) -> Principal:
        found = {k: v for k, v in context.invocation_metadata() or () if isinstance(v, str)}
        return Principal(
            caller=found.get("x-test-caller", ""),
            role=Role(found.get("x-test-role", "admin")),
            agent_id=found.get("x-test-agent", ""),
        )


class As:
    """The Router stub calling as one principal: `As(channel, "viewer").GetInteraction(r)`."""

    def __init__(
        self, channel: grpc.Channel, role: str = "admin", caller: str = "", agent: str = ""
    ) -> None:
        self.stub = router_pb2_grpc.RouterStub(channel)
        self.metadata = (
            ("x-cim-tenant", "default"),
            ("x-test-role", role),
            ("x-test-caller", caller),
            ("x-test-agent", agent),
        )

    def __getattr__(self, name: str) -> Any:
        method = getattr(self.stub, name)

        def call(request: Any, timeout: float = 5.0) -> Any:
            return method(request, timeout=timeout, metadata=self.metadata)

        return call
