"""A simulation scenario: a TOML file, read and validated, every error naming its key.

duration_hours = 8            # arrivals stop then; the work in hand is finished
interval_minutes = 60         # the reporting (and rate, staffing) interval
warmup_minutes = 0            # what arrives before this is not measured

[[agents]]
count = 20
skills = { billing = 3 }      # skill -> level
tier = 1
capacity = { voice = 1 }      # channel -> seats (default: 1 on each scenario channel)
count_by_interval = [10, 20]  # optional: on duty per interval (shifts), each <= count
accept_delay_seconds = 0      # agent behaviour: time to answer an offer
reject_probability = 0
no_answer_probability = 0     # the offer is left to expire

[[arrivals]]
channel = "voice"
rate_per_hour = 120           # or one rate per interval: [60, 120, ...]
required = { billing = 1 }    # skill -> minimum level
queue = "default"
priority = 0
handle_time_mean_seconds = 300
handle_time_distribution = "exponential"   # or "lognormal"
handle_time_cv = 1.0          # lognormal only: standard deviation over mean
handle_time_by_level = { 5 = 0.8 }         # optional: factor by the agent's level
patience_mean_seconds = 120   # exponential; absent: the customer never hangs up
transfer_probability = 0.1    # optional: the first agent transfers the call...
transfer_required = { tech = 2 }           # ... to these skills
transfer_mode = "cold"        # or "warm": the first agent stays until the next accepts
transfer_handle_time_mean_seconds = 300    # the second agent's (default: as the first)
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from cim_router.domain.channel import Channel
from cim_router.domain.limits import (
    MAX_PRIORITY,
    MAX_PROFICIENCY,
    MAX_TIER,
    MIN_PROFICIENCY,
    MIN_TIER,
    is_skill_name,
)
from cim_router.domain.queues import DEFAULT_QUEUE, Queue
from cim_router.domain.toml_reader import TableReader, choice, integer, load_toml, number, text

T = TypeVar("T")
DISTRIBUTIONS = ("exponential", "lognormal")
TRANSFER_MODES = ("cold", "warm")
MAX_AGENTS = 100_000


class ScenarioError(ValueError):
    """A scenario that cannot be simulated; the message names the key and the reason."""

    def __init__(self, key: str, reason: str, source: str = "scenario") -> None:
        super().__init__(f"{source}: {key}: {reason}")
        self.key = key
        self.reason = reason


@dataclass(frozen=True)
class AgentGroup:
    count: int
    skills: Mapping[str, int]
    tier: int = 1
    capacity: Mapping[Channel, int] = field(default_factory=dict)
    count_by_interval: tuple[int, ...] = ()
    accept_delay_seconds: float = 0.0
    reject_probability: float = 0.0
    no_answer_probability: float = 0.0
    name: str = ""

    def on_duty(self, interval: int) -> int:
        """Agents of the group on duty in `interval`."""
        if not self.count_by_interval:
            return self.count
        return self.count_by_interval[min(interval, len(self.count_by_interval) - 1)]


@dataclass(frozen=True)
class ArrivalStream:
    channel: Channel
    rates_per_hour: tuple[float, ...]  # one per interval (a single rate: the whole day)
    required: Mapping[str, int]
    handle_time_mean_seconds: float
    handle_time_distribution: str = "exponential"
    handle_time_cv: float = 1.0
    handle_time_by_level: Mapping[int, float] = field(default_factory=dict)
    patience_mean_seconds: float | None = None
    queue: str = "default"
    priority: int = 0
    name: str = ""
    transfer_probability: float = 0.0
    transfer_required: Mapping[str, int] = field(default_factory=dict)
    transfer_mode: str = "cold"
    transfer_handle_time_mean_seconds: float = 0.0  # 0: as handle_time_mean_seconds

    def rate(self, interval: int) -> float:
        return self.rates_per_hour[min(interval, len(self.rates_per_hour) - 1)]


@dataclass(frozen=True)
class Scenario:
    duration_hours: float
    agents: tuple[AgentGroup, ...]
    arrivals: tuple[ArrivalStream, ...]
    interval_minutes: float = 60.0
    warmup_minutes: float = 0.0
    name: str = ""

    @property
    def duration_seconds(self) -> float:
        return self.duration_hours * 3600.0

    @property
    def interval_seconds(self) -> float:
        return self.interval_minutes * 60.0

    @property
    def intervals(self) -> int:
        return max(1, math.ceil(self.duration_seconds / self.interval_seconds - 1e-9))

    @property
    def channels(self) -> frozenset[Channel]:
        return frozenset(a.channel for a in self.arrivals)


# --- reading ---------------------------------------------------------------------------------


def _channel(v: Any) -> Channel:
    if not isinstance(v, str):
        raise TypeError(f"must be a channel name, got {type(v).__name__}")
    return Channel.parse(v)


def _levels(what: str) -> Callable[[Any], dict[str, int]]:
    def check(v: Any) -> dict[str, int]:
        if not isinstance(v, Mapping):
            raise TypeError(f"must be a table of skill -> {what}")
        out = {}
        for skill, level in v.items():
            if not is_skill_name(skill):
                raise ValueError(f"{skill!r} is not a skill name")
            try:
                out[skill] = integer(MIN_PROFICIENCY, MAX_PROFICIENCY)(level)
            except (TypeError, ValueError) as exc:
                raise ValueError(f"{skill}: {exc}") from None
        return out

    return check


def _capacity(v: Any) -> dict[Channel, int]:
    if not isinstance(v, Mapping):
        raise TypeError("must be a table of channel -> seats")
    out = {}
    for name, seats in v.items():
        try:
            out[Channel.parse(name)] = integer(0, 100)(seats)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"{name}: {exc}") from None
    return out


def _factors(v: Any) -> dict[int, float]:
    if not isinstance(v, Mapping):
        raise TypeError("must be a table of level -> factor")
    out = {}
    for name, factor in v.items():
        try:
            level = int(name)
        except ValueError:
            raise ValueError(f"{name!r} is not a level") from None
        if not MIN_PROFICIENCY <= level <= MAX_PROFICIENCY:
            raise ValueError(f"level {level} is not {MIN_PROFICIENCY}..{MAX_PROFICIENCY}")
        try:
            out[level] = number(hi=100.0, above=0.0)(factor)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"{name}: {exc}") from None
    return out


def _list_of(check: Callable[[Any], T]) -> Callable[[Any], tuple[T, ...]]:
    def each(v: Any) -> tuple[T, ...]:
        if not isinstance(v, list) or not v:
            raise TypeError("must be a non-empty array")
        out = []
        for k, x in enumerate(v):
            try:
                out.append(check(x))
            except (TypeError, ValueError) as exc:
                raise ValueError(f"[{k}]: {exc}") from None
        return tuple(out)

    return each


def _array(data: TableReader, name: str) -> list[Any]:
    data.used.add(name)
    raw = data.table.get(name)
    if raw is None:
        raise data.fail(name, f"is required (at least one [[{name}]])")
    if not isinstance(raw, list) or not raw:
        raise data.fail(name, f"must be an array of tables ([[{name}]])")
    return raw


def _agent_group(t: TableReader, k: int, intervals: int) -> AgentGroup:
    count = t.get("count", 0, integer(0, MAX_AGENTS), required=True)
    no_skills: dict[str, int] = {}
    skills = t.get("skills", no_skills, _levels("level"), required=True)
    no_counts: tuple[int, ...] = ()
    by_interval = t.get("count_by_interval", no_counts, _list_of(integer(0, MAX_AGENTS)))
    if by_interval and len(by_interval) != intervals:
        raise t.fail("count_by_interval", f"must have one entry per interval ({intervals})")
    if any(n > count for n in by_interval):
        raise t.fail("count_by_interval", f"no entry may exceed count ({count})")
    prob = number(0.0, 1.0)
    group = AgentGroup(
        count=count,
        skills=skills,
        tier=t.get("tier", 1, integer(MIN_TIER, MAX_TIER)),
        capacity=t.get("capacity", {}, _capacity),
        count_by_interval=by_interval,
        accept_delay_seconds=t.get("accept_delay_seconds", 0.0, number(0.0, 3600.0)),
        reject_probability=t.get("reject_probability", 0.0, prob),
        no_answer_probability=t.get("no_answer_probability", 0.0, prob),
        name=t.get("name", f"group{k}", text),
    )
    if group.reject_probability + group.no_answer_probability > 1.0:
        raise t.fail("no_answer_probability", "with reject_probability, must not exceed 1")
    t.finish()
    return group


def _arrival_stream(t: TableReader, k: int, intervals: int) -> ArrivalStream:
    channel = t.get("channel", Channel.VOICE, _channel, required=True)
    no_rates: tuple[float, ...] = ()
    rates = t.get("rate_per_hour", no_rates, _rates, required=True)
    if len(rates) not in (1, intervals):
        raise t.fail("rate_per_hour", f"must be a number or one rate per interval ({intervals})")
    dist = t.get("handle_time_distribution", "exponential", choice(*DISTRIBUTIONS))
    stream = ArrivalStream(
        channel=channel,
        rates_per_hour=rates,
        required=t.get("required", {}, _levels("minimum level"), required=True),
        handle_time_mean_seconds=t.get(
            "handle_time_mean_seconds", 0.0, number(hi=86400.0, above=0.0), required=True
        ),
        handle_time_distribution=dist,
        handle_time_cv=t.get("handle_time_cv", 1.0, number(hi=10.0, above=0.0)),
        handle_time_by_level=t.get("handle_time_by_level", {}, _factors),
        patience_mean_seconds=t.get(
            "patience_mean_seconds", None, number(hi=7 * 86400.0, above=0.0)
        ),
        queue=t.get("queue", "default", text),
        priority=t.get("priority", 0, integer(0, MAX_PRIORITY)),
        name=t.get("name", f"arrivals{k}", text),
        transfer_probability=t.get("transfer_probability", 0.0, number(0.0, 1.0)),
        transfer_required=t.get("transfer_required", {}, _levels("minimum level")),
        transfer_mode=t.get("transfer_mode", "cold", choice(*TRANSFER_MODES)),
        transfer_handle_time_mean_seconds=t.get(
            "transfer_handle_time_mean_seconds", 0.0, number(hi=86400.0, above=0.0)
        ),
    )
    if stream.transfer_probability > 0 and not stream.transfer_required:
        raise t.fail("transfer_required", "is required with a transfer_probability")
    if dist == "exponential" and "handle_time_cv" in t.table:
        raise t.fail("handle_time_cv", "applies to the lognormal distribution only")
    t.finish()
    return stream


def _rates(v: Any) -> tuple[float, ...]:
    rate = number(0.0, 1e7)
    if isinstance(v, list):
        return _list_of(rate)(v)
    return (rate(v),)


def scenario_from_mapping(data: Mapping[str, Any], source: str = "scenario") -> Scenario:
    """Build a Scenario from parsed TOML, raising ScenarioError on the first bad key."""
    if not isinstance(data, Mapping):
        raise ScenarioError("(file)", "must be a table", source)
    t = TableReader(data, "", source, ScenarioError)
    hours = t.get("duration_hours", 0.0, number(hi=24.0 * 31, above=0.0), required=True)
    minutes = t.get("interval_minutes", 60.0, number(1.0, 24.0 * 60))
    intervals = max(1, math.ceil(hours * 60.0 / minutes - 1e-9))
    agents = tuple(
        _agent_group(t.element("agents", k, raw), k, intervals)
        for k, raw in enumerate(_array(t, "agents"))
    )
    arrivals = tuple(
        _arrival_stream(t.element("arrivals", k, raw), k, intervals)
        for k, raw in enumerate(_array(t, "arrivals"))
    )
    if sum(g.count for g in agents) > MAX_AGENTS:
        raise t.fail("agents", f"at most {MAX_AGENTS} agents in all")
    scenario = Scenario(
        duration_hours=hours,
        agents=agents,
        arrivals=arrivals,
        interval_minutes=minutes,
        warmup_minutes=t.get("warmup_minutes", 0.0, number(0.0, hours * 60.0)),
        name=t.get("name", "", text),
    )
    t.finish()
    for k, group in enumerate(agents):
        for channel in group.capacity:
            if channel not in scenario.channels:
                raise ScenarioError(
                    f"agents[{k}].capacity.{channel.name.lower()}",
                    "no arrivals on this channel",
                    source,
                )
    return scenario


def load_scenario(path: str | Path) -> Scenario:
    """Read and validate a scenario file."""
    p = Path(path)
    return scenario_from_mapping(load_toml(p, ScenarioError), str(p))


def check_queues(scenario: Scenario, queues: Mapping[str, Queue], policy: str) -> None:
    """Each stream's queue exists in the policy (or is "default") and takes its channel."""
    for k, stream in enumerate(scenario.arrivals):
        queue = queues.get(stream.queue)
        if queue is None and stream.queue != DEFAULT_QUEUE:
            raise ScenarioError(f"arrivals[{k}].queue", f"no queue {stream.queue!r} in {policy}")
        if queue is not None and not queue.accepts(stream.channel):
            raise ScenarioError(
                f"arrivals[{k}].queue",
                f"queue {stream.queue!r} of {policy} does not take {stream.channel.name.lower()}",
            )
