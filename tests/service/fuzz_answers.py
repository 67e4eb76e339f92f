"""What the fuzz suite's state machine checks of each answer: it agrees with the state it
leaves, a ListAgents page is exact, a refused Enqueue created nothing, a request id is
honoured."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from google.protobuf.message import Message

from cim_router._pb import router_pb2 as pb
from cim_router.service.convert import digest, page_token_in
from cim_router.service.metadata import REQUEST_HEADER
from cim_router.tenant.errors import InvalidArgument
from tests.service.fuzz_checks import (
    AGENT_REPLIES,
    ALREADY_EXISTS,
    GONE_ON_RETRY,
    INTERACTION_REPLIES,
    INVALID,
    LISTED_STATES,
    NOT_FOUND,
    OK,
    STREAMS,
    Snap,
    _bytes,
    _text,
    _without_history,
    steady_interaction,
)
from tests.service.fuzz_wire import takes_request_id
from tests.service.fuzz_world import (
    Recorded,
    Reply,
    World,
)
from tests.service.steady import steady

if TYPE_CHECKING:
    from tests.service.fuzz_machine import Step


class AnswerChecks:
    """Checks of the state machine's answers (mixed into `FuzzMachine`)."""

    world: World
    rids: list[Recorded]
    tokens: dict[str, str]
    main: str
    other: str

    def _check_not_created(self, step: Step, request: pb.EnqueueRequest) -> None:
        """A refused Enqueue created nothing under its id, in any tenant it may name."""
        iid = request.interaction_id
        if not iid or len(iid) > 128 or not iid.isprintable():
            return
        for tenant in [step.tenant] if step.tenant else [self.main, self.other]:
            if iid not in self.world.interactions.get(tenant, ()):
                got = self.world.read(
                    "GetInteraction", pb.GetInteractionRequest(interaction_id=iid), tenant
                )
                assert got is None, f"a refused Enqueue created {iid!r} in {tenant!r}"

    def _check_answer(
        self, step: Step, request: Any, reply: Reply, before: Snap, after: Snap, replayed: bool
    ) -> None:
        """An answer shows the state the call left; a replayed one (a retry of a call that
        was applied) shows what the call acted on as it is now."""
        method = step.method
        body = reply.body
        where = f"{method} {_text(request)}"
        if method in STREAMS:
            return
        assert body is not None, where
        if method in AGENT_REPLIES:
            agent = pb.Agent.FromString(body)
            assert _bytes(agent) == _bytes(after.agents[request.agent_id]), where
        elif method in INTERACTION_REPLIES:
            interaction = pb.Interaction.FromString(body)
            now = after.interactions[request.interaction_id]
            assert now is not None and _bytes(interaction) == _bytes(_without_history(now)), where
        elif method == "GetInteraction":
            now = after.interactions.get(request.interaction_id)
            assert now is not None, f"{where}: found, but no Enqueue created it"
            assert steady_interaction(pb.Interaction.FromString(body)) == now, where
        elif method == "Enqueue":
            answer = pb.EnqueueResponse.FromString(body)
            now = after.interactions[request.interaction_id]
            assert now is not None
            assert _bytes(answer.interaction) == _bytes(_without_history(now)), where
            original = step.retry_of or step.reuse_of
            if replayed and original is not None:
                first = pb.EnqueueResponse.FromString(original.reply or b"")
                assert answer.created == first.created, where
            else:
                existed = before.interactions.get(request.interaction_id) is not None
                assert answer.created == (not existed), where
                if existed:
                    assert before.same(after), where
        elif method == "Assign":
            assigned = pb.AssignResponse.FromString(body)
            if assigned.matched:
                now = after.interactions[assigned.interaction.id]
                assert now is not None
                assert _bytes(assigned.interaction) == _bytes(_without_history(now)), where
            if request.WhichOneof("target") == "agent_id" and assigned.matched:
                assert assigned.agent_id == request.agent_id, where
            if request.WhichOneof("target") == "agent_id" and assigned.matched and not replayed:
                assert assigned.interaction.state == pb.INTERACTION_STATE_ASSIGNED, where
                assert assigned.interaction.agent_id == request.agent_id, where
        elif method == "RemoveAgent" and not replayed:
            assert request.agent_id not in after.agents, where
        elif method == "ListAgents":
            page = pb.ListAgentsResponse.FromString(body)
            self._check_page(step.tenant or self.main, request, page, after)
        elif method == "Explain":
            assert pb.Explanation.FromString(body).interaction_id == request.interaction_id
        elif method == "ForgetCustomer":
            erased = pb.ForgetCustomerResponse.FromString(body)
            assert erased.customer_id == request.customer_id, where
            for iid in erased.interaction_ids:
                now = after.interactions.get(iid)
                assert now is None or (now.customer_id == "" and not now.context.fields), where
            for now in after.interactions.values():
                assert now is None or now.customer_id != request.customer_id, where
        elif method == "ListTenants":
            listed = {t.tenant_id for t in pb.ListTenantsResponse.FromString(body).tenants}
            assert self.world.tenants <= listed, where
        elif method == "ListAudit":
            trail = pb.ListAuditResponse.FromString(body)
            assert len(trail.entries) <= (request.page_size or 100), where
            times = [e.time.ToNanoseconds() for e in trail.entries]
            assert times == sorted(times, reverse=True), f"{where}: not newest first"
        elif method in ("UpsertQueue", "GetQueue"):
            found = pb.QueueStatus.FromString(body)
            wanted = request.queue.id if method == "UpsertQueue" else request.queue_id
            assert found.queue.id == wanted, where
            assert _bytes(after.queues[wanted]) == _bytes(found.queue), where
            assert found.waiting >= 0 and found.agents_available <= found.agents_staffed, where
        elif method == "ListQueues":
            statuses = pb.ListQueuesResponse.FromString(body).queues
            assert "default" in {st.queue.id for st in statuses}, where
            assert {st.queue.id: _bytes(st.queue) for st in statuses} == {
                k: _bytes(v) for k, v in after.queues.items()
            }, where
        elif method == "RemoveQueue" and not replayed:
            assert request.queue_id not in after.queues and request.queue_id != "default", where
        elif method == "GetCustomer":
            viewed = pb.Customer.FromString(body)
            assert viewed.customer_id == request.customer_id, where
            keys = [(i.enqueued_at.ToNanoseconds(), i.id) for i in viewed.interactions]
            assert keys == sorted(keys, reverse=True), f"{where}: not newest first"
            assert len(keys) <= (request.page_size or 100), where
            assert viewed.totals.contacts >= len(keys), where
            for shown in [*viewed.interactions, *viewed.open_interactions]:
                assert shown.customer_id == request.customer_id and not shown.history, where
                now = after.interactions.get(shown.id)
                assert now is not None and _bytes(shown) == _bytes(_without_history(now)), where
        elif method == "ListInteractions":
            open_page = pb.ListInteractionsResponse.FromString(body)
            assert len(open_page.interactions) <= (request.page_size or 100), where
            for listed_one in open_page.interactions:
                assert not listed_one.history, where
                assert listed_one.state in LISTED_STATES, where
                assert not request.queue_id or listed_one.queue_id == request.queue_id, where
                assert not request.state or listed_one.state == request.state, where
                assert not request.channel or listed_one.channel == request.channel, where
                wanted_customer = request.customer_id
                assert not wanted_customer or listed_one.customer_id == wanted_customer, where
        elif method == "GetStats":
            stats = pb.Stats.FromString(body)
            steady(stats)
            expected = pb.Stats()
            expected.CopyFrom(after.stats)
            if request.queue_id:  # that queue's rows of the whole answer, or zero rows
                assert {m.queue_id for m in stats.measures} <= {request.queue_id}, where
                wanted = [m for m in expected.measures if m.queue_id == request.queue_id]
                if wanted:
                    assert [_bytes(m) for m in stats.measures] == [_bytes(m) for m in wanted]
                else:
                    assert all(m.offered == m.waiting == 0 for m in stats.measures), where
                del stats.measures[:]
                del expected.measures[:]
            assert _bytes(stats) == _bytes(expected), where
        if replayed:
            return
        if method == "Accept":
            now = after.interactions[request.interaction_id]
            assert now is not None and now.state == pb.INTERACTION_STATE_ASSIGNED, where
            assert now.agent_id == request.agent_id, where
        elif method == "Cancel":
            now = after.interactions[request.interaction_id]
            assert now is not None and now.state == pb.INTERACTION_STATE_CANCELLED, where

    @staticmethod
    def _check_unknown_customer(request: pb.GetCustomerRequest, after: Snap) -> None:
        """NOT_FOUND only for a customer none of the tenant's interactions names."""
        named = [k for k, i in after.present().items() if i.customer_id == request.customer_id]
        assert not named, f"GetCustomer {request.customer_id!r}: NOT_FOUND, but {named} name it"

    def _check_page(
        self, tenant: str, request: Any, page: pb.ListAgentsResponse, snap: Snap
    ) -> None:
        """The page is the next agents in id order after the token, in the state asked."""
        try:
            after = page_token_in(request.page_token)
        except InvalidArgument:
            raise AssertionError(f"a bad page token was accepted: {request.page_token!r}") from None
        wanted = [
            a
            for agent_id, a in sorted(snap.agents.items())
            if agent_id > after and request.state in (0, a.state)
        ]
        size = request.page_size or 500
        assert [a.id for a in page.agents] == [a.id for a in wanted[:size]], _text(request)
        assert bool(page.next_page_token) == (len(wanted) > size), _text(request)
        if page.next_page_token:
            self.tokens[tenant] = page.next_page_token

    def _check_request_id(
        self, step: Step, decoded: Message | None, reply: Reply, changed: bool
    ) -> None:
        """A retry answers OK and changes nothing; another request under a used id is
        ALREADY_EXISTS; a fresh id is remembered for later steps."""
        code, where = reply.code, f"{step.method} -> {reply.code.name} {reply.details!r}"
        original = step.retry_of or step.reuse_of
        takes = decoded is not None and takes_request_id(step.method, decoded)
        if original is not None and takes and step.tenant == original.tenant:
            assert decoded is not None
            same = step.method == original.method and digest(decoded) == original.digest
            if original.code == OK and original.changed:
                if same:  # a retry
                    gone = step.method in GONE_ON_RETRY and code == NOT_FOUND
                    assert code == OK or gone, f"{where}: a retry of a call that was applied"
                    assert not changed, f"{where}: a retry applied the call again"
                else:
                    assert code in (ALREADY_EXISTS, INVALID), f"{where}: a reused request id"
                    if code == ALREADY_EXISTS:
                        assert reply.details.startswith(f"{REQUEST_HEADER}: "), where
            elif same and code == OK:  # the first try was refused, or a no-op: this counts
                original.code, original.changed, original.reply = code, changed, reply.body
                if changed:
                    self.world.recorded.append(original)
        fresh = step.retry_of is None and step.reuse_of is None
        if fresh and step.request_id and takes and step.tenant is not None:
            assert decoded is not None
            entry = Recorded(
                step.request_id,
                step.tenant,
                step.metadata,
                step.method,
                step.body,
                digest(decoded),
                code,
                changed and code == OK,
                reply.body,
                step.timeout,
            )
            self.rids.append(entry)
            if entry.changed:
                self.world.recorded.append(entry)
