"""The fuzz suite's state machine: each step one request of some kind, every check after it."""

from __future__ import annotations

import functools
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from google.protobuf.descriptor import FieldDescriptor
from hypothesis import note
from hypothesis import strategies as st
from hypothesis.errors import FlakyStrategyDefinition
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    rule,
)

from cim_router._pb import router_pb2 as pb
from cim_router.service.convert import digest
from cim_router.service.metadata import REQUEST_HEADER, TENANT_HEADER
from tests.service.conftest import wait_for
from tests.service.fuzz_answers import AnswerChecks
from tests.service.fuzz_checks import (
    AGENT_POOL,
    ALLOWED,
    CHANNELS,
    CREATORS,
    DEADLINE,
    INTERACTION_POOL,
    INVALID,
    NOT_FOUND,
    OK,
    READS,
    SKILLS,
    STREAMS,
    UNPRINTABLE,
    WAIT_SECONDS,
    WATCH_SECONDS,
    Metadata,
    Snap,
    _text,
    check_names_a_field,
)
from tests.service.fuzz_requests import Builder
from tests.service.fuzz_restarts import restart_with_offers_in_flight
from tests.service.fuzz_wire import decode, set_field, takes_request_id
from tests.service.fuzz_world import (
    SESSION_FIELDS,
    Recorded,
    Watch,
    World,
)
from tests.service.test_bad_input import (
    METHODS,
    field_values,
    messages,
    wire,
)
from tests.service.test_bad_input import _make as make_message

# --- the state machine ---------------------------------------------------------------------


@dataclass
class Step:
    """One request as sent, and what the server was expected to do with it."""

    method: str
    body: bytes
    metadata: Metadata
    timeout: float | None
    tenant: str | None  # the tenant the call addresses; None when its header is refused
    request_id: str | None = None
    bad_request_id: bool = False
    retry_of: Recorded | None = None  # a retry of this call (same id, same request)
    reuse_of: Recorded | None = None  # the id of this call, with another request
    session: bool = False  # sent as the one call of a Session stream


F = TypeVar("F", bound=Callable[..., Any])


def first_failure(method: F) -> F:
    """Keep the first failure of the run with the steps that led to it: a replay on a server
    that has moved on may fail otherwise, or not at all."""

    @functools.wraps(method)
    def wrapper(self: FuzzMachine, *args: Any, **kwargs: Any) -> Any:
        try:
            return method(self, *args, **kwargs)
        except FlakyStrategyDefinition:  # the generator's, not the server's (see _fuzz)
            raise
        except Exception as exc:  # not hypothesis's own StopTest, a BaseException
            self.failed = True
            if self.world.first_failure is None:
                steps = "\n".join(self.transcript)
                self.world.first_failure = (
                    f"example {self.world.examples}, tenant {self.main!r}:\n{steps}\n"
                    + "".join(traceback.format_exception(exc))
                )
            raise

    return wrapper  # type: ignore[return-value]


class FuzzMachine(AnswerChecks, RuleBasedStateMachine):
    def __init__(self, world: World) -> None:
        super().__init__()
        self.world = world
        self.cache: dict[str, Snap] = {}
        self.rids: list[Recorded] = []
        self.tokens: dict[str, str] = {}  # per tenant: the last next_page_token seen
        self.enqueued: dict[tuple[str, str], pb.EnqueueRequest] = {}
        self.watch: Watch | None = None
        self.count = 0
        self.transcript: list[str] = []
        self.failed = False
        self.main = self.other = ""
        self.may_restart = False

    def say(self, text: str) -> None:
        """Note a step, for the report of a failing example."""
        note(text)
        self.transcript.append(text)

    # set-up and tear-down

    @initialize(data=st.data())
    @first_failure
    def seed_tenants(self, data: st.DataObject) -> None:
        world = self.world
        world.examples += 1
        base = f"fz{world.run_id}-{world.examples}"
        odd = data.draw(st.sampled_from(("", "", ":x", "{y}", " s", "%41", "/")), label="odd")
        self.main, self.other = base + odd, base + "-b"
        for tenant in (self.main, self.other):
            world.interactions.setdefault(tenant, set())
        if data.draw(st.booleans(), label="watch"):
            self.watch = Watch(world, self.main)
        # Drawn, not counted: an example draws the same whatever ran before it.
        every = world.restart_every
        self.may_restart = data.draw(st.integers(1, every), label="may restart") == 1
        agents = data.draw(st.lists(st.sampled_from(AGENT_POOL), unique=True, max_size=4))
        agents = agents or ["a1"]
        for agent_id in agents:
            skills = {s: data.draw(st.integers(3, 10)) for s in SKILLS}
            request = pb.UpsertAgentRequest(
                agent_id=agent_id, skills=skills, state=pb.AGENT_STATE_AVAILABLE
            )
            world.write("UpsertAgent", request, self.main)
            # At once: hypothesis may cut the seeding short (out of data) before its end.
            world.tenants.add(self.main)
        ids = data.draw(
            st.lists(st.sampled_from(INTERACTION_POOL), unique=True, min_size=1, max_size=3)
        )
        for iid in ids:
            skill = data.draw(st.sampled_from(SKILLS))
            enqueue = pb.EnqueueRequest(
                interaction_id=iid,
                channel=data.draw(st.sampled_from(CHANNELS)),
                required_skills=[pb.SkillRequirement(skill=skill, min_level=3)],
            )
            world.write("Enqueue", enqueue, self.main)
            world.interactions[self.main].add(iid)
            self.enqueued[(self.main, iid)] = enqueue
        if agents or ids:
            world.tenants.add(self.main)
        if data.draw(st.booleans(), label="accept the offers"):
            for iid, i in world.snapshot(self.main).present().items():
                if i.HasField("offer"):
                    accept = pb.AcceptRequest(interaction_id=iid, agent_id=i.offer.agent_id)
                    world.write("Accept", accept, self.main)
        assert world.stored_tenants() == world.tenants

    @first_failure
    def teardown(self) -> None:
        world = self.world
        if self.failed and self.watch is not None:
            self.watch.close()
        if self.failed:
            return
        if self.watch is not None:
            self.watch.check_and_close(world.snapshot(self.main))
        wait_for(lambda: self.world.live_tenants() == self.world.tenants, 5, "tenants in memory")

    def restart(self) -> None:
        """Restart the server with whatever is in flight, and go on."""
        world = self.world
        self.say("(the server restarts)")
        watching = self.watch is not None
        if self.watch is not None:
            self.watch.check_and_close(world.snapshot(self.main))
            self.watch = None
        touched, world.touched = world.touched, set()
        restart_with_offers_in_flight(world, touched)
        self.cache.clear()
        if watching:
            self.watch = Watch(world, self.main, world.snapshot(self.main).stats.offered)

    @invariant()
    @first_failure
    def serving(self) -> None:
        assert self.world.serving(), "the server is not SERVING"
        logged, self.world.errors.records = self.world.errors.records, []
        assert not logged, "the server logged errors:\n" + "\n".join(logged)

    # steps

    @rule(data=st.data())
    @first_failure
    def step(self, data: st.DataObject) -> None:
        kind = data.draw(
            st.sampled_from(
                ("valid",) * 20 + ("twisted",) * 4 + ("random",) * 6 + ("retry",) * 2 + ("restart",)
            ),
            label="kind",
        )
        if kind == "restart" and self.may_restart:
            self.restart()
            return
        if kind == "retry" and self.rids:
            entry = data.draw(st.sampled_from(self.rids), label="retry of")
            step = Step(
                entry.method,
                entry.body,
                entry.metadata,
                entry.timeout,
                entry.tenant,
                entry.request_id,
                retry_of=entry,
            )
        else:
            step = self._new_step(data, "valid" if kind in ("retry", "restart") else kind)
        self._run(step)

    def _tenant_header(self, data: st.DataObject) -> tuple[Metadata, str | None]:
        how = data.draw(
            st.sampled_from(
                ("main",) * 24
                + ("other",) * 3
                + ("missing", "new", "twice", "two", "empty", "long", "unprintable")
            ),
            label="tenant header",
        )
        main, other = (TENANT_HEADER, self.main), (TENANT_HEADER, self.other)
        if how == "main":
            return (main,), self.main
        if how == "other":
            return (other,), self.other
        if how == "missing":
            return (), "default"
        if how == "new":
            self.count += 1
            name = f"{self.main}-new{self.count}"
            if data.draw(st.booleans(), label="longest"):
                name = (name + "-" * 128)[:128]
            self.world.interactions.setdefault(name, set())
            return ((TENANT_HEADER, name),), name
        if how == "twice":
            return (main, main), None
        if how == "two":  # an existing tenant and another, maybe new
            second = data.draw(st.sampled_from((self.other, f"{self.main}-new0")), label="and")
            return (main, (TENANT_HEADER, second)), None
        if how == "unprintable":
            return ((TENANT_HEADER, data.draw(st.sampled_from(UNPRINTABLE), label="bytes")),), None
        return ((TENANT_HEADER, "" if how == "empty" else "t" * 129),), None

    def _new_step(self, data: st.DataObject, kind: str) -> Step:
        metadata, tenant = self._tenant_header(data)
        # Built from the state of a tenant of this example only, so that an example draws
        # the same whatever earlier ones did to "default".
        shown = self.main if tenant in (None, "default") else tenant
        snap = self._before(shown)
        timeout: float | None = 5.0
        if kind == "random":
            # Session's calls are the others, sent over it (below).
            unary = sorted(m for m in METHODS if m != "Session")
            method = data.draw(st.sampled_from(unary), label="method")
            kwargs = data.draw(messages(METHODS[method].input_type), label="fields")
            request = make_message(METHODS[method].input_type, kwargs)
            if method in STREAMS:
                timeout = WATCH_SECONDS
            elif method == "Assign":
                timeout = WAIT_SECONDS
        else:
            builder = Builder(data.draw, snap, self, shown)
            (method, request), timeout = builder.build()
            fields: list[FieldDescriptor] = list(METHODS[method].input_type.fields)
            if kind == "twisted" and fields:
                chosen = data.draw(st.sampled_from(fields), label="twisted field")
                set_field(request, chosen, data.draw(field_values(chosen), label="value"))
        body = data.draw(wire(request, intact=3 if kind == "random" else 20), label="body")
        if timeout == 0.0:
            timeout = None  # a waiting Assign without a deadline: refused at once
        step = Step(method, body, metadata, timeout, tenant)
        self._request_id(data, step)
        # One in five of the calls a Session makes goes over one, its request id (a good
        # one: the envelope has room for one string) in the envelope.
        sendable = not step.bad_request_id and all(isinstance(v, str) for _, v in metadata)
        if method in SESSION_FIELDS and sendable:
            step.session = data.draw(st.sampled_from((False,) * 4 + (True,)), label="session")
        return step

    def _request_id(self, data: st.DataObject, step: Step) -> None:
        how = data.draw(
            st.sampled_from(("none",) * 10 + ("fresh",) * 5 + ("reuse",) * 2 + ("twice", "bad")),
            label="request id",
        )
        if how == "none":
            return
        if how == "reuse" and self.rids:
            entry = data.draw(st.sampled_from(self.rids), label="reuse of")
            step.request_id, step.reuse_of = entry.request_id, entry
            step.metadata += ((REQUEST_HEADER, entry.request_id),)
            return
        self.count += 1
        fresh = f"rq-{self.world.run_id}-{self.world.examples}-{self.count}"
        if how == "twice":
            step.metadata += ((REQUEST_HEADER, fresh), (REQUEST_HEADER, fresh))
            step.bad_request_id = True
        elif how == "bad":
            bads: tuple[str | bytes, ...] = ("", "r" * 129, *UNPRINTABLE)
            bad = data.draw(st.sampled_from(bads), label="bad id")
            step.metadata += ((REQUEST_HEADER, bad),)
            step.bad_request_id = True
        else:
            step.request_id = fresh
            step.metadata += ((REQUEST_HEADER, fresh),)

    def _before(self, tenant: str) -> Snap:
        if tenant not in self.cache:
            self.cache[tenant] = self.world.snapshot(tenant)
        return self.cache[tenant]

    def _run(self, step: Step) -> None:
        world = self.world
        method = step.method
        watched = [step.tenant] if step.tenant else [self.main, self.other]
        before = {t: self._before(t) for t in watched}
        decoded = decode(method, step.body)
        self.say(
            f"{method}{' over a Session' if step.session else ''} {step.metadata!r} "
            f"timeout={step.timeout} "
            f"{_text(decoded) if decoded is not None else step.body!r}"[:600]
        )
        world.fuzzed += 1
        timeout = step.timeout
        if method in STREAMS and (step.tenant is None or decoded is None):
            timeout = 5.0  # refused at once; a stream left open would end by its deadline
        reply = world.call(method, step.body, step.metadata, timeout, step.session)
        code = reply.code
        world.codes[(method, code.name)] += 1
        if step.session:
            world.codes[("Session", code.name)] += 1
        self.say(f"-> {code.name} {reply.details!r}"[:600])
        where = f"{method} -> {code.name} {reply.details!r}"

        # The status: a client's mistake is never INTERNAL or UNKNOWN.
        waits = method in STREAMS or (
            method == "Assign" and decoded is not None and getattr(decoded, "wait", False)
        )
        assert code in ALLOWED or (code == DEADLINE and waits), where
        descriptor = METHODS["Session" if step.session else method].input_type
        # On a Session: the envelope holding the bytes does not decode; the stream's tenant
        # header is checked first, at its start.
        if decoded is None and not (step.session and step.tenant is None):
            assert code == INVALID, where
            assert reply.details == f"request: cannot be decoded as {descriptor.full_name}", where
        elif code == INVALID and decoded is not None:
            check_names_a_field(METHODS[method], decoded, reply.details)
        if step.tenant is None or (step.bad_request_id and takes_request_id(method, decoded)):
            assert code == INVALID, f"{where}: the metadata is refused"
        if step.timeout is None and getattr(decoded, "wait", False):
            assert code == INVALID, f"{where}: a wait with no deadline"
            fields: tuple[str, ...] = ("wait:", "target:", "agent_id:", "interaction_id:")
            # The tenant header is read first, with the caller, before the request's fields.
            fields += ("x-cim-tenant:",) if step.tenant is None else ()
            assert reply.details.startswith(fields), where

        # Tenants: only a write that succeeded creates one; reads and refusals none.
        if code == OK and method in CREATORS and step.tenant is not None:
            world.tenants.add(step.tenant)
        world.touched.update(watched)
        assert world.stored_tenants() == world.tenants, f"{where}: the tenant set changed"
        if code == OK and method == "Enqueue" and step.tenant is not None:
            assert isinstance(decoded, pb.EnqueueRequest)
            world.interactions.setdefault(step.tenant, set()).add(decoded.interaction_id)
            self.enqueued.setdefault((step.tenant, decoded.interaction_id), decoded)

        # What it did to the tenant(s) it names.
        after = {t: world.snapshot(t) for t in watched}
        changed = any(not before[t].same(after[t]) for t in watched)
        applied = code == OK and method not in READS and method not in STREAMS
        unknown = code == DEADLINE and method == "Assign"  # it may have been applied
        if not applied and not unknown:
            for t in watched:
                assert before[t].same(after[t]), (
                    f"{where}: changed {t!r}:\n{before[t].diff(after[t])}"
                )
        if code != OK and method == "Enqueue" and isinstance(decoded, pb.EnqueueRequest):
            self._check_not_created(step, decoded)
        original = step.retry_of or step.reuse_of
        replayed = (
            original is not None
            and decoded is not None
            and original.code == OK
            and original.changed
            and (step.tenant, step.method) == (original.tenant, original.method)
            and digest(decoded) == original.digest
        )
        if code == OK and decoded is not None and step.tenant is not None:
            now = after[step.tenant]
            self._check_answer(step, decoded, reply, before[step.tenant], now, replayed)
        if code == NOT_FOUND and isinstance(decoded, pb.GetCustomerRequest) and step.tenant:
            self._check_unknown_customer(decoded, after[step.tenant])
        self._check_request_id(step, decoded, reply, changed)
        self.cache.update(after)
