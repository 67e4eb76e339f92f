"""The routing policy: a TOML file, validated at start, every error naming its key."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from cim_router.domain.automation import AutomationRule
from cim_router.domain.automation_tables import rules_from_list
from cim_router.domain.channel import Channel
from cim_router.domain.errors import ValidationError
from cim_router.domain.limits import MAX_CONTEXT_KEY_LENGTH, MAX_TIER, MIN_TIER
from cim_router.domain.queue_tables import queue_from_mapping
from cim_router.domain.queues import DEFAULT_QUEUE, MAX_QUEUES, Queue, check_queues
from cim_router.domain.toml_reader import TableReader, boolean, choice, integer, load_toml, number

MAX_SENSITIVE_KEYS = 256
MAX_POLICY_SECONDS = 366 * 24 * 3600.0  # a year: the bound of hold and feedback windows


class PolicyError(ValueError):
    """A policy that cannot be used; the message names the key and the reason."""

    def __init__(self, key: str, reason: str, source: str = "policy") -> None:
        super().__init__(f"{source}: {key}: {reason}")
        self.key = key
        self.reason = reason


@dataclass(frozen=True)
class Weights:
    """Weights of the score terms; each term lies in [0, 1]."""

    skill: float = 1.0
    preferred_skill: float = 0.5
    tier: float = 0.5
    idle: float = 0.5
    handle_time: float = 0.25
    sticky: float = 1.0
    urgency: float = 1.0  # joint matching: how much the interaction's urgency counts
    # Keeps versatile agents for work only they can do: 1 for an agent with no skill beyond
    # the interaction's, less the more its other skills are in demand (docs/routing.md).
    scarcity: float = 1.0


@dataclass(frozen=True)
class RelaxationStep:
    """After `after_seconds` waiting, minimum levels drop by `level_drop` (never below 1)."""

    after_seconds: float
    level_drop: int = 0
    drop_preferred: bool = False


@dataclass(frozen=True)
class CustomerTier:
    bonus: float = 0.0  # urgency points
    target_agent_tier: int = 1


def _per_channel(values: Mapping[str, float]) -> dict[Channel, float]:
    return {Channel.parse(k): float(v) for k, v in values.items()}


@dataclass(frozen=True)
class Policy:
    """Every tunable of routing; the defaults suit a mixed voice and digital centre."""

    matching: str = "greedy"
    joint_batch_limit: int = 1000
    offer_timeout_seconds: float = 15.0
    max_missed_offers: int = 2
    # How long an agent who rejected or missed an offer (or transferred the interaction
    # away) is kept from being offered that interaction again. Once every eligible agent
    # is excluded, the interaction waits for the first exclusion to lapse.
    exclusion_seconds: float = 120.0
    sticky_agent_seconds: float = 7 * 24 * 3600.0
    exclusive_channels: frozenset[Channel] = frozenset({Channel.VOICE, Channel.VIDEO})
    weights: Weights = Weights()
    idle_cap_seconds: float = 600.0
    handle_time_reference_seconds: float = 300.0
    handle_time_alpha: float = 0.2
    aging_rate: float = 10.0
    aging_cap: float = 5.0
    # Scarcity: demand for a skill is its waiting work plus its arrivals over this horizon.
    scarcity_horizon_seconds: float = 300.0
    # A queue behind its service-level target (over this horizon) has its work's urgency
    # raised by up to `service_level_weight` points: a freed agent favours it.
    service_level_weight: float = 5.0
    service_level_horizon_seconds: float = 1800.0
    # The wait bound: from `wait_bound_seconds - wait_bound_lead_seconds` of waiting on, an
    # interaction outranks any priority (0: no bound on that channel).
    wait_bound_seconds: Mapping[Channel, float] = field(
        default_factory=lambda: _per_channel(
            {"voice": 600, "video": 600, "chat": 1800, "sms": 7200, "social": 14400}
            | {"email": 172800}
        )
    )
    wait_bound_lead_seconds: float = 30.0
    # A freed agent takes work still within its service-level target before work of the
    # same priority already past it (which the wait bound still serves in time).
    on_time_first: bool = False
    relaxation: tuple[RelaxationStep, ...] = (
        RelaxationStep(30.0, 1),
        RelaxationStep(90.0, 2, drop_preferred=True),
    )
    escalation_min_tier: tuple[int, ...] = (1, 3, 5)
    escalation_bonus: float = 15.0
    customer_tiers: Mapping[str, CustomerTier] = field(
        default_factory=lambda: {
            "standard": CustomerTier(0.0, 1),
            "gold": CustomerTier(10.0, 2),
            "vip": CustomerTier(20.0, 3),
        }
    )
    sla_seconds: Mapping[Channel, float] = field(
        default_factory=lambda: _per_channel(
            {"voice": 20, "video": 20, "chat": 60, "sms": 300, "social": 600, "email": 3600}
        )
    )
    wrap_up_seconds: Mapping[Channel, float] = field(
        default_factory=lambda: _per_channel(
            {"voice": 30, "video": 30, "chat": 5, "sms": 5, "social": 5, "email": 10}
        )
    )
    handle_time_seconds: Mapping[Channel, float] = field(
        default_factory=lambda: _per_channel(
            {"voice": 300, "video": 420, "chat": 600, "sms": 900, "social": 900, "email": 1200}
        )
    )
    # Top-level context keys whose values only the agent handling the interaction (and the
    # router and admin roles) reads; every other reader sees "***" (docs/security.md).
    sensitive_context_keys: frozenset[str] = frozenset()
    # Measures (docs/measures.md): a customer who leaves within `short_abandon_seconds`
    # is a short abandon, outside service level and abandonment rate; a contact is resolved
    # first time when the same customer does not come back within `fcr_window_days`;
    # "today" runs from midnight in `time_zone` (an IANA name).
    short_abandon_seconds: float = 5.0
    fcr_window_days: int = 7
    time_zone: str = "UTC"
    # Holds: one lasting longer than `hold_limit_seconds` raises HOLD_LIMIT_EXCEEDED, once
    # (0: no limit). Feedback: SubmitFeedback is taken until `feedback_window_seconds`
    # after the interaction's completion.
    hold_limit_seconds: float = 0.0
    feedback_window_seconds: float = 7 * 24 * 3600.0
    # Queues declared in the file (`[queues.ID]`): each tenant gets them at its start unless
    # it already stores a queue of that id (the stored one wins).
    queues: Mapping[str, Queue] = field(default_factory=dict)
    # Automation rules (`[[rules]]`, domain/automation.py), in order.
    rules: tuple[AutomationRule, ...] = ()
    # Callbacks (`[callbacks]`): attempts at most and the delay between them, unless the
    # queue or the request says otherwise; the dispositions that make an attempt failed.
    callback_attempts: int = 3
    callback_retry_seconds: float = 300.0
    callback_retry_dispositions: frozenset[str] = frozenset({"no_answer", "busy", "voicemail"})

    def min_tier_for(self, escalation_level: int) -> int:
        """The lowest agent tier allowed to take an interaction at this escalation level."""
        steps = self.escalation_min_tier
        return steps[min(escalation_level, len(steps) - 1)]

    def customer_tier(self, name: str) -> CustomerTier:
        return (
            self.customer_tiers.get(name) or self.customer_tiers.get("standard") or (CustomerTier())
        )


# --- loading -------------------------------------------------------------------------------


def _channel_set(v: Any) -> frozenset[Channel]:
    if not isinstance(v, list):
        raise TypeError("must be a list of channel names")
    return frozenset(Channel.parse(x) for x in v)


def _key_list(v: Any) -> frozenset[str]:
    if not isinstance(v, list):
        raise TypeError("must be a list of context keys")
    if len(v) > MAX_SENSITIVE_KEYS:
        raise ValueError(f"at most {MAX_SENSITIVE_KEYS} keys, got {len(v)}")
    for k, key in enumerate(v):
        if not isinstance(key, str):
            raise TypeError(f"[{k}] must be a string, got {type(key).__name__}")
        if not 0 < len(key) <= MAX_CONTEXT_KEY_LENGTH:
            raise ValueError(f"[{k}] must be 1..{MAX_CONTEXT_KEY_LENGTH} characters")
    return frozenset(v)


def _channel_table(
    r: TableReader, name: str, default: Mapping[Channel, float], check: Callable[[Any], float]
) -> dict[Channel, float]:
    sub = r.sub(name)
    out = dict(default)
    for channel in Channel:
        out[channel] = sub.get(channel.name.lower(), default[channel], check)
    sub.finish()
    return out


def _relaxation(r: TableReader, default: tuple[RelaxationStep, ...]) -> tuple[RelaxationStep, ...]:
    r.used.add("relaxation")
    if "relaxation" not in r.table:
        return default
    raw = r.table["relaxation"]
    if not isinstance(raw, list):
        raise r.fail("relaxation", "must be an array of tables ([[relaxation]])")
    steps: list[RelaxationStep] = []
    for i, item in enumerate(raw):
        s = r.element("relaxation", i, item)
        after = s.get("after_seconds", -1.0, number(0.0), required=True)
        step = RelaxationStep(
            after, s.get("level_drop", 0, integer(0, 9)), s.get("drop_preferred", False, boolean)
        )
        s.finish()
        if steps and step.after_seconds <= steps[-1].after_seconds:
            raise s.fail("after_seconds", "steps must be in increasing order of after_seconds")
        if steps and step.level_drop < steps[-1].level_drop:
            raise s.fail("level_drop", "must not be smaller than the previous step's")
        steps.append(step)
    return tuple(steps)


def _customer_tiers(r: TableReader, default: Mapping[str, CustomerTier]) -> dict[str, CustomerTier]:
    sub = r.sub("customer_tiers")
    if not sub.table:
        return dict(default)
    out: dict[str, CustomerTier] = {}
    for name in sub.table:
        t = sub.sub(name)
        out[name] = CustomerTier(
            t.get("bonus", 0.0, number(0.0, 1000.0)),
            t.get("target_agent_tier", 1, integer(MIN_TIER, MAX_TIER)),
        )
        t.finish()
    if "standard" not in out:
        raise sub.fail("standard", "a 'standard' customer tier is required")
    return out


def policy_from_mapping(data: Mapping[str, Any], source: str = "policy") -> Policy:
    """Build a Policy from parsed TOML, raising PolicyError on the first bad key."""
    d = Policy()
    r = TableReader(data, "", source, PolicyError)
    w = r.sub("weights")
    dw = d.weights
    nonneg = number(0.0, 1000.0)
    weights = Weights(**{k: w.get(k, getattr(dw, k), nonneg) for k in vars(dw)})
    w.finish()
    esc = r.sub("escalation")
    min_tier = esc.get("min_agent_tier", list(d.escalation_min_tier), _tier_list)
    esc_bonus = esc.get("priority_bonus", d.escalation_bonus, number(0.0, 1000.0))
    esc.finish()
    cb = r.sub("callbacks")
    callback_attempts = cb.get("max_attempts", d.callback_attempts, integer(1, 20))
    callback_retry = cb.get("retry_seconds", d.callback_retry_seconds, number(1.0, 7 * 86400.0))
    callback_retry_on = cb.get(
        "retry_dispositions", d.callback_retry_dispositions, _disposition_set
    )
    cb.finish()
    policy = Policy(
        matching=r.get("matching", d.matching, choice("greedy", "joint")),
        joint_batch_limit=r.get("joint_batch_limit", d.joint_batch_limit, integer(1, 100_000)),
        offer_timeout_seconds=r.get(
            "offer_timeout_seconds", d.offer_timeout_seconds, number(above=0.0)
        ),
        max_missed_offers=r.get("max_missed_offers", d.max_missed_offers, integer(1, 1000)),
        exclusion_seconds=r.get("exclusion_seconds", d.exclusion_seconds, number(above=0.0)),
        sticky_agent_seconds=r.get("sticky_agent_seconds", d.sticky_agent_seconds, number(0.0)),
        exclusive_channels=r.get("exclusive_channels", d.exclusive_channels, _channel_set),
        weights=weights,
        idle_cap_seconds=r.get("idle_cap_seconds", d.idle_cap_seconds, number(above=0.0)),
        handle_time_reference_seconds=r.get(
            "handle_time_reference_seconds", d.handle_time_reference_seconds, number(above=0.0)
        ),
        handle_time_alpha=r.get("handle_time_alpha", d.handle_time_alpha, number(0.0, 1.0)),
        aging_rate=r.get("aging_rate", d.aging_rate, number(0.0, 1000.0)),
        aging_cap=r.get("aging_cap", d.aging_cap, number(0.0, 1000.0)),
        scarcity_horizon_seconds=r.get(
            "scarcity_horizon_seconds", d.scarcity_horizon_seconds, number(1.0, 86400.0)
        ),
        service_level_weight=r.get(
            "service_level_weight", d.service_level_weight, number(0.0, 1000.0)
        ),
        service_level_horizon_seconds=r.get(
            "service_level_horizon_seconds", d.service_level_horizon_seconds, number(1.0, 86400.0)
        ),
        wait_bound_seconds=_channel_table(
            r, "wait_bound_seconds", d.wait_bound_seconds, number(0.0, MAX_POLICY_SECONDS)
        ),
        on_time_first=r.get("on_time_first", d.on_time_first, boolean),
        wait_bound_lead_seconds=r.get(
            "wait_bound_lead_seconds", d.wait_bound_lead_seconds, number(0.0, 3600.0)
        ),
        relaxation=_relaxation(r, d.relaxation),
        escalation_min_tier=tuple(min_tier),
        escalation_bonus=esc_bonus,
        customer_tiers=_customer_tiers(r, d.customer_tiers),
        sla_seconds=_channel_table(r, "sla_seconds", d.sla_seconds, number(above=0.0)),
        wrap_up_seconds=_channel_table(r, "wrap_up_seconds", d.wrap_up_seconds, number(0.0)),
        handle_time_seconds=_channel_table(
            r, "handle_time_seconds", d.handle_time_seconds, number(above=0.0)
        ),
        sensitive_context_keys=r.get("sensitive_context_keys", d.sensitive_context_keys, _key_list),
        short_abandon_seconds=r.get(
            "short_abandon_seconds", d.short_abandon_seconds, number(0.0, 3600.0)
        ),
        fcr_window_days=r.get("fcr_window_days", d.fcr_window_days, integer(1, 365)),
        time_zone=r.get("time_zone", d.time_zone, _time_zone),
        queues=(queues := _queues(r)),
        rules=_rules(r, queues),
        callback_attempts=callback_attempts,
        callback_retry_seconds=callback_retry,
        callback_retry_dispositions=callback_retry_on,
        hold_limit_seconds=r.get(
            "hold_limit_seconds", d.hold_limit_seconds, number(0.0, MAX_POLICY_SECONDS)
        ),
        feedback_window_seconds=r.get(
            "feedback_window_seconds",
            d.feedback_window_seconds,
            number(above=0.0, hi=MAX_POLICY_SECONDS),
        ),
    )
    r.finish()
    return policy


def _time_zone(v: Any) -> str:
    if not isinstance(v, str) or not v:
        raise ValueError('must be an IANA time zone name, e.g. "Europe/Paris"')
    try:
        ZoneInfo(v)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise ValueError(f"unknown time zone {v!r}") from None
    return v


def _queues(r: TableReader) -> dict[str, Queue]:
    """`[queues.ID]` tables, checked together (moves name queues that exist, no cycle)."""
    sub = r.sub("queues")

    def read() -> dict[str, Queue]:
        out: dict[str, Queue] = {}
        for queue_id, table in sub.table.items():
            out[queue_id] = queue_from_mapping(queue_id, table, f"queues.{queue_id}")
        everything = {DEFAULT_QUEUE: Queue(DEFAULT_QUEUE), **out}
        if len(everything) > MAX_QUEUES:
            raise ValidationError("queues", f"at most {MAX_QUEUES} queues, 'default' included")
        check_queues(everything, "queues")
        return out

    return r.validated(read)


def _rules(r: TableReader, queues: Mapping[str, Queue]) -> tuple[AutomationRule, ...]:
    """`[[rules]]`: automation rules, checked against the file's queues."""
    r.used.add("rules")
    if "rules" not in r.table:
        return ()
    everything = {DEFAULT_QUEUE: Queue(DEFAULT_QUEUE), **queues}
    return r.validated(lambda: rules_from_list(r.table["rules"], "rules", everything))


def _disposition_set(v: Any) -> frozenset[str]:
    if not isinstance(v, list) or not all(isinstance(x, str) and x for x in v):
        raise TypeError("must be an array of dispositions")
    return frozenset(v)


def _tier_list(v: Any) -> list[int]:
    if not isinstance(v, list) or not v:
        raise TypeError("must be a non-empty array of agent tiers")
    tiers = [integer(MIN_TIER, MAX_TIER)(x) for x in v]
    if any(b < a for a, b in itertools.pairwise(tiers)):
        raise ValueError("must not decrease with the escalation level")
    return tiers


def load_policy(path: str | Path | None = None) -> Policy:
    """Read and validate a policy file; no path gives the defaults."""
    if path is None:
        return Policy()
    p = Path(path)
    return policy_from_mapping(load_toml(p, PolicyError), str(p))
