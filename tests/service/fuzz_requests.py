"""Well-formed requests for the fuzz suite, built from what exists (agents, interactions,
offers, page tokens), and the odd fields and bodies mixed in."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from google.protobuf.message import Message
from hypothesis import strategies as st

from cim_router._pb import router_pb2 as pb
from cim_router.service.convert import page_token_out
from tests.service.fuzz_checks import (
    AGENT_POOL,
    CHANNELS,
    CUSTOMERS,
    INTERACTION_POOL,
    OPEN,
    QUEUE_POOL,
    SETTABLE,
    SKILLS,
    SPARE_TENANTS,
    STREAMS,
    WAIT_SECONDS,
    WATCH_SECONDS,
    Snap,
)

if TYPE_CHECKING:
    from tests.service.fuzz_machine import FuzzMachine


# --- well-formed requests, built from what exists ----------------------------------------------

_SPANS = ("09:00-17:00", "00:00-24:00", "08:30-12:00", "17:00-09:00")

Build = tuple[str, Message]
Draw = Callable[..., Any]


def _requirements(draw: Draw, most: int = 2) -> list[pb.SkillRequirement]:
    skills = draw(st.lists(st.sampled_from(SKILLS), unique=True, max_size=most))
    return [pb.SkillRequirement(skill=s, min_level=draw(st.integers(0, 6))) for s in skills]


def _context(draw: Draw) -> dict[str, Any]:
    values = st.one_of(st.integers(-3, 3), st.text(max_size=4), st.booleans(), st.none())
    result: dict[str, Any] = draw(
        st.dictionaries(st.sampled_from(("a", "b", "order", "lang")), values, max_size=2)
    )
    return result


class Builder:
    """Requests that are right for the state a snapshot shows (mostly: some go to the wrong
    agent or an id that does not exist, as clients do)."""

    def __init__(self, draw: Draw, snap: Snap, machine: FuzzMachine, tenant: str) -> None:
        self.draw = draw
        self.snap = snap
        self.machine = machine
        self.tenant = tenant
        self.interactions = snap.present()

    def pick(self, items: list[str] | tuple[str, ...]) -> str:
        return sorted(items)[self.index(len(items))]

    def index(self, n: int) -> int:
        """A place among `n` things, drawn from a range that is the same whatever `n` is: a
        replay on a server whose clock has moved on may find more or fewer things, and a
        draw whose range followed them would make Hypothesis call the example flaky."""
        k: int = self.draw(st.integers(0, 2**20 - 1))
        return k % n

    def queues(self) -> tuple[str, ...]:
        """Mostly the queues that exist, now and then one that does not."""
        return (*sorted(self.snap.queues) * 4, *QUEUE_POOL)

    def agent_id(self) -> str:
        return self.pick(tuple(self.snap.agents) or AGENT_POOL)

    def interaction_id(self, *states: int) -> str | None:
        ids = [k for k, i in self.interactions.items() if not states or i.state in states]
        return self.pick(ids) if ids else None

    def build(self) -> tuple[Build, float]:
        """A request and its deadline."""
        found = self.interactions.values()
        states = {i.state for i in found}
        any_ = bool(found)
        offered = any(i.HasField("offer") for i in found)
        transferring = any(i.HasField("transfer") for i in found)
        assigned = pb.INTERACTION_STATE_ASSIGNED in states
        held = assigned or pb.INTERACTION_STATE_WRAP_UP in states
        open_ = bool(states & set(OPEN))
        options: list[tuple[int, bool, Callable[[], Build | None]]] = [
            (3, True, self.upsert_agent),
            (2, True, self.set_agent_state),
            (1, True, self.get_agent),
            (2, True, self.list_agents),
            (1, True, self.remove_agent),
            (4, True, self.enqueue),
            (2, True, self.assign_agent),
            (1, any_, self.assign_interaction),
            (12, offered, self.accept),
            (3, offered, self.reject),
            (6, held, self.complete),
            (3, any_, self.cancel),
            (10, assigned, self.transfer),
            (3, open_, self.escalate),
            (10, transferring, self.cancel_transfer),
            (1, True, self.get_interaction),
            (2, any_, self.update_context),
            (1, True, self.explain),
            (1, True, self.get_stats),
            (1, True, self.watch),
            (1, True, self.forget_customer),
            (2, True, self.create_tenant),
            (1, True, self.list_tenants),
            (1, True, self.delete_tenant),
            (1, True, self.list_audit),
            (2, True, self.upsert_queue),
            (2, True, self.get_queue),
            (1, True, self.list_queues),
            (2, True, self.remove_queue),
            (1, True, self.list_interactions),
            (2, any_, self.request_callback),
            (1, True, self.watch_events),
            (2, True, self.get_customer),
            (5, assigned, self.hold),
            (12, any(i.on_hold for i in found), self.resume),
            (8, pb.INTERACTION_STATE_COMPLETED in states, self.submit_feedback),
            (1, True, self.submit_feedback),
        ]
        weighted = [make for weight, ok, make in options if ok for _ in range(weight)]
        made = weighted[self.index(len(weighted))]()
        assert made is not None
        method, request = made
        timeout = 5.0
        if method in STREAMS:
            timeout = WATCH_SECONDS
        elif method == "Assign" and getattr(request, "wait", False):
            timeout = self.draw(st.sampled_from((WAIT_SECONDS,) * 5 + (0.0,)))
        return made, timeout

    # agents

    def upsert_agent(self) -> Build:
        draw = self.draw
        channels = draw(st.lists(st.sampled_from(CHANNELS), unique=True, max_size=2))
        return "UpsertAgent", pb.UpsertAgentRequest(
            agent_id=self.pick(AGENT_POOL + tuple(self.snap.agents)),
            display_name=draw(st.sampled_from(("", "Ann", "Bob"))),
            skills=draw(
                st.one_of(
                    st.fixed_dictionaries({s: st.integers(4, 10) for s in SKILLS}),
                    st.dictionaries(st.sampled_from(SKILLS), st.integers(1, 10), max_size=3),
                )
            ),
            tier=draw(st.integers(0, 5)),
            capacity=[
                pb.ChannelCount(channel=c, count=draw(st.sampled_from((0, 1, 2, 3, 3))))
                for c in channels
            ],
            state=draw(st.sampled_from((pb.AGENT_STATE_UNSPECIFIED, *SETTABLE, SETTABLE[1]))),
            routing_profile=self._profile(),
        )

    def _profile(self) -> list[pb.QueueMembership]:
        """Mostly none (every queue), so that most agents route as they always did."""
        draw = self.draw
        if draw(st.integers(0, 3)):
            return []
        return [
            pb.QueueMembership(
                queue_id=q,
                priority=draw(st.integers(0, 10)),
                delay_seconds=0.0,  # delays run on the real clock: their own tests
            )
            for q in draw(st.lists(st.sampled_from(self.queues()), unique=True, max_size=2))
        ]

    def set_agent_state(self) -> Build:
        return "SetAgentState", pb.SetAgentStateRequest(
            agent_id=self.agent_id(),
            state=self.draw(st.sampled_from(SETTABLE)),
            reason=self.draw(st.sampled_from(("", "lunch"))),
        )

    def get_agent(self) -> Build:
        return "GetAgent", pb.GetAgentRequest(agent_id=self.agent_id())

    def list_agents(self) -> Build:
        draw = self.draw
        tokens = ["", self.machine.tokens.get(self.tenant, "")]
        tokens += [page_token_out(a) for a in (*self.snap.agents, "a", "zz")]
        return "ListAgents", pb.ListAgentsRequest(
            state=draw(st.sampled_from((pb.AGENT_STATE_UNSPECIFIED, *SETTABLE))),
            page_size=draw(st.sampled_from((0, 1, 2, 3))),
            page_token=self.pick(tokens),
        )

    def remove_agent(self) -> Build:
        return "RemoveAgent", pb.RemoveAgentRequest(agent_id=self.agent_id())

    # interactions

    def enqueue(self) -> Build:
        draw = self.draw
        iid = self.pick(INTERACTION_POOL)
        earlier = self.machine.enqueued.get((self.tenant, iid))
        if earlier is not None and draw(st.booleans()):
            return "Enqueue", earlier  # the same request again: idempotent
        request = pb.EnqueueRequest(
            interaction_id=iid,
            customer_id=draw(st.sampled_from((*CUSTOMERS, ""))),
            channel=draw(st.sampled_from(CHANNELS)),
            required_skills=_requirements(draw),
            preferred_skills=_requirements(draw, 1),
            priority=draw(st.sampled_from((0, 5, 100))),
            customer_tier=draw(st.sampled_from(("", "standard", "gold", "vip"))),
            sla_seconds=draw(st.sampled_from((0.0, 30.0, 600.0))),
            preferred_agent_id=draw(st.sampled_from(("", *AGENT_POOL[:2]))),
            queue_id=draw(st.sampled_from(("", "", "", *self.queues()))),
            direction=draw(st.sampled_from((0, 0, 0, pb.DIRECTION_OUTBOUND))),
        )
        request.context.update(_context(draw))
        return "Enqueue", request

    def assign_agent(self) -> Build:
        wait = self.draw(st.sampled_from((False, False, False, True)))
        return "Assign", pb.AssignRequest(agent_id=self.agent_id(), wait=wait)

    def assign_interaction(self) -> Build | None:
        iid = self.interaction_id()
        if iid is None:
            return None
        wait = self.draw(st.sampled_from((False, False, False, True)))
        return "Assign", pb.AssignRequest(interaction_id=iid, wait=wait)

    def _offered(self) -> tuple[str, str] | None:
        ids = [k for k, i in self.interactions.items() if i.HasField("offer")]
        if not ids:
            return None
        iid = self.pick(ids)
        agent_id = self.interactions[iid].offer.agent_id
        if self.draw(st.integers(0, 9)) == 0:  # the wrong agent
            agent_id = self.agent_id()
        return iid, agent_id

    def accept(self) -> Build | None:
        found = self._offered()
        if found is None:
            return None
        return "Accept", pb.AcceptRequest(interaction_id=found[0], agent_id=found[1])

    def reject(self) -> Build | None:
        found = self._offered()
        if found is None:
            return None
        reason = self.draw(st.sampled_from(("", "busy")))
        return "Reject", pb.RejectRequest(interaction_id=found[0], agent_id=found[1], reason=reason)

    def complete(self) -> Build | None:
        iid = self.interaction_id(pb.INTERACTION_STATE_ASSIGNED, pb.INTERACTION_STATE_WRAP_UP)
        if iid is None:
            return None
        holder = self.interactions[iid].agent_id
        return "Complete", pb.CompleteRequest(
            interaction_id=iid,
            agent_id=self.draw(st.sampled_from((holder, holder, "", self.agent_id()))),
            disposition=self.draw(st.sampled_from(("", "resolved"))),
            csat=self.draw(st.integers(0, 5)),
        )

    def cancel(self) -> Build | None:
        iid = self.interaction_id()
        if iid is None:
            return None
        return "Cancel", pb.CancelRequest(interaction_id=iid, reason="gone")

    def transfer(self) -> Build | None:
        draw = self.draw
        iid = self.interaction_id(pb.INTERACTION_STATE_ASSIGNED)
        if iid is None:
            return None
        request = pb.TransferRequest(
            interaction_id=iid,
            mode=draw(st.sampled_from((pb.TRANSFER_MODE_WARM, pb.TRANSFER_MODE_COLD))),
            channel=draw(st.sampled_from((pb.CHANNEL_UNSPECIFIED,) * 3 + CHANNELS)),
            reason=draw(st.sampled_from(("", "billing question"))),
        )
        target = draw(st.sampled_from(("agent_id", "agent_id", "skills", "queue")))
        if target == "agent_id":
            request.agent_id = self.agent_id()
            request.ignore_skills = draw(st.booleans())
        elif target == "skills":
            request.skills.required_skills.extend(_requirements(draw) or _requirements(draw, 1))
            if not request.skills.required_skills:
                request.skills.required_skills.add(skill="billing")
        else:
            request.queue.SetInParent()
            request.queue.queue_id = draw(st.sampled_from(("", "", *QUEUE_POOL)))
            request.queue.to_back = draw(st.booleans())
        return "Transfer", request

    def escalate(self) -> Build | None:
        iid = self.interaction_id(*OPEN)
        if iid is None:
            return None
        return "Escalate", pb.EscalateRequest(interaction_id=iid, reason="angry")

    def cancel_transfer(self) -> Build | None:
        ids = [k for k, i in self.interactions.items() if i.HasField("transfer")]
        if not ids:
            return None
        iid = self.pick(ids)
        holder = self.interactions[iid].agent_id
        agent_id = self.draw(st.sampled_from((holder, "", self.agent_id())))
        return "CancelTransfer", pb.CancelTransferRequest(interaction_id=iid, agent_id=agent_id)

    def request_callback(self) -> Build | None:
        iid = self.interaction_id()
        if iid is None:
            return None
        draw = self.draw
        return "RequestCallback", pb.RequestCallbackRequest(
            interaction_id=iid,
            address=draw(st.sampled_from(("+33123456789", "sip:c@example.net"))),
            max_attempts=draw(st.sampled_from((0, 1, 3))),
            # Long delays only: a retry on the real clock would make replays differ.
            retry_seconds=draw(st.sampled_from((0.0, 3600.0, 86400.0))),
        )

    def get_interaction(self) -> Build:
        iid = self.interaction_id() or self.pick(INTERACTION_POOL)
        return "GetInteraction", pb.GetInteractionRequest(interaction_id=iid)

    def update_context(self) -> Build | None:
        iid = self.interaction_id()
        if iid is None:
            return None
        keys = sorted(self.interactions[iid].context.fields)
        request = pb.UpdateContextRequest(
            interaction_id=iid,
            remove_keys=self.draw(st.lists(st.sampled_from(keys), max_size=2)) if keys else [],
        )
        request.context.update(_context(self.draw))
        return "UpdateContext", request

    def explain(self) -> Build:
        iid = self.interaction_id() or self.pick(INTERACTION_POOL)
        return "Explain", pb.ExplainRequest(interaction_id=iid)

    def get_stats(self) -> Build:
        return "GetStats", pb.GetStatsRequest()

    def forget_customer(self) -> Build:
        customer = self.pick((*CUSTOMERS, "cust-never"))
        return "ForgetCustomer", pb.ForgetCustomerRequest(customer_id=customer)

    def watch(self) -> Build:
        agents = self.draw(st.lists(st.sampled_from(AGENT_POOL), unique=True, max_size=2))
        return "WatchAssignments", pb.WatchAssignmentsRequest(agent_ids=agents)

    # administration

    def create_tenant(self) -> Build:
        return "CreateTenant", pb.CreateTenantRequest(tenant_id=self.pick(SPARE_TENANTS))

    def list_tenants(self) -> Build:
        return "ListTenants", pb.ListTenantsRequest()

    def delete_tenant(self) -> Build:
        return "DeleteTenant", pb.DeleteTenantRequest(tenant_id=self.pick(SPARE_TENANTS))

    # queues

    def upsert_queue(self) -> Build:
        draw = self.draw
        queue_id = self.pick(QUEUE_POOL[:3])
        queue = pb.Queue(
            id=queue_id,
            display_name=draw(st.sampled_from(("", "Billing"))),
            channels=draw(st.lists(st.sampled_from(CHANNELS), unique=True, max_size=2)),
            required_skills=_requirements(draw, 1),
            preferred_skills=_requirements(draw, 1),
            priority=draw(st.sampled_from((0, 5, 100))),
            max_size=draw(st.sampled_from((0, 0, 1, 3))),
        )
        if draw(st.integers(0, 2)) == 0:
            zones = ("Europe/Paris", "UTC", "America/New_York", "Mars/Base")
            queue.hours.time_zone = draw(st.sampled_from(zones))
            queue.hours.weekly.add(day="mon", intervals=[draw(st.sampled_from(_SPANS))])
            queue.hours.exceptions.add(date="2026-12-25")
        if draw(st.integers(0, 2)) == 0:
            target = self.pick(self.queues())
            queue.overflow.add(
                name="spill",
                when=pb.OVERFLOW_CONDITION_WAITED,
                threshold=60.0,
                then=pb.OVERFLOW_ACTION_MOVE,
                queue_id=target,
            )
        return "UpsertQueue", pb.UpsertQueueRequest(queue=queue)

    def get_queue(self) -> Build:
        return "GetQueue", pb.GetQueueRequest(queue_id=self.pick(("default", *self.queues())))

    def list_queues(self) -> Build:
        return "ListQueues", pb.ListQueuesRequest()

    def remove_queue(self) -> Build:
        held = {i.queue_id for i in self.interactions.values() if i.state in OPEN}
        targets = {r.queue_id for q in self.snap.queues.values() for r in q.overflow}
        removable = sorted(set(self.snap.queues) - {"default"} - held - targets)
        if removable and self.draw(st.integers(0, 3)):
            return "RemoveQueue", pb.RemoveQueueRequest(queue_id=self.pick(removable))
        return "RemoveQueue", pb.RemoveQueueRequest(queue_id=self.pick(QUEUE_POOL))

    def list_interactions(self) -> Build:
        draw = self.draw
        return "ListInteractions", pb.ListInteractionsRequest(
            queue_id=draw(st.sampled_from(("", "", *QUEUE_POOL))),
            state=draw(st.sampled_from((0, 0, *OPEN))),
            channel=draw(st.sampled_from((pb.CHANNEL_UNSPECIFIED,) * 3 + CHANNELS)),
            customer_id=draw(st.sampled_from(("", "", *CUSTOMERS))),
            page_size=draw(st.sampled_from((0, 1, 2, 1000))),
            page_token=draw(st.sampled_from(("", page_token_out("1"), page_token_out("x")))),
        )

    def watch_events(self) -> Build:
        draw = self.draw
        types = draw(st.lists(st.sampled_from((1, 3, 4, 16, 17)), unique=True, max_size=2))
        start = draw(st.sampled_from(("now", "start", "after", "old")))
        return "WatchEvents", pb.WatchEventsRequest(
            types=types,
            from_start=start == "start",
            after_id={"after": "99999999999999-0", "old": "1-0"}.get(start, ""),
        )

    def get_customer(self) -> Build:
        draw = self.draw
        known = sorted({i.customer_id for i in self.interactions.values() if i.customer_id})
        return "GetCustomer", pb.GetCustomerRequest(
            customer_id=self.pick((*known * 4, *CUSTOMERS, "cust-never")),
            page_size=draw(st.sampled_from((0, 1, 2, 1000))),
        )

    def _holder(self, iid: str) -> str:
        holder = self.interactions[iid].agent_id
        return str(self.draw(st.sampled_from((holder, holder, "", self.agent_id()))))

    def hold(self) -> Build | None:
        iid = self.interaction_id(pb.INTERACTION_STATE_ASSIGNED)
        if iid is None:
            return None
        reason = self.draw(st.sampled_from(("", "checking")))
        return "Hold", pb.HoldRequest(interaction_id=iid, agent_id=self._holder(iid), reason=reason)

    def resume(self) -> Build | None:
        held = [k for k, i in self.interactions.items() if i.on_hold]
        iid = self.pick(held) if held else self.interaction_id()
        if iid is None:
            return None
        return "Resume", pb.ResumeRequest(interaction_id=iid, agent_id=self._holder(iid))

    def submit_feedback(self) -> Build:
        done = self.interaction_id(pb.INTERACTION_STATE_COMPLETED)
        iid = done if done is not None else self.pick(INTERACTION_POOL)
        return "SubmitFeedback", pb.SubmitFeedbackRequest(
            interaction_id=iid,
            csat=self.draw(st.integers(0, 5)),
            comment=self.draw(st.sampled_from(("", "quick and kind"))),
            fields=self.draw(st.sampled_from(({}, {"nps": "9"}))),
        )

    def list_audit(self) -> Build:
        size = self.draw(st.sampled_from((0, 1, 2, 1000)))
        return "ListAudit", pb.ListAuditRequest(page_size=size)
