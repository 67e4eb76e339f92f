"""WatchEvents (the tenant's event stream, resumable after an entry id) and GetCustomer (one
customer's interactions, totals, open ones): wire in, tenant operation, wire out."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator, Sequence

import orjson

from cim_router._pb import router_pb2 as pb
from cim_router.domain.errors import ValidationError
from cim_router.domain.limits import (
    DEFAULT_INTERACTIONS_PAGE_SIZE,
    MAX_EVENT_TYPE_FILTERS,
    MAX_PAGE_BYTES,
    MAX_PAGE_TOKEN_LENGTH,
    MAX_STREAM_ID_LENGTH,
)
from cim_router.service import convert, responses
from cim_router.service.auth import Access
from cim_router.service.auth.quotas import no_quota
from cim_router.service.rpc import STATUS, Context, TenantLookups, refusal, rpc, tenant_of
from cim_router.tenant import customer_view, event_stream, stream_ids
from cim_router.tenant.errors import InvalidArgument, NotFound, ServiceError
from cim_router.tenant.ports import StreamEntry
from cim_router.tenant.records import EventType

_TOKEN_ERROR = "is not a next_page_token this service gave"
# WatchEvents' initial metadata: the entry id the stream delivers events after ("0-0": from
# the first kept), sent once the stream is in place.
STARTS_AFTER = "x-cim-events-after"
# GetCustomer's open interactions: the newest this many, within this many bytes.
OPEN_LISTED = 100
OPEN_BYTES = MAX_PAGE_BYTES // 2


def event_types_in(values: Sequence[int], field: str = "types") -> frozenset[EventType]:
    if len(values) > MAX_EVENT_TYPE_FILTERS:
        raise InvalidArgument(field, f"at most {MAX_EVENT_TYPE_FILTERS} entries, got {len(values)}")
    known = {int(t) for t in EventType}
    for n, value in enumerate(values):
        if value not in known:
            raise InvalidArgument(f"{field}[{n}]", f"unknown event type {value}")
    return frozenset(EventType(v) for v in values)


def after_id_in(value: str, from_start: bool) -> str:
    if not value:
        return ""
    if len(value) > MAX_STREAM_ID_LENGTH or not stream_ids.is_valid(value):
        raise InvalidArgument("after_id", "must be a stream entry id as StreamEvent.id gives it")
    if from_start:
        raise InvalidArgument("from_start", "set either after_id or from_start, not both")
    return value


def customer_token_out(key: customer_view.SortKey) -> str:
    raw = orjson.dumps([key[0], key[1]])
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def customer_token_in(token: str) -> customer_view.SortKey | None:
    """Where a page of GetCustomer starts: after this (enqueued_at, id); None: the first."""
    if not token:
        return None
    try:
        if len(token) > MAX_PAGE_TOKEN_LENGTH:
            raise ValueError(token)
        padded = token + "=" * (-len(token) % 4)
        at, iid = orjson.loads(base64.b64decode(padded, altchars=b"-_", validate=True))
        if not isinstance(at, (int, float)) or isinstance(at, bool) or not isinstance(iid, str):
            raise ValueError(token)
        return (float(at), iid)
    except ValueError:  # binascii.Error, JSONDecodeError and unpacking errors are ones
        raise InvalidArgument("page_token", _TOKEN_ERROR) from None


def stream_event_out(entry: StreamEntry) -> pb.StreamEvent:
    return pb.StreamEvent(id=entry.id, event=responses.event_out(entry.event))


def customer_out(page: customer_view.CustomerPage, sensitive: frozenset[str]) -> pb.Customer:
    """The page, cut short before it passes MAX_PAGE_BYTES (the token then resumes after
    the last interaction it holds)."""
    opened: list[pb.Interaction] = []
    size = 0
    for rec in page.open[:OPEN_LISTED]:
        message = responses.interaction_out(rec, (), sensitive)
        size += message.ByteSize() + 6
        if size > OPEN_BYTES and opened:
            break
        opened.append(message)
    listed: list[pb.Interaction] = []
    more = page.more
    for rec in page.interactions:
        message = responses.interaction_out(rec, (), sensitive)
        size += message.ByteSize() + 6
        if size > MAX_PAGE_BYTES and listed:
            more = True
            break
        listed.append(message)
    last = page.interactions[len(listed) - 1] if listed else None
    t = page.totals
    return pb.Customer(
        customer_id=page.customer_id,
        interactions=listed,
        next_page_token=customer_token_out(customer_view.sort_key(last)) if more and last else "",
        open_interactions=opened,
        last_agent_id=page.last_agent_id,
        last_interaction_id=page.last_interaction_id,
        totals=pb.CustomerTotals(
            contacts=t.contacts,
            repeat_contacts=t.repeat_contacts,
            csat_count=t.csat_count,
            csat_mean=t.csat_mean,
            open=len(page.open),
        ),
    )


class EventCustomerRpcs(TenantLookups):
    access: Access

    async def WatchEvents(
        self, request: pb.WatchEventsRequest, context: Context
    ) -> AsyncIterator[pb.StreamEvent]:
        try:
            tenant = tenant_of(context)
            principal = await self.access.check("WatchEvents", request, tenant, context)
            types = event_types_in(request.types)
            after = after_id_in(request.after_id, request.from_start)
            quota = principal.quota  # the key's cap on watch streams counts these too
            # The tenant may not exist yet: an integration may watch before anything happens.
            with quota.watching() if quota is not None else no_quota():
                async for message in self._watch_events(tenant, request, types, after, context):
                    yield message
        except (ServiceError, ValidationError) as exc:
            err = refusal(exc)
            await context.abort(STATUS[err.code], err.message)

    async def _watch_events(
        self,
        tenant: str,
        request: pb.WatchEventsRequest,
        types: frozenset[EventType],
        after: str,
        context: Context,
    ) -> AsyncIterator[pb.StreamEvent]:
        async with self.tenants.use(tenant) as router:
            watcher = event_stream.subscribe(router, self.tenants.limits.max_event_streams)
            try:
                cursor = await event_stream.start_cursor(router, after, request.from_start)
                # Sent once the stream is in place: from here on, nothing is missed.
                await context.send_initial_metadata(((STARTS_AFTER, cursor),))
                async for entry in event_stream.follow(router, watcher, cursor, types):
                    yield stream_event_out(entry)
            finally:
                router.hub.unsubscribe(watcher)

    @rpc
    async def GetCustomer(self, request: pb.GetCustomerRequest, context: Context) -> pb.Customer:
        convert.require_id("customer_id", request.customer_id)
        size = convert.page_size_in(request.page_size, DEFAULT_INTERACTIONS_PAGE_SIZE)
        after = customer_token_in(request.page_token)
        router = self._reader(context)
        if router is None:
            raise NotFound(f"customer {request.customer_id!r} not found")
        page = await customer_view.get_customer(router, request.customer_id, after, size)
        return customer_out(page, router.policy.sensitive_context_keys)
