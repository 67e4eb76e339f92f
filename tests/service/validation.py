"""Shared by the validation tests: contexts built to order, refusals and a snapshot of
state to compare before and after one."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import grpc
import pytest
from google.protobuf import struct_pb2

from cim_router._pb import router_pb2 as pb
from tests.service.conftest import Client
from tests.service.steady import steady

Req = pb.SkillRequirement

WARM = pb.TRANSFER_MODE_WARM


def struct(value: dict[str, Any]) -> struct_pb2.Struct:
    s = struct_pb2.Struct()
    s.update(value)
    return s


def nested(levels: int, leaf: Any = 1) -> dict[str, Any]:
    """A context `levels` JSON objects deep, the context itself the first."""
    value: Any = leaf
    for _ in range(levels - 1):
        value = {"a": value}
    return {"a": value}


def refused(call: Callable[[], Any]) -> str:
    """Make a call that must be refused as INVALID_ARGUMENT; its details."""
    with pytest.raises(grpc.RpcError) as err:
        call()
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT, err.value.details()
    return err.value.details() or ""


def world(client: Client, interactions: tuple[str, ...] = ()) -> tuple[Any, ...]:
    """Everything a refused request could have changed: agents, interactions, stats."""
    stats = client.GetStats(pb.GetStatsRequest())
    steady(stats)
    agents = client.ListAgents(pb.ListAgentsRequest())
    return stats, agents, tuple(client.get(i) for i in interactions)
