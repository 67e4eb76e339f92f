"""The Router service's method handlers, built from its descriptor.

grpc reports a deserializer's exception as UNKNOWN (or INTERNAL), so the generated
`add_RouterServicer_to_server` turns bytes that are not the request (truncated, garbage,
invalid UTF-8 in a string) into a status that blames the server. Here each method's
deserializer returns an `Undecodable` marker instead, and its handler refuses it with
INVALID_ARGUMENT (a Session refuses it in that message's answer, and goes on). Built from
the descriptor, every method of the service, present and future, gets the same treatment.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import grpc
from google.protobuf.descriptor import MethodDescriptor
from google.protobuf.message import Message

from cim_router._pb import router_pb2 as pb

SERVICE = pb.DESCRIPTOR.services_by_name["Router"]
Context = grpc.aio.ServicerContext[Any, Any]
Behavior = Callable[..., Any]


@dataclass(frozen=True)
class Undecodable:
    """A request body that does not decode as the method's request message."""

    type_name: str

    @property
    def message(self) -> str:
        return f"request: cannot be decoded as {self.type_name}"


def _lenient(cls: type[Message]) -> Callable[[bytes], Message | Undecodable]:
    def deserialize(data: bytes) -> Message | Undecodable:
        try:
            return cls.FromString(data)
        except Exception:  # whatever the parser objects to, the bytes are the client's
            return Undecodable(cls.DESCRIPTOR.full_name)

    return deserialize


def _refusing_unary(behavior: Behavior) -> Behavior:
    async def handle(request: Message | Undecodable, context: Context) -> Any:
        if isinstance(request, Undecodable):
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, request.message)
        return await behavior(request, context)

    return handle


def _refusing_stream(behavior: Behavior) -> Behavior:
    # An async generator function, so that the metrics interceptor follows the stream.
    async def handle(request: Message | Undecodable, context: Context) -> AsyncIterator[Any]:
        if isinstance(request, Undecodable):
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, request.message)
        async for item in behavior(request, context):
            yield item

    return handle


def _message_class(descriptor: Any) -> type[Message]:
    cls: type[Message] = getattr(pb, descriptor.name)
    return cls


def method_handler(servicer: object, method: MethodDescriptor) -> grpc.RpcMethodHandler[Any, Any]:
    behavior = getattr(servicer, method.name)
    deserializer = _lenient(_message_class(method.input_type))
    serializer = _message_class(method.output_type).SerializeToString
    if method.client_streaming:
        if not method.server_streaming:
            raise NotImplementedError(f"{method.full_name}: client streaming is not wired")
        # Session: each request that does not decode is refused in its own answer.
        return grpc.stream_stream_rpc_method_handler(behavior, deserializer, serializer)
    if method.server_streaming:
        return grpc.unary_stream_rpc_method_handler(
            _refusing_stream(behavior), deserializer, serializer
        )
    return grpc.unary_unary_rpc_method_handler(_refusing_unary(behavior), deserializer, serializer)


def add_router_to_server(servicer: object, server: grpc.aio.Server) -> None:
    """Serve every method of the Router service from `servicer`, as the generated code
    registers them (generic and pre-registered handlers), with the lenient decoding."""
    handlers = {m.name: method_handler(servicer, m) for m in SERVICE.methods}
    server.add_generic_rpc_handlers(
        (grpc.method_handlers_generic_handler(SERVICE.full_name, handlers),)
    )
    server.add_registered_method_handlers(SERVICE.full_name, handlers)  # type: ignore[attr-defined]
