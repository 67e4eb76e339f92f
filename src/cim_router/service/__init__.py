"""The gRPC service: wire translation, the interaction lifecycle, and where state lives."""

from cim_router.service.server import Server
from cim_router.service.state import MemoryStore, StateStore
from cim_router.service.tenants import Tenants

__all__ = ["MemoryStore", "Server", "StateStore", "Tenants"]
