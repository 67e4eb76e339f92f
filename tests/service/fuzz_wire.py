"""The fuzz suite's requests on the wire: a drawn value set into a field, a body decoded
back, and whether a call reads a request id."""

from __future__ import annotations

from typing import Any

from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import DecodeError, Message

from cim_router._pb import router_pb2 as pb
from tests.service.fuzz_checks import READS, STREAMS
from tests.service.test_bad_input import METHODS


def set_field(message: Message, field_: FieldDescriptor, value: Any) -> None:
    """Give one field of `message` a value `field_values` drew for it."""
    name = field_.name
    sub = field_.message_type
    if sub is not None and sub.GetOptions().map_entry:
        target: Any = getattr(message, name)
        target.clear()
        target.update(value)
    elif field_.is_repeated:
        del getattr(message, name)[:]
        getattr(message, name).extend(value)
    elif sub is not None:
        getattr(message, name).CopyFrom(value)
    else:
        setattr(message, name, value)


def decode(method: str, body: bytes) -> Message | None:
    cls: type[Message] = getattr(pb, METHODS[method].input_type.name)
    try:
        return cls.FromString(body)
    except DecodeError:
        return None


def takes_request_id(method: str, request: Message | None) -> bool:
    """Whether the server reads `x-cim-request-id` for this call."""
    if method in READS or method in STREAMS or method in ("CreateTenant", "DeleteTenant"):
        return False
    if method == "ForgetCustomer":
        return False  # idempotent: it reads no request id
    if method == "Assign":
        return request is None or request.WhichOneof("target") == "agent_id"
    return True
