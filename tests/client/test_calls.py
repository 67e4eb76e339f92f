"""One table of the Router's calls drives both clients: it lists every RPC of the service,
with its request type, and each client has the method it names."""

from __future__ import annotations

import inspect

from cim_router._pb import router_pb2 as pb
from cim_router.client import AsyncRouterClient, RouterClient
from cim_router.client.calls import RPCS, writes

SERVICE = pb.DESCRIPTOR.services_by_name["Router"]


def test_the_table_lists_every_rpc_with_its_request() -> None:
    assert [r.name for r in RPCS] == [m.name for m in SERVICE.methods]
    for rpc, method in zip(RPCS, SERVICE.methods, strict=True):
        assert rpc.request.DESCRIPTOR.full_name == method.input_type.full_name


def test_both_clients_have_each_call_with_the_same_signature() -> None:
    for rpc in RPCS:
        sync, aio = getattr(RouterClient, rpc.method), getattr(AsyncRouterClient, rpc.method)
        assert inspect.signature(sync).parameters.keys() == inspect.signature(aio).parameters.keys()


def test_reads_carry_no_request_id_and_writes_do() -> None:
    reads = {"GetAgent", "ListAgents", "WatchAssignments", "GetInteraction", "Explain", "GetStats"}
    reads |= {"ListTenants", "ListAudit", "CreateTenant", "DeleteTenant"}  # no request id
    reads |= {"GetQueue", "ListQueues", "ListInteractions"}
    reads |= {"WatchEvents", "GetCustomer", "Session"}  # Session: ids in each envelope
    for rpc in RPCS:
        assert writes(rpc.request()) == (rpc.name not in reads), rpc.name
