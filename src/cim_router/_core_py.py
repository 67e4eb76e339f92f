"""Pure-Python twin of the compiled routing core: same API, same decisions.

It is the reference semantics, written for clarity: every decision is a plain scan over
agents or waiting interactions using `eligibility()` and `score_terms()`. The compiled core
(`_core.pyx`) reaches the same answers through per-skill bitsets.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np
import numpy.typing as npt

from cim_router._core_common import (
    ELIGIBLE,
    EXCLUDED,
    MAX_ESCALATION,
    MAX_ESCALATION_TIERS,
    MAX_LEVEL,
    MAX_RELAX_STEPS,
    MAX_SKILLS,
    MAX_TIER,
    N_CHANNELS,
    NO_CAPACITY,
    NOT_AVAILABLE,
    NOT_IN_QUEUE,
    QUEUE_DELAY,
    SKILL_LEVEL,
    SKILL_MISSING,
    STATE_AVAILABLE,
    TIER,
    CoreParams,
    PolicyLike,
    check_gate,
    check_gate_id,
    check_gates,
    check_share,
    late_aging,
    sum_urgency,
)
from cim_router._core_py_demand import Demand, ServiceLevels
from cim_router._core_py_model import (
    AgentEntry,
    WaitingEntry,
    check_channel,
    check_skills,
    check_state,
)
from cim_router._core_py_rank import rank_candidates

IMPLEMENTATION = "python"


class Core:
    """Index of one tenant's agents and waiting interactions, and the routing decisions."""

    def __init__(self, policy: PolicyLike) -> None:
        self.params = p = CoreParams.from_policy(policy)
        if len(p.relax_after) > MAX_RELAX_STEPS or len(p.esc_min_tier) > MAX_ESCALATION_TIERS:
            raise ValueError(
                f"at most {MAX_RELAX_STEPS} relaxation steps"
                f" and {MAX_ESCALATION_TIERS} escalation tiers"
            )
        self._agents: dict[str, AgentEntry] = {}
        self._waiting: dict[str, WaitingEntry] = {}
        self._seq = 0
        self._demand = Demand(p.scarcity_horizon)
        self._service = ServiceLevels(p.sl_weight, p.sl_horizon)

    # --- agents ---------------------------------------------------------------------------

    def upsert_agent(
        self,
        agent_id: str,
        tier: int,
        skills: Sequence[tuple[int, int]],
        capacity: Sequence[int],
        state: int,
        load: Sequence[int],
        idle_since: float,
        gates: Iterable[tuple[int, int, float]] = (),
    ) -> None:
        """Insert or replace an agent; predicted handle times survive a replace.

        `gates`: the queues it serves, as (gate id, rank 1..255, delay seconds)."""
        if not 1 <= tier <= MAX_TIER:
            raise ValueError(f"tier must be 1..{MAX_TIER}, got {tier}")
        check_state(state)
        if len(capacity) != N_CHANNELS or len(load) != N_CHANNELS:
            raise ValueError(f"capacity and load need {N_CHANNELS} values")
        if any(not 0 <= int(x) <= 255 for x in (*capacity, *load)):
            raise ValueError("capacity and load must be 0..255")
        checked_gates = check_gates(gates)
        old = self._agents.get(agent_id)
        agent = AgentEntry(
            agent_id,
            tier,
            dict(check_skills("skills", skills)),
            [int(x) for x in capacity],
            int(state),
            [int(x) for x in load],
            float(idle_since),
        )
        agent.gates = {g: (rank, delay) for g, rank, delay in checked_gates}
        if old is not None:
            agent.aht_channel, agent.aht_skill = old.aht_channel, old.aht_skill
            self._demand.staff(old.skills, -1)
        self._demand.staff(agent.skills, 1)
        self._agents[agent_id] = agent

    def remove_agent(self, agent_id: str) -> bool:
        old = self._agents.pop(agent_id, None)
        if old is not None:
            self._demand.staff(old.skills, -1)
        return old is not None

    def set_agent_state(self, agent_id: str, state: int, idle_since: float) -> None:
        a = self._agent(agent_id)
        check_state(state)
        a.state, a.idle_since = int(state), float(idle_since)

    def set_agent_load(self, agent_id: str, channel: int, load: int) -> None:
        check_channel(channel)
        if not 0 <= load <= 255:
            raise ValueError("load must be 0..255")
        self._agent(agent_id).load[channel] = int(load)

    def set_handle_time(self, agent_id: str, channel: int, skill: int, seconds: float) -> None:
        """Set the predicted handle time for a channel (skill -1) or a skill on a channel."""
        check_channel(channel)
        if not seconds > 0:
            raise ValueError("seconds must be > 0")
        a = self._agent(agent_id)
        if skill < 0:
            a.aht_channel[channel] = float(seconds)
        else:
            a.aht_skill[(skill, channel)] = float(seconds)

    def has_agent(self, agent_id: str) -> bool:
        return agent_id in self._agents

    def agent_count(self) -> int:
        return len(self._agents)

    def agent_ids(self) -> list[str]:
        return list(self._agents)

    def agent_idle_since(self, agent_id: str) -> float:
        return self._agent(agent_id).idle_since

    def _agent(self, agent_id: str) -> AgentEntry:
        try:
            return self._agents[agent_id]
        except KeyError:
            raise KeyError(agent_id) from None

    # --- interactions ---------------------------------------------------------------------

    def add_interaction(
        self,
        interaction_id: str,
        channel: int,
        required: Sequence[tuple[int, int]],
        preferred: Sequence[tuple[int, int]],
        priority: float,
        tier_bonus: float,
        target_tier: int,
        escalation: int,
        sla_seconds: float,
        enqueued_at: float,
        preferred_agent: str = "",
        excluded: Iterable[str] = (),
        gate: int = -1,
    ) -> None:
        """Put an interaction in the waiting set (replacing one with the same id); `gate`
        is its queue's gate id, -1 for none."""
        check_channel(channel)
        check_gate(gate)
        if not sla_seconds > 0:
            raise ValueError("sla_seconds must be > 0")
        if not 1 <= target_tier <= MAX_TIER or not 0 <= escalation <= MAX_ESCALATION:
            raise ValueError(
                f"target_tier must be 1..{MAX_TIER} and escalation 0..{MAX_ESCALATION}"
            )
        req = check_skills("required", required)
        pref = check_skills("preferred", preferred)
        if len(req) > MAX_SKILLS or len(pref) > MAX_SKILLS:
            raise ValueError(f"at most {MAX_SKILLS} required and {MAX_SKILLS} preferred skills")
        p = self.params
        min_tier = p.esc_min_tier[min(escalation, len(p.esc_min_tier) - 1)]
        self.remove_interaction(interaction_id)
        self._seq += 1
        self._demand.wait(req, 1)
        self._waiting[interaction_id] = WaitingEntry(
            interaction_id,
            self._seq,
            channel,
            req,
            pref,
            float(priority) + float(tier_bonus) + p.esc_bonus * escalation,
            max(int(target_tier), min_tier),
            min_tier,
            p.aging_rate / sla_seconds,
            float(enqueued_at),
            preferred_agent,
            set(excluded),
            int(gate),
            float(sla_seconds),
        )

    def remove_interaction(self, interaction_id: str) -> bool:
        i = self._waiting.pop(interaction_id, None)
        if i is not None:
            self._demand.wait(i.required, -1)
        return i is not None

    def reserve(self, interaction_id: str, agent_id: str) -> None:
        """Take a waiting interaction out of the queue and count it in the agent's load."""
        i, a = self._interaction(interaction_id), self._agent(agent_id)
        if a.load[i.channel] >= 255:
            raise ValueError("load must be 0..255")
        a.load[i.channel] += 1
        self.remove_interaction(interaction_id)

    def exclude_agent(self, interaction_id: str, agent_id: str) -> None:
        self._interaction(interaction_id).excluded.add(agent_id)

    def count_arrival(self, interaction_id: str, at: float) -> None:
        """Count a waiting interaction as a new arrival at `at`, in the demand for its skills
        that the scarcity term weighs (an interaction indexed again is not counted again)."""
        self._demand.arrive(self._interaction(interaction_id).required, at)

    def count_outcome(self, interaction_id: str, now: float, answered: bool) -> None:
        """Count a waiting interaction's outcome in its queue gate's recent service level:
        answered (within its target or not), or abandoned (a miss once past its target)."""
        i = self._interaction(interaction_id)
        if i.gate >= 0:
            self._service.count(i.gate, now - i.enqueued_at <= i.sla, answered, now)

    def set_gate_target(self, gate: int, share: float) -> None:
        """The share of a gate's work to answer within its target (0: no target)."""
        self._service.target(check_gate_id(gate), check_share(share))

    def gate_boost(self, gate: int) -> float:
        """The urgency points a gate's work gets for being behind its target."""
        return self._service.boost(gate)

    def waiting_count(self) -> int:
        return len(self._waiting)

    def is_waiting(self, interaction_id: str) -> bool:
        return interaction_id in self._waiting

    def _interaction(self, interaction_id: str) -> WaitingEntry:
        try:
            return self._waiting[interaction_id]
        except KeyError:
            raise KeyError(interaction_id) from None

    # --- the rules ------------------------------------------------------------------------

    def _step(self, i: WaitingEntry, now: float) -> int:
        step = 0
        for after in self.params.relax_after:
            if now >= i.enqueued_at + after:
                step += 1
        return step

    def _can_take(self, a: AgentEntry, channel: int) -> bool:
        if a.load[channel] >= a.capacity[channel]:
            return False
        excl = self.params.exclusive
        if excl[channel]:
            return sum(a.load) == 0
        return all(a.load[c] == 0 for c in range(N_CHANNELS) if excl[c])

    def _idle_holders(self, s: int, channel: int) -> int:
        """Agents holding skill `s` that are free to take work on `channel` now."""
        return sum(
            1
            for b in self._agents.values()
            if s in b.skills and b.state == STATE_AVAILABLE and self._can_take(b, channel)
        )

    def _eligibility(self, i: WaitingEntry, a: AgentEntry, now: float) -> int:
        if a.state != STATE_AVAILABLE:
            return NOT_AVAILABLE
        if not self._can_take(a, i.channel):
            return NO_CAPACITY
        step = self._step(i, now)
        drop = self.params.relax_drop[step - 1] if step else 0
        for s, level in i.required:
            have = a.skills.get(s, 0)
            if have == 0:
                return SKILL_MISSING
            if have < max(1, level - drop):
                return SKILL_LEVEL
        if a.tier < i.min_tier:
            return TIER
        if i.gate >= 0:
            entry = a.gates.get(i.gate)
            if entry is None:
                return NOT_IN_QUEUE
            if now < i.enqueued_at + entry[1]:
                return QUEUE_DELAY
        if a.id in i.excluded:
            return EXCLUDED
        return ELIGIBLE

    def _terms(self, i: WaitingEntry, a: AgentEntry, now: float) -> tuple[float, ...]:
        p = self.params
        skill = 0.0
        for s, _level in i.required:
            skill += a.skills.get(s, 0)
        skill = skill * (1.0 / (MAX_LEVEL * len(i.required))) if i.required else 1.0
        pref = 0.0
        step = self._step(i, now)
        if i.preferred and not (step and p.relax_drop_pref[step - 1]):
            for s, _level in i.preferred:
                pref += a.skills.get(s, 0)
            pref = pref * (1.0 / (MAX_LEVEL * len(i.preferred)))
        tier = 1.0 - abs(a.tier - i.target_tier) / 4.0
        idle = (now - a.idle_since) * (1.0 / p.idle_cap)
        idle = 0.0 if idle < 0.0 else (1.0 if idle > 1.0 else idle)
        h = 0.0
        if i.required:
            h = a.aht_skill.get((i.required[0][0], i.channel), 0.0)
        if h <= 0.0:
            h = a.aht_channel[i.channel]
        if h <= 0.0:
            h = p.aht_seed[i.channel]
        aht = p.aht_ref / (p.aht_ref + h)
        sticky = 1.0 if i.preferred_agent and i.preferred_agent == a.id else 0.0
        scarcity = 1.0
        if p.w_scarcity > 0.0:
            needed = {s for s, _level in i.required}
            others = [(s, self._idle_holders(s, i.channel)) for s in a.skills if s not in needed]
            scarcity = self._demand.scarcity(others, now)
        total = (
            p.w_skill * skill
            + p.w_pref * pref
            + p.w_tier * tier
            + p.w_idle * idle
            + p.w_aht * aht
            + p.w_sticky * sticky
            + p.w_scarcity * scarcity
        )
        return (skill, pref, tier, idle, aht, sticky, scarcity, total)

    def _urgency(self, i: WaitingEntry, now: float) -> float:
        return sum_urgency(self._urgency_terms(i, now))

    def _urgency_terms(self, i: WaitingEntry, now: float) -> tuple[float, float, float, float]:
        p = self.params
        wait = now - i.enqueued_at
        if wait < 0.0:
            wait = 0.0
        if wait >= p.promote_after[i.channel]:
            return (i.base, 0.0, 0.0, wait)
        if p.on_time_first and wait > i.sla:
            aging = late_aging(p, wait, i.sla)
        else:
            aging = i.aging_per_second * wait
            if aging > p.aging_cap:
                aging = p.aging_cap
        return (i.base, aging, self._service.boost(i.gate) if i.gate >= 0 else 0.0, -1.0)

    def eligibility(self, interaction_id: str, agent_id: str, now: float) -> int:
        """0 if the agent may take the interaction now, else the first failing rule's code."""
        return self._eligibility(self._interaction(interaction_id), self._agent(agent_id), now)

    def score_terms(self, interaction_id: str, agent_id: str, now: float) -> tuple[float, ...]:
        """(skill, preferred, tier, idle, handle_time, sticky, scarcity, total) for a pair."""
        return self._terms(self._interaction(interaction_id), self._agent(agent_id), now)

    rank_candidates = rank_candidates

    def urgency(self, interaction_id: str, now: float) -> float:
        return self._urgency(self._interaction(interaction_id), now)

    def urgency_terms(self, interaction_id: str, now: float) -> tuple[float, float, float, float]:
        """(base, aging, service-level boost, wait past the bound's start or -1): urgency is
        base + aging + boost, or PROMOTED + the wait once the wait bound is reached."""
        return self._urgency_terms(self._interaction(interaction_id), now)

    def relaxation_step(self, interaction_id: str, now: float) -> int:
        return self._step(self._interaction(interaction_id), now)

    # --- decisions ------------------------------------------------------------------------

    def best_agent(self, interaction_id: str, now: float) -> str | None:
        """The eligible agent with the highest score; ties: longest idle, then lowest id."""
        i = self._interaction(interaction_id)
        best: AgentEntry | None = None
        best_key = (0.0, 0.0)
        for a in self._agents.values():
            if self._eligibility(i, a, now) != ELIGIBLE:
                continue
            key = (self._terms(i, a, now)[-1], -a.idle_since)
            if best is None or key > best_key or (key == best_key and a.id < best.id):
                best, best_key = a, key
        return None if best is None else best.id

    def best_interaction(self, agent_id: str, now: float) -> str | None:
        """The waiting interaction the agent may take whose gate it ranks first (no gate
        ranks 0, before any), then the first of those in service order."""
        a = self._agent(agent_id)
        best: WaitingEntry | None = None
        best_key = (0, 0.0, 0.0, 0)
        for i in self._waiting.values():
            if self._eligibility(i, a, now) != ELIGIBLE:
                continue
            rank = a.gates[i.gate][0] if i.gate >= 0 else 0
            key = (-rank, self._urgency(i, now), -i.enqueued_at, -i.seq)
            if best is None or key > best_key:
                best, best_key = i, key
        return None if best is None else best.id

    def queue_order(self, now: float) -> list[str]:
        """Waiting interaction ids in service order: urgency, then enqueue time, then arrival."""
        items = sorted(
            self._waiting.values(), key=lambda i: (-self._urgency(i, now), i.enqueued_at, i.seq)
        )
        return [i.id for i in items]

    def next_relaxation_due(self, now: float) -> float | None:
        """When the next relaxation step of any waiting interaction starts (after `now`)."""
        due = [
            i.enqueued_at + after
            for i in self._waiting.values()
            for after in self.params.relax_after
            if now < i.enqueued_at + after
        ]
        return min(due) if due else None

    def next_gate_due(self, now: float) -> float | None:
        """The earliest enqueued_at + delay after `now` over every waiting interaction with
        a gate and every agent serving that gate: when a delay next runs out."""
        due = [
            i.enqueued_at + a.gates[i.gate][1]
            for i in self._waiting.values()
            if i.gate >= 0
            for a in self._agents.values()
            if i.gate in a.gates and now < i.enqueued_at + a.gates[i.gate][1]
        ]
        return min(due) if due else None

    def agents_with_room(self) -> int:
        """How many AVAILABLE agents could take one more interaction on some channel."""
        return sum(
            1
            for a in self._agents.values()
            if a.state == STATE_AVAILABLE and any(self._can_take(a, c) for c in range(N_CHANNELS))
        )

    def queue_position(self, interaction_id: str, now: float) -> int:
        """1-based place of a waiting interaction in service order."""
        me = self._interaction(interaction_id)

        def key(i: WaitingEntry) -> tuple[float, float, int]:
            return (-self._urgency(i, now), i.enqueued_at, i.seq)

        mine = key(me)
        return 1 + sum(1 for i in self._waiting.values() if key(i) < mine)

    def pair_value(self, interaction_id: str, agent_id: str, now: float) -> float:
        """What joint matching maximises for a pair: 0 if ineligible, else > 1. A queue gate
        can only make a pair ineligible: its rank does not enter the value."""
        i, a = self._interaction(interaction_id), self._agent(agent_id)
        if self._eligibility(i, a, now) != ELIGIBLE:
            return 0.0
        urgency = self.params.w_urgency * self._urgency(i, now) / 100.0
        return 1.0 + self._terms(i, a, now)[-1] + urgency

    def score_matrix(
        self, interaction_ids: Sequence[str], agent_ids: Sequence[str], now: float
    ) -> npt.NDArray[np.float64]:
        """Pair values for joint matching, rows = interactions, columns = agents."""
        out = np.zeros((len(interaction_ids), len(agent_ids)), dtype=np.float64)
        for r, iid in enumerate(interaction_ids):
            for c, aid in enumerate(agent_ids):
                out[r, c] = self.pair_value(iid, aid, now)
        return out

    def joint_candidates(self, now: float) -> tuple[list[str], list[str]]:
        """The interactions (first in service order, up to the batch limit) and the agents
        with spare capacity that joint matching considers."""
        iids = self.queue_order(now)[: self.params.joint_limit]
        aids = sorted(
            a.id
            for a in self._agents.values()
            if a.state == STATE_AVAILABLE and any(self._can_take(a, c) for c in range(N_CHANNELS))
        )
        return iids, aids
