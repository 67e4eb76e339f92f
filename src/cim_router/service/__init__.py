"""The gRPC service: wire translation, the interaction lifecycle, and the store interface."""

from cim_router.service.server import Server
from cim_router.service.state import Snapshot, Store
from cim_router.service.tenants import Tenants

__all__ = ["Server", "Snapshot", "Store", "Tenants"]
