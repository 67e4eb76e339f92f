# cython: language_level=3
"""Compiled routing core: the index of agents and waiting interactions, and the decisions.

Agents and waiting interactions live in slot-indexed C arrays. Decisions never scan every
agent: an arrival ANDs the channel's availability bitset with one bitset per required skill
and minimum level (and the tier bitset for escalations), then scores only the survivors. A
freed agent masks the channel's waiting set with "needs more than this agent has" bitsets,
one per skill it falls short in, then picks the most urgent survivor. Every update is
O(skills x levels) bit flips; nothing is rebuilt per event.

The semantics are those of the pure-Python twin `_core_py.py`; floating-point terms are
computed in the same order so that both make identical decisions.

This file holds the `Core` class, which is the API: argument checks, and calls into the
parts under `core_c/`. Cython allows `include` only at module level, not in a class body,
so the parts are module-level cdef functions that take the Core as `self`: plain C calls,
as a final class's cdef methods are. `_core.pxd` declares the fields they share.
"""

from libc.math cimport INFINITY, exp, fabs
from libc.stdint cimport int32_t, int64_t, uint8_t, uint64_t
from libc.stdlib cimport free, malloc, realloc
from libc.string cimport memset

import numpy as np


from cim_router._core_common import PROMOTED as _PROMOTED
from cim_router._core_common import REASONS as _REASONS
from cim_router._core_common import SERVICE_LEVEL_PRIOR as _PRIOR
from cim_router._core_common import (
    CoreParams, check_gate, check_gate_id, check_gates, check_share)

cdef double PROMOTED = _PROMOTED
cdef double SERVICE_LEVEL_PRIOR = _PRIOR
cdef int N_REASONS = len(_REASONS)

include "core_c/bitsets.pxi"
include "core_c/storage.pxi"
include "core_c/index.pxi"
include "core_c/relaxation.pxi"
include "core_c/gates.pxi"
include "core_c/demand.pxi"
include "core_c/rules.pxi"
include "core_c/decisions.pxi"
include "core_c/invariants.pxi"

IMPLEMENTATION = "compiled"
# Whether this build has the invariant checks (setup.py: CIM_ROUTER_DEBUG=1).
DEBUG = bool(CIM_DEBUG)


def constants():
    """The compiled values of the limits and codes `_core_common` defines for Python, under
    the names it uses there."""
    return {
        "N_CHANNELS": NCH,
        "MAX_LEVEL": NLEV,
        "MAX_TIER": NTIER,
        "MAX_SKILLS": MAXSK,
        "MAX_RELAX_STEPS": MAXSTEP,
        "MAX_ESCALATION_TIERS": MAXESC,
        "MAX_SKILL_ID": MAX_SKILL_ID,
        "MAX_ESCALATION": MAX_ESCALATION,
        "MAX_GATES": MAXGATES,
        "MAX_GATE_ID": MAX_GATE_ID,
        "MAX_GATE_RANK": MAX_GATE_RANK,
        "STATE_AVAILABLE": STATE_AVAILABLE,
        "MAX_STATE": MAX_STATE,
        "ELIGIBLE": ELIGIBLE,
        "NOT_AVAILABLE": NOT_AVAILABLE,
        "NO_CAPACITY": NO_CAPACITY,
        "SKILL_MISSING": SKILL_MISSING,
        "SKILL_LEVEL": SKILL_LEVEL,
        "TIER": TIER,
        "EXCLUDED": EXCLUDED,
        "NOT_IN_QUEUE": NOT_IN_QUEUE,
        "QUEUE_DELAY": QUEUE_DELAY,
    }


def _check_state(int state):
    if not 0 <= state <= MAX_STATE:
        raise ValueError(f"state must be 0..{MAX_STATE}, got {state}")


cdef class Core:
    """Index of one tenant's agents and waiting interactions, and the routing decisions."""

    def __cinit__(self, policy):
        _allocate(self)

    def __init__(self, policy):
        cdef int k
        p = CoreParams.from_policy(policy)
        self.params = p
        self.w_skill, self.w_pref, self.w_tier = p.w_skill, p.w_pref, p.w_tier
        self.w_idle, self.w_aht, self.w_sticky = p.w_idle, p.w_aht, p.w_sticky
        self.w_urgency, self.w_scarcity = p.w_urgency, p.w_scarcity
        self.scarcity_horizon, self.sl_weight, self.sl_horizon = (
            p.scarcity_horizon, p.sl_weight, p.sl_horizon)
        self.on_time_first = p.on_time_first
        self.idle_cap, self.aht_ref = p.idle_cap, p.aht_ref
        # Reciprocals, so the scoring loop multiplies instead of dividing (the twin does too).
        self.inv_idle_cap = 1.0 / p.idle_cap
        for k in range(1, MAXSK + 1):
            self.inv_mean[k] = 1.0 / (10.0 * k)
        self.aging_rate, self.aging_cap, self.esc_bonus = p.aging_rate, p.aging_cap, p.esc_bonus
        if len(p.relax_after) > MAXSTEP or len(p.esc_min_tier) > MAXESC:
            raise ValueError(f"at most {MAXSTEP} relaxation steps and {MAXESC} escalation tiers")
        self.n_relax = len(p.relax_after)
        for k in range(self.n_relax):
            self.relax_after[k] = p.relax_after[k]
            self.relax_drop[k] = p.relax_drop[k]
            self.relax_drop_pref[k] = p.relax_drop_pref[k]
        self.n_esc = len(p.esc_min_tier)
        for k in range(self.n_esc):
            self.esc_min_tier[k] = p.esc_min_tier[k]
        for k in range(NCH):
            self.exclusive[k] = p.exclusive[k]
            self.aht_seed[k] = p.aht_seed[k]
            self.promote_after[k] = p.promote_after[k]
        self.joint_limit = p.joint_limit

    def __dealloc__(self):
        _release(self)

    # --- agents (core_c/index.pxi) ------------------------------------------------------

    def upsert_agent(self, str agent_id, int tier, skills, capacity, int state, load,
                     double idle_since, gates=()):
        """Insert or replace an agent; predicted handle times survive a replace.

        `gates`: the queues it serves, as (gate id, rank 1..255, delay seconds)."""
        if not 1 <= tier <= NTIER:
            raise ValueError(f"tier must be 1..{NTIER}, got {tier}")
        _check_state(state)
        if len(capacity) != NCH or len(load) != NCH:
            raise ValueError(f"capacity and load need {NCH} values")
        caps = [int(x) for x in capacity]
        loads = [int(x) for x in load]
        if any(not 0 <= x <= 255 for x in caps + loads):
            raise ValueError("capacity and load must be 0..255")
        sk = tuple((int(s), int(lv)) for s, lv in skills)
        for s, lv in sk:
            if s < 0 or not 1 <= lv <= NLEV:
                raise ValueError(f"skills: skill ids are >= 0 and levels 1..{NLEV}")
        if len({s for s, _ in sk}) != len(sk):
            raise ValueError("skills: a skill is listed twice")
        gt = check_gates(gates)
        _put_agent(self, agent_id, tier, sk, caps, loads, state, idle_since, gt)

    def remove_agent(self, str agent_id):
        return _remove_agent(self, agent_id)

    def set_agent_state(self, str agent_id, int state, double idle_since):
        cdef int a = _agent_slot(self, agent_id)
        _check_state(state)
        self.a_state[a] = state
        self.a_hot[a].idle = idle_since
        _refresh_avail(self, a)
        if CIM_DEBUG:
            _check_agent(self, a)

    def set_agent_load(self, str agent_id, int channel, int load):
        cdef int a = _agent_slot(self, agent_id)
        if not 0 <= channel < NCH:
            raise ValueError(f"channel must be 0..{NCH - 1}, got {channel}")
        if not 0 <= load <= 255:
            raise ValueError("load must be 0..255")
        self.a_load[a * NCH + channel] = load
        _refresh_avail(self, a)
        if CIM_DEBUG:
            _check_agent(self, a)

    def set_handle_time(self, str agent_id, int channel, int skill, double seconds):
        """Set the predicted handle time for a channel (skill -1) or a skill on a channel."""
        cdef int a = _agent_slot(self, agent_id)
        if not 0 <= channel < NCH:
            raise ValueError(f"channel must be 0..{NCH - 1}, got {channel}")
        if not seconds > 0:
            raise ValueError("seconds must be > 0")
        _set_handle_time(self, a, channel, skill, seconds)

    def has_agent(self, str agent_id):
        return agent_id in self.agent_index

    def agent_count(self):
        return self.n_agents

    def agent_ids(self):
        return [x for x in self.slot_agent[:self.a_hi] if x is not None]

    def agent_idle_since(self, str agent_id):
        return self.a_hot[_agent_slot(self, agent_id)].idle

    # --- interactions (core_c/index.pxi) ------------------------------------------------

    def add_interaction(self, str interaction_id, int channel, required, preferred,
                        double priority, double tier_bonus, int target_tier, int escalation,
                        double sla_seconds, double enqueued_at, str preferred_agent="",
                        excluded=(), int gate=-1):
        """Put an interaction in the waiting set (replacing one with the same id); `gate`
        is its queue's gate id, -1 for none."""
        if not 0 <= channel < NCH:
            raise ValueError(f"channel must be 0..{NCH - 1}, got {channel}")
        if not sla_seconds > 0:
            raise ValueError("sla_seconds must be > 0")
        if not 1 <= target_tier <= NTIER or not 0 <= escalation <= MAX_ESCALATION:
            raise ValueError(f"target_tier must be 1..{NTIER} and escalation 0..{MAX_ESCALATION}")
        req = tuple((int(s), int(lv)) for s, lv in required)
        pref = tuple((int(s), int(lv)) for s, lv in preferred)
        for what, group in (("required", req), ("preferred", pref)):
            for s, lv in group:
                if s < 0 or not 1 <= lv <= NLEV:
                    raise ValueError(f"{what}: skill ids are >= 0 and levels 1..{NLEV}")
            if len({s for s, _ in group}) != len(group):
                raise ValueError(f"{what}: a skill is listed twice")
        if len(req) > MAXSK or len(pref) > MAXSK:
            raise ValueError(f"at most {MAXSK} required and {MAXSK} preferred skills")
        check_gate(gate)
        _put_interaction(self, interaction_id, channel, req, pref, priority, tier_bonus,
                         target_tier, escalation, sla_seconds, enqueued_at, preferred_agent,
                         excluded, gate)

    def remove_interaction(self, str interaction_id):
        return _remove_interaction(self, interaction_id)

    def reserve(self, str interaction_id, str agent_id):
        """Take a waiting interaction out of the queue and count it in the agent's load."""
        _reserve(self, _inter_slot(self, interaction_id), _agent_slot(self, agent_id),
                 interaction_id)

    def exclude_agent(self, str interaction_id, str agent_id):
        cdef int i = _inter_slot(self, interaction_id)
        if self.inter_excluded[i] is None:
            self.inter_excluded[i] = set()
        self.inter_excluded[i].add(agent_id)

    def count_arrival(self, str interaction_id, double at):
        """Count a waiting interaction as a new arrival at `at`, in the demand for its skills
        that the scarcity term weighs (an interaction indexed again is not counted again)."""
        _count_arrival(self, _inter_slot(self, interaction_id), at)

    def count_outcome(self, str interaction_id, double now, bint answered):
        """Count a waiting interaction's outcome in its queue gate's recent service level:
        answered (within its target or not), or abandoned (a miss once past its target)."""
        _count_outcome(self, _inter_slot(self, interaction_id), now, answered)

    def set_gate_target(self, int gate, double share):
        """The share of a gate's work to answer within its target (0: no target)."""
        check_gate_id(gate)
        check_share(share)
        _ensure_gate(self, gate)
        self.g_share[gate] = share
        _refresh_boost(self, gate)

    def gate_boost(self, int gate):
        """The urgency points a gate's work gets for being behind its target."""
        if 0 <= gate < self.n_gates:
            return self.g_boost[gate]
        return 0.0

    def waiting_count(self):
        return self.n_waiting

    def is_waiting(self, str interaction_id):
        return interaction_id in self.inter_index

    # --- the rules (core_c/rules.pxi, core_c/relaxation.pxi) ----------------------------

    def eligibility(self, str interaction_id, str agent_id, double now):
        """0 if the agent may take the interaction now, else the first failing rule's code."""
        return _eligibility(self, _inter_slot(self, interaction_id),
                            _agent_slot(self, agent_id), now)

    def score_terms(self, str interaction_id, str agent_id, double now):
        """(skill, preferred, tier, idle, handle_time, sticky, scarcity, total) for a pair."""
        cdef double terms[8]
        cdef int i = _inter_slot(self, interaction_id), a = _agent_slot(self, agent_id)
        pref = self.inter_pref_agent[i]
        self.press_stamp += 1
        _score(self, i, a, now, _step_at(self, i, now),
               self.agent_index.get(pref, -1) if pref else -1, terms)
        return tuple([terms[k] for k in range(8)])

    def rank_candidates(self, str interaction_id, double now):
        """([how many agents each rule's code stops, by code; ELIGIBLE's: those it lets
        through], [the best two eligible agents' ids by score, longest idle, lowest id])."""
        return _rank_candidates(self, _inter_slot(self, interaction_id), now)

    def urgency(self, str interaction_id, double now):
        return _urgency(self, _inter_slot(self, interaction_id), now)

    def urgency_terms(self, str interaction_id, double now):
        """(base, aging, service-level boost, wait past the bound's start or -1): urgency is
        base + aging + boost, or PROMOTED + the wait once the wait bound is reached."""
        cdef double t[4]
        _urgency_terms(self, _inter_slot(self, interaction_id), now, t)
        return (t[0], t[1], t[2], t[3])

    def relaxation_step(self, str interaction_id, double now):
        return _step_at(self, _inter_slot(self, interaction_id), now)

    # --- decisions (core_c/decisions.pxi) -----------------------------------------------

    def best_agent(self, str interaction_id, double now):
        """The eligible agent with the highest score; ties: longest idle, then lowest id."""
        cdef int a = _best_agent(self, _inter_slot(self, interaction_id), now)
        return None if a < 0 else self.slot_agent[a]

    def best_interaction(self, str agent_id, double now):
        """The waiting interaction the agent may take whose gate it ranks first (no gate
        ranks 0, before any), then the first of those in service order.

        `now` must not go backwards between calls: relaxation is applied as time advances.
        """
        cdef int i = _best_interaction(self, _agent_slot(self, agent_id), now)
        return None if i < 0 else self.slot_inter[i]

    def queue_order(self, double now):
        """Waiting interaction ids in service order: urgency, then enqueue time, then arrival."""
        return _queue_order(self, now)

    def next_relaxation_due(self, double now):
        """When the next relaxation step of any waiting interaction starts (after `now`)."""
        return _next_due(self, now)

    def next_gate_due(self, double now):
        """The earliest enqueued_at + delay after `now` over every waiting interaction with
        a gate and every agent serving that gate: when a delay next runs out."""
        return _next_gate_due(self, now)

    def agents_with_room(self):
        """How many AVAILABLE agents could take one more interaction on some channel."""
        return _agents_with_room(self)

    def queue_position(self, str interaction_id, double now):
        """1-based place of a waiting interaction in service order."""
        return _queue_position(self, _inter_slot(self, interaction_id), now)

    def pair_value(self, str interaction_id, str agent_id, double now):
        """What joint matching maximises for a pair: 0 if ineligible, else > 1. A queue gate
        can only make a pair ineligible: its rank does not enter the value."""
        cdef int i = _inter_slot(self, interaction_id), a = _agent_slot(self, agent_id)
        if _eligibility(self, i, a, now) != ELIGIBLE:
            return 0.0
        pref = self.inter_pref_agent[i]
        self.press_stamp += 1
        return (1.0 + _score(self, i, a, now, _step_at(self, i, now),
                             self.agent_index.get(pref, -1) if pref else -1, NULL)
                + self.w_urgency * _urgency(self, i, now) / 100.0)

    def score_matrix(self, interaction_ids, agent_ids, double now):
        """Pair values for joint matching, rows = interactions, columns = agents."""
        return _score_matrix(self, interaction_ids, agent_ids, now)

    def joint_candidates(self, double now):
        """The interactions (first in service order, up to the batch limit) and the agents
        with spare capacity that joint matching considers."""
        return _joint_candidates(self, now)
