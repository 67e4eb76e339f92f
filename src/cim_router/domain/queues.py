"""Queues: what a piece of work is and how it is handled, on top of the skills model.

A queue names its channels, default skills, priority, service-level target, size and
wait limits, hours of operation and overflow rules; an agent's routing profile says which
queues it serves, with a priority and a delay each. Skills and proficiency still pick the
agent among those.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from cim_router.domain.channel import Channel
from cim_router.domain.errors import ValidationError
from cim_router.domain.hours import Hours
from cim_router.domain.interaction import DEFAULT_QUEUE as DEFAULT_QUEUE  # re-exported
from cim_router.domain.interaction import SkillRequirement, check_requirements
from cim_router.domain.limits import MAX_DISPOSITION_LENGTH, MAX_PRIORITY, check_id, check_text

MAX_RULES = 16  # overflow rules per queue
MAX_PROFILE_QUEUES = 64  # queues in one agent's routing profile
# Queues of one tenant, "default" included: an agent with no profile serves every one of
# them, and the routing core keeps at most MAX_PROFILE_QUEUES gates per agent.
MAX_QUEUES = MAX_PROFILE_QUEUES
MAX_QUEUE_PRIORITY = 10  # a profile's priority for a queue: 10 first, 1 last
MAX_DELAY_SECONDS = 86_400.0


class When(enum.Enum):
    """What makes an overflow rule fire (its `threshold` in seconds or interactions)."""

    WAITED = "waited"  # waited longer than threshold seconds
    CLOSED = "closed"  # the queue is outside its hours
    SIZE = "size"  # more than threshold interactions wait in the queue
    NO_AGENTS = "no_agents"  # no logged-in agent could ever serve it
    EXPECTED_WAIT = "expected_wait"  # the estimated wait is above threshold seconds


class Then(enum.Enum):
    """What a rule that fires does."""

    MOVE = "move"  # to `queue`, keeping its place (by enqueue time) or at the back
    ADD_SKILLS = "add_skills"
    DROP_SKILLS = "drop_skills"
    RAISE_PRIORITY = "raise_priority"  # by `priority` points, at most 100
    END = "end"  # close it with `disposition`; the caller's system acts on the event


@dataclass(frozen=True)
class OverflowRule:
    name: str
    when: When
    then: Then
    threshold: float = 0.0
    queue: str = ""  # MOVE: the target
    keep_place: bool = True  # MOVE: keep the enqueue time (else go to the back)
    skills: tuple[SkillRequirement, ...] = ()  # ADD_SKILLS / DROP_SKILLS (names only)
    priority: int = 0  # RAISE_PRIORITY: points to add
    disposition: str = ""  # END


@dataclass(frozen=True)
class ServiceLevelTarget:
    """Answered within `seconds`, for at least `share` of the interactions."""

    seconds: float = 20.0
    share: float = 0.8


@dataclass(frozen=True)
class Queue:
    id: str
    display_name: str = ""
    channels: frozenset[Channel] = frozenset()  # empty: every channel
    required: tuple[SkillRequirement, ...] = ()
    preferred: tuple[SkillRequirement, ...] = ()
    priority: int = 0  # points added to the priority of the work in it
    service_level: ServiceLevelTarget = ServiceLevelTarget()
    max_size: int = 0  # waiting interactions at most; 0: no limit
    max_wait_seconds: float = 0.0  # 0: no limit
    hours: Hours = field(default_factory=Hours.always_open)
    overflow: tuple[OverflowRule, ...] = ()
    # Callbacks of its work: attempts at most and seconds between them (0: the policy's).
    callback_attempts: int = 0
    callback_retry_seconds: float = 0.0

    def accepts(self, channel: Channel) -> bool:
        return not self.channels or channel in self.channels


@dataclass(frozen=True)
class Membership:
    """One queue of an agent's routing profile."""

    priority: int = MAX_QUEUE_PRIORITY  # 10: served first when the agent frees up
    delay_seconds: float = 0.0  # the work must have waited this long for this agent


RoutingProfile = Mapping[str, Membership]  # queue id -> membership; empty: every queue


def check_queue(queue: Queue, field_: str = "queue") -> None:
    """Raise ValidationError naming the first bad field of one queue on its own."""
    check_id(f"{field_}.id", queue.id)
    check_text(f"{field_}.display_name", queue.display_name, 256)
    check_requirements(f"{field_}.required", queue.required)
    check_requirements(f"{field_}.preferred", queue.preferred)
    if not 0 <= queue.priority <= MAX_PRIORITY:
        raise ValidationError(f"{field_}.priority", f"must be 0..{MAX_PRIORITY}")
    sl = queue.service_level
    if not 0 < sl.seconds <= 30 * 86_400:
        raise ValidationError(f"{field_}.service_level.seconds", "must be > 0 (at most 30 days)")
    if not 0 < sl.share <= 1:
        raise ValidationError(f"{field_}.service_level.share", "must be in (0, 1]")
    if queue.max_size < 0:
        raise ValidationError(f"{field_}.max_size", "must be >= 0 (0: no limit)")
    if not 0 <= queue.max_wait_seconds <= 30 * 86_400:
        raise ValidationError(f"{field_}.max_wait_seconds", "must be 0 .. 30 days (0: no limit)")
    if not 0 <= queue.callback_attempts <= 20:
        raise ValidationError(f"{field_}.callback_attempts", "must be 0..20 (0: the policy's)")
    if not 0 <= queue.callback_retry_seconds <= 7 * 86_400:
        raise ValidationError(
            f"{field_}.callback_retry_seconds", "must be 0 .. 7 days (0: the policy's)"
        )
    if len(queue.overflow) > MAX_RULES:
        raise ValidationError(f"{field_}.overflow", f"at most {MAX_RULES} rules")
    for k, rule in enumerate(queue.overflow):
        _check_rule(rule, f"{field_}.overflow[{k}]")


def _check_rule(rule: OverflowRule, where: str) -> None:
    check_id(f"{where}.name", rule.name)
    if rule.when in (When.WAITED, When.SIZE, When.EXPECTED_WAIT) and not rule.threshold >= 0:
        raise ValidationError(f"{where}.threshold", "must be >= 0")
    if rule.then == Then.MOVE:
        check_id(f"{where}.queue", rule.queue)
    if rule.then in (Then.ADD_SKILLS, Then.DROP_SKILLS):
        if not rule.skills:
            raise ValidationError(f"{where}.skills", "must not be empty")
        check_requirements(f"{where}.skills", rule.skills)
    if rule.then == Then.RAISE_PRIORITY and not 0 < rule.priority <= MAX_PRIORITY:
        raise ValidationError(f"{where}.priority", f"must be 1..{MAX_PRIORITY}")
    if rule.then == Then.END:
        if not rule.disposition:
            raise ValidationError(f"{where}.disposition", "must not be empty")
        check_text(f"{where}.disposition", rule.disposition, MAX_DISPOSITION_LENGTH)


def check_queues(queues: Mapping[str, Queue], field_: str = "queues") -> None:
    """The rules of a tenant's queues together: every queue valid, every move naming a
    queue that exists, and no cycle of moves without a way out."""
    for queue_id, queue in queues.items():
        check_queue(queue, f"{field_}.{queue_id}")
    for queue_id, queue in queues.items():
        for k, rule in enumerate(queue.overflow):
            if rule.then == Then.MOVE and rule.queue not in queues:
                raise ValidationError(
                    f"{field_}.{queue_id}.overflow[{k}].queue", f"no queue {rule.queue!r}"
                )
    cycle = trapped_cycle(queues)
    if cycle:
        path = " -> ".join([*cycle, cycle[0]])
        raise ValidationError(
            f"{field_}.{cycle[0]}.overflow",
            f"moves go round {path} with no other way out (add an end or a move elsewhere)",
        )


def trapped_cycle(queues: Mapping[str, Queue]) -> list[str]:
    """A set of queues whose moves only lead into each other (a cycle no rule ends or
    leaves), as a path; [] if there is none."""
    moves = {
        q.id: sorted({r.queue for r in q.overflow if r.then == Then.MOVE}) for q in queues.values()
    }
    ends = {q.id for q in queues.values() if any(r.then == Then.END for r in q.overflow)}
    for component in _strongly_connected(moves):
        members = set(component)
        looping = len(component) > 1 or component[0] in moves.get(component[0], ())
        if not looping:
            continue
        leaves = any(t not in members for q in component for t in moves.get(q, ()))
        if not leaves and not (members & ends):
            return sorted(component)
    return []


def _strongly_connected(graph: Mapping[str, Iterable[str]]) -> list[list[str]]:
    """Tarjan's strongly connected components, iteratively."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []
    counter = 0
    for root in graph:
        if root in index:
            continue
        work = [(root, iter(graph.get(root, ())))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, edges = work[-1]
            advanced = False
            for nxt in edges:
                if nxt not in index:
                    index[nxt] = low[nxt] = counter
                    counter += 1
                    stack.append(nxt)
                    on_stack.add(nxt)
                    work.append((nxt, iter(graph.get(nxt, ()))))
                    advanced = True
                    break
                if nxt in on_stack:
                    low[node] = min(low[node], index[nxt])
            if advanced:
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                out.append(component)
    return out


def check_profile(profile: RoutingProfile, field_: str = "profile") -> None:
    if len(profile) > MAX_PROFILE_QUEUES:
        raise ValidationError(field_, f"at most {MAX_PROFILE_QUEUES} queues")
    for queue_id, m in profile.items():
        where = f"{field_}[{queue_id!r}]"
        check_id(where, queue_id)
        if not 1 <= m.priority <= MAX_QUEUE_PRIORITY:
            raise ValidationError(f"{where}.priority", f"must be 1..{MAX_QUEUE_PRIORITY}")
        if not 0 <= m.delay_seconds <= MAX_DELAY_SECONDS:
            raise ValidationError(f"{where}.delay_seconds", "must be 0 .. 86400")
