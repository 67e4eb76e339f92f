"""A grpc.aio server interceptor that reports every call's method, status code and latency.

`context.abort` raises `AbortError` after setting the status on the context, so the code is
read back from `context.code()`; an exception that escapes the handler is UNKNOWN to the
client, a cancelled call CANCELLED. Unregistered methods are not reported: their names come
from the client and would make unbounded labels.
"""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TYPE_CHECKING, Any

import grpc

if TYPE_CHECKING:
    from cim_router.observability.metrics import Observer

    _Interceptor = grpc.aio.ServerInterceptor[Any, Any]  # generic in the stubs only
else:
    _Interceptor = grpc.aio.ServerInterceptor

Context = grpc.aio.ServicerContext[Any, Any]
Report = Callable[[str, str, float], None]


def _code(context: Context, exc: BaseException | None) -> str:
    code = context.code()
    if isinstance(code, grpc.StatusCode):  # set by abort() or set_code()
        return code.name
    if exc is None:
        return grpc.StatusCode.OK.name
    if isinstance(exc, asyncio.CancelledError):
        return grpc.StatusCode.CANCELLED.name
    return grpc.StatusCode.UNKNOWN.name


def _wrap_unary(behavior: Callable[..., Any], method: str, report: Report) -> Callable[..., Any]:
    async def call(request: Any, context: Context) -> Any:
        start = time.perf_counter()
        failure: BaseException | None = None
        try:
            result = behavior(request, context)
            return await result if inspect.isawaitable(result) else result
        except BaseException as exc:
            failure = exc
            raise
        finally:
            report(method, _code(context, failure), time.perf_counter() - start)

    return call


def _wrap_stream(behavior: Callable[..., Any], method: str, report: Report) -> Callable[..., Any]:
    if not inspect.isasyncgenfunction(behavior):  # it writes with context.write()
        return _wrap_unary(behavior, method, report)

    async def call(request: Any, context: Context) -> AsyncIterator[Any]:
        start = time.perf_counter()
        failure: BaseException | None = None
        try:
            async for item in behavior(request, context):
                yield item
        except BaseException as exc:
            failure = exc
            raise
        finally:
            report(method, _code(context, failure), time.perf_counter() - start)

    return call


# Each kind of method: its handler attribute, how grpc builds one, and how we wrap it.
_KINDS: tuple[tuple[str, Any, Any], ...] = (
    ("unary_unary", grpc.unary_unary_rpc_method_handler, _wrap_unary),
    ("stream_unary", grpc.stream_unary_rpc_method_handler, _wrap_unary),
    ("unary_stream", grpc.unary_stream_rpc_method_handler, _wrap_stream),
    ("stream_stream", grpc.stream_stream_rpc_method_handler, _wrap_stream),
)


class MetricsInterceptor(_Interceptor):
    """Reports each call to `observer.rpc(method, code, seconds)`; the method label is the
    full name without the leading slash, e.g. `cim_router.v1.Router/Enqueue`."""

    def __init__(self, observer: Observer) -> None:
        self.observer = observer

    async def intercept_service(
        self,
        continuation: Callable[
            [grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler[Any, Any]]
        ],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler[Any, Any]:
        handler = await continuation(handler_call_details)
        if handler is None:
            return handler
        method = handler_call_details.method.lstrip("/")
        h: Any = handler
        for kind, make, wrap in _KINDS:
            behavior = getattr(h, kind)
            if behavior is not None:
                return make(  # type: ignore[no-any-return]
                    wrap(behavior, method, self.observer.rpc),
                    h.request_deserializer,
                    h.response_serializer,
                )
        return handler
