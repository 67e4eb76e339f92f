"""The gRPC service: the servicer (where an RPC enters), wire conversion and the server."""

from cim_router.service.server import Server

__all__ = ["Server"]
