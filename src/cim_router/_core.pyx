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
"""

from libc.math cimport INFINITY, fabs
from libc.stdint cimport int32_t, int64_t, uint8_t, uint64_t
from libc.stdlib cimport free, malloc, realloc
from libc.string cimport memset

import numpy as np


from cim_router._core_common import MAX_ESCALATION as _MAX_ESCALATION
from cim_router._core_common import MAX_SKILL_ID as _MAX_SKILL_ID
from cim_router._core_common import MAX_STATE, CoreParams

IMPLEMENTATION = "compiled"

cdef extern from *:
    """
    #include <stdint.h>
    #ifndef CIM_DEBUG
    #define CIM_DEBUG 0
    #endif
    static inline int cim_ctz(uint64_t x) { return __builtin_ctzll(x); }
    """
    int cim_ctz(uint64_t x) nogil
    int __builtin_popcountll(uint64_t x) nogil
    bint CIM_DEBUG

cdef enum:
    ELIGIBLE = 0
    NOT_AVAILABLE = 1
    NO_CAPACITY = 2
    SKILL_MISSING = 3
    SKILL_LEVEL = 4
    TIER = 5
    EXCLUDED = 6
    STATE_AVAILABLE = 1


cdef int MAX_SKILL_ID = _MAX_SKILL_ID
cdef int MAX_ESCALATION = _MAX_ESCALATION


def _check_state(int state):
    if not 0 <= state <= MAX_STATE:
        raise ValueError(f"state must be 0..{MAX_STATE}, got {state}")


cdef void* _xrealloc(void* p, size_t old_bytes, size_t new_bytes) except NULL:
    """realloc that zeroes the new tail and raises MemoryError instead of returning NULL."""
    cdef char* q = <char*>realloc(p, new_bytes if new_bytes else 1)
    if q == NULL:
        raise MemoryError()
    if new_bytes > old_bytes:
        memset(q + old_bytes, 0, new_bytes - old_bytes)
    return q


cdef inline void _set_bit(uint64_t* bits, int i):
    bits[i >> 6] |= (<uint64_t>1) << (i & 63)


cdef inline void _clear_bit(uint64_t* bits, int i):
    bits[i >> 6] &= ~((<uint64_t>1) << (i & 63))


cdef inline bint _test_bit(uint64_t* bits, int i):
    return (bits[i >> 6] >> (i & 63)) & 1


cdef class Core:
    """Index of one tenant's agents and waiting interactions, and the routing decisions."""

    def __cinit__(self, policy):
        cdef int k
        self.a_cap = 64
        self.a_words = 1
        self.i_cap = 64
        self.i_words = 1
        self.agent_index = {}
        self.slot_agent = [None] * self.a_cap
        self.agent_skills = [()] * self.a_cap
        self.agent_free = []
        self.inter_index = {}
        self.slot_inter = [None] * self.i_cap
        self.inter_excluded = [None] * self.i_cap
        self.inter_pref_agent = [""] * self.i_cap
        self.inter_free = []
        self.a_state = <uint8_t*>_xrealloc(NULL, 0, self.a_cap)
        self.a_capacity = <uint8_t*>_xrealloc(NULL, 0, self.a_cap * NCH)
        self.a_load = <uint8_t*>_xrealloc(NULL, 0, self.a_cap * NCH)
        self.a_hot = <AgentHot*>_xrealloc(NULL, 0, self.a_cap * sizeof(AgentHot))
        for k in range(NCH):
            self.a_avail[k] = <uint64_t*>_xrealloc(NULL, 0, 8)
            self.i_waiting_ch[k] = <uint64_t*>_xrealloc(NULL, 0, 8)
        for k in range(NTIER + 1):
            self.a_tier_ge[k] = <uint64_t*>_xrealloc(NULL, 0, 8)
            self.i_need_tier[k] = <uint64_t*>_xrealloc(NULL, 0, 8)
        self.a_scratch = <uint64_t*>_xrealloc(NULL, 0, 8)
        self.i_scratch = <uint64_t*>_xrealloc(NULL, 0, 8)
        self.i_channel = <uint8_t*>_xrealloc(NULL, 0, self.i_cap)
        self.i_nreq = <uint8_t*>_xrealloc(NULL, 0, self.i_cap)
        self.i_npref = <uint8_t*>_xrealloc(NULL, 0, self.i_cap)
        self.i_min_tier = <uint8_t*>_xrealloc(NULL, 0, self.i_cap)
        self.i_target_tier = <uint8_t*>_xrealloc(NULL, 0, self.i_cap)
        self.i_step = <uint8_t*>_xrealloc(NULL, 0, self.i_cap)
        self.i_req_skill = <int32_t*>_xrealloc(NULL, 0, self.i_cap * MAXSK * 4)
        self.i_req_level = <uint8_t*>_xrealloc(NULL, 0, self.i_cap * MAXSK)
        self.i_pref_skill = <int32_t*>_xrealloc(NULL, 0, self.i_cap * MAXSK * 4)
        self.i_base = <double*>_xrealloc(NULL, 0, self.i_cap * sizeof(double))
        self.i_sla = <double*>_xrealloc(NULL, 0, self.i_cap * sizeof(double))
        self.i_enq = <double*>_xrealloc(NULL, 0, self.i_cap * sizeof(double))
        self.i_seq = <int64_t*>_xrealloc(NULL, 0, self.i_cap * sizeof(int64_t))
        self.heap_cap = 64
        self.heap = <HeapItem*>_xrealloc(NULL, 0, self.heap_cap * sizeof(HeapItem))
        self.block_buf = <uint64_t**>_xrealloc(NULL, 0, sizeof(void*))
        self.clock = -INFINITY  # no relaxation applied yet, whatever epoch `now` uses

    def __init__(self, policy):
        cdef int k
        p = CoreParams.from_policy(policy)
        self.params = p
        self.w_skill, self.w_pref, self.w_tier = p.w_skill, p.w_pref, p.w_tier
        self.w_idle, self.w_aht, self.w_sticky = p.w_idle, p.w_aht, p.w_sticky
        self.w_urgency = p.w_urgency
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
        self.joint_limit = p.joint_limit

    def __dealloc__(self):
        cdef int k, lv
        for k in range(self.n_skills):
            for lv in range(NLEV):
                free(self.has[k * NLEV + lv])
                free(self.need[k * NLEV + lv])
            free(self.prof[k])
            free(self.aht_skill[k])
        free(self.prof); free(self.has); free(self.aht_skill); free(self.need)
        free(self.demand); free(self.max_need); free(self.block_buf)
        for k in range(NCH):
            free(self.a_avail[k]); free(self.i_waiting_ch[k])
        for k in range(NTIER + 1):
            free(self.a_tier_ge[k]); free(self.i_need_tier[k])
        free(self.a_scratch); free(self.i_scratch)
        free(self.a_state); free(self.a_capacity); free(self.a_load)
        free(self.a_hot)
        free(self.i_channel); free(self.i_nreq); free(self.i_npref); free(self.i_min_tier)
        free(self.i_target_tier); free(self.i_step); free(self.i_req_skill)
        free(self.i_req_level); free(self.i_pref_skill); free(self.i_base); free(self.i_sla)
        free(self.i_enq); free(self.i_seq); free(self.heap)

    # --- storage growth -----------------------------------------------------------------

    cdef void _grow_agents(self) except *:
        cdef int old = self.a_cap, new = old * 2, k, lv
        cdef size_t ow = self.a_words * 8, nw = (new // 64) * 8
        self.a_state = <uint8_t*>_xrealloc(self.a_state, old, new)
        self.a_capacity = <uint8_t*>_xrealloc(self.a_capacity, old * NCH, new * NCH)
        self.a_load = <uint8_t*>_xrealloc(self.a_load, old * NCH, new * NCH)
        self.a_hot = <AgentHot*>_xrealloc(
            self.a_hot, old * sizeof(AgentHot), new * sizeof(AgentHot))
        for k in range(NCH):
            self.a_avail[k] = <uint64_t*>_xrealloc(self.a_avail[k], ow, nw)
        for k in range(NTIER + 1):
            self.a_tier_ge[k] = <uint64_t*>_xrealloc(self.a_tier_ge[k], ow, nw)
        self.a_scratch = <uint64_t*>_xrealloc(self.a_scratch, ow, nw)
        for k in range(self.n_skills):
            self.prof[k] = <uint8_t*>_xrealloc(self.prof[k], old, new)
            for lv in range(NLEV):
                self.has[k * NLEV + lv] = <uint64_t*>_xrealloc(self.has[k * NLEV + lv], ow, nw)
            if self.aht_skill[k] != NULL:
                self.aht_skill[k] = <double*>_xrealloc(
                    self.aht_skill[k], old * NCH * 8, new * NCH * 8)
        self.slot_agent.extend([None] * old)
        self.agent_skills.extend([()] * old)
        self.a_cap = new
        self.a_words = new // 64

    cdef void _grow_interactions(self) except *:
        cdef int old = self.i_cap, new = old * 2, k
        cdef size_t ow = self.i_words * 8, nw = (new // 64) * 8
        self.i_channel = <uint8_t*>_xrealloc(self.i_channel, old, new)
        self.i_nreq = <uint8_t*>_xrealloc(self.i_nreq, old, new)
        self.i_npref = <uint8_t*>_xrealloc(self.i_npref, old, new)
        self.i_min_tier = <uint8_t*>_xrealloc(self.i_min_tier, old, new)
        self.i_target_tier = <uint8_t*>_xrealloc(self.i_target_tier, old, new)
        self.i_step = <uint8_t*>_xrealloc(self.i_step, old, new)
        self.i_req_skill = <int32_t*>_xrealloc(self.i_req_skill, old * MAXSK * 4, new * MAXSK * 4)
        self.i_req_level = <uint8_t*>_xrealloc(self.i_req_level, old * MAXSK, new * MAXSK)
        self.i_pref_skill = <int32_t*>_xrealloc(
            self.i_pref_skill, old * MAXSK * 4, new * MAXSK * 4)
        self.i_base = <double*>_xrealloc(self.i_base, old * 8, new * 8)
        self.i_sla = <double*>_xrealloc(self.i_sla, old * 8, new * 8)
        self.i_enq = <double*>_xrealloc(self.i_enq, old * 8, new * 8)
        self.i_seq = <int64_t*>_xrealloc(self.i_seq, old * 8, new * 8)
        for k in range(NCH):
            self.i_waiting_ch[k] = <uint64_t*>_xrealloc(self.i_waiting_ch[k], ow, nw)
        for k in range(NTIER + 1):
            self.i_need_tier[k] = <uint64_t*>_xrealloc(self.i_need_tier[k], ow, nw)
        self.i_scratch = <uint64_t*>_xrealloc(self.i_scratch, ow, nw)
        for k in range(self.n_skills * NLEV):
            self.need[k] = <uint64_t*>_xrealloc(self.need[k], ow, nw)
        self.slot_inter.extend([None] * old)
        self.inter_excluded.extend([None] * old)
        self.inter_pref_agent.extend([""] * old)
        self.i_cap = new
        self.i_words = new // 64

    cdef void _ensure_skill(self, int s) except *:
        """Make room for skill id `s` (ids are small dense integers)."""
        cdef int old = self.n_skills, new, k, lv
        if s < old:
            return
        if s > MAX_SKILL_ID:
            raise ValueError(f"skill id {s} is too large")
        new = max(s + 1, old * 2, 16)
        self.prof = <uint8_t**>_xrealloc(self.prof, old * sizeof(void*), new * sizeof(void*))
        self.aht_skill = <double**>_xrealloc(
            self.aht_skill, old * sizeof(void*), new * sizeof(void*))
        self.has = <uint64_t**>_xrealloc(
            self.has, old * NLEV * sizeof(void*), new * NLEV * sizeof(void*))
        self.need = <uint64_t**>_xrealloc(
            self.need, old * NLEV * sizeof(void*), new * NLEV * sizeof(void*))
        self.demand = <int32_t*>_xrealloc(self.demand, old * (NLEV + 1) * 4, new * (NLEV + 1) * 4)
        self.max_need = <uint8_t*>_xrealloc(self.max_need, old, new)
        self.block_buf = <uint64_t**>_xrealloc(
            self.block_buf, (old + 1) * sizeof(void*), (new + 1) * sizeof(void*))
        for k in range(old, new):
            self.prof[k] = <uint8_t*>_xrealloc(NULL, 0, self.a_cap)
            for lv in range(NLEV):
                self.has[k * NLEV + lv] = <uint64_t*>_xrealloc(NULL, 0, self.a_words * 8)
                self.need[k * NLEV + lv] = <uint64_t*>_xrealloc(NULL, 0, self.i_words * 8)
        self.n_skills = new

    # --- agents -------------------------------------------------------------------------

    def upsert_agent(self, str agent_id, int tier, skills, capacity, int state, load,
                     double idle_since):
        """Insert or replace an agent; predicted handle times survive a replace."""
        cdef int a, k, ch
        if not 1 <= tier <= NTIER:
            raise ValueError(f"tier must be 1..5, got {tier}")
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
        for s, _ in sk:
            self._ensure_skill(s)
        a = self.agent_index.get(agent_id, -1)
        if a < 0:
            if self.agent_free:
                a = self.agent_free.pop()
            else:
                if self.a_hi == self.a_cap:
                    self._grow_agents()
                a = self.a_hi
                self.a_hi += 1
            self.agent_index[agent_id] = a
            self.slot_agent[a] = agent_id
            self.n_agents += 1
            for ch in range(NCH):
                self.a_hot[a].aht[ch] = self.aht_ref / (self.aht_ref + self.aht_seed[ch])
            for k in range(self.n_skills):
                if self.aht_skill[k] != NULL:
                    for ch in range(NCH):
                        self.aht_skill[k][a * NCH + ch] = 0.0
        else:
            self._set_agent_skills(a, self.agent_skills[a], False)
        self.a_hot[a].tier = tier
        for k in range(1, tier + 1):
            _set_bit(self.a_tier_ge[k], a)
        for k in range(tier + 1, NTIER + 1):
            _clear_bit(self.a_tier_ge[k], a)
        self.agent_skills[a] = sk
        self._set_agent_skills(a, sk, True)
        for ch in range(NCH):
            self.a_capacity[a * NCH + ch] = caps[ch]
            self.a_load[a * NCH + ch] = loads[ch]
        self.a_state[a] = state
        self.a_hot[a].idle = idle_since
        self._refresh_avail(a)

    cdef void _set_agent_skills(self, int a, tuple skills, bint on):
        cdef int s, lv, k
        for s, lv in skills:
            self.prof[s][a] = lv if on else 0
            for k in range(NLEV):
                if on and k < lv:
                    _set_bit(self.has[s * NLEV + k], a)
                else:
                    _clear_bit(self.has[s * NLEV + k], a)

    def remove_agent(self, str agent_id):
        cdef int a = self.agent_index.pop(agent_id, -1), k, ch
        if a < 0:
            return False
        self._set_agent_skills(a, self.agent_skills[a], False)
        for k in range(NTIER + 1):
            _clear_bit(self.a_tier_ge[k], a)
        for ch in range(NCH):
            _clear_bit(self.a_avail[ch], a)
        self.agent_skills[a] = ()
        self.slot_agent[a] = None
        self.agent_free.append(a)
        self.n_agents -= 1
        return True

    def set_agent_state(self, str agent_id, int state, double idle_since):
        cdef int a = self._agent_slot(agent_id)
        _check_state(state)
        self.a_state[a] = state
        self.a_hot[a].idle = idle_since
        self._refresh_avail(a)

    def set_agent_load(self, str agent_id, int channel, int load):
        cdef int a = self._agent_slot(agent_id)
        if not 0 <= channel < NCH:
            raise ValueError(f"channel must be 0..{NCH - 1}, got {channel}")
        if not 0 <= load <= 255:
            raise ValueError("load must be 0..255")
        self.a_load[a * NCH + channel] = load
        self._refresh_avail(a)

    def set_handle_time(self, str agent_id, int channel, int skill, double seconds):
        """Set the predicted handle time for a channel (skill -1) or a skill on a channel."""
        cdef int a = self._agent_slot(agent_id)
        if not 0 <= channel < NCH:
            raise ValueError(f"channel must be 0..{NCH - 1}, got {channel}")
        if not seconds > 0:
            raise ValueError("seconds must be > 0")
        if skill < 0:
            self.a_hot[a].aht[channel] = self.aht_ref / (self.aht_ref + seconds)
            return
        self._ensure_skill(skill)
        if self.aht_skill[skill] == NULL:
            self.aht_skill[skill] = <double*>_xrealloc(NULL, 0, self.a_cap * NCH * 8)
        self.aht_skill[skill][a * NCH + channel] = self.aht_ref / (self.aht_ref + seconds)

    def has_agent(self, str agent_id):
        return agent_id in self.agent_index

    def agent_count(self):
        return self.n_agents

    def agent_ids(self):
        return [x for x in self.slot_agent[:self.a_hi] if x is not None]

    def agent_idle_since(self, str agent_id):
        return self.a_hot[self._agent_slot(agent_id)].idle

    cdef int _agent_slot(self, str agent_id) except -1:
        cdef object a = self.agent_index.get(agent_id)
        if a is None:
            raise KeyError(agent_id)
        return a

    cdef bint _can_take(self, int a, int ch) noexcept:
        cdef int c, total = 0, excl = 0
        cdef uint8_t* load = self.a_load + a * NCH
        if load[ch] >= self.a_capacity[a * NCH + ch]:
            return False
        for c in range(NCH):
            total += load[c]
            if self.exclusive[c]:
                excl += load[c]
        return total == 0 if self.exclusive[ch] else excl == 0

    cdef void _refresh_avail(self, int a) noexcept:
        cdef int ch
        cdef bint up = self.a_state[a] == STATE_AVAILABLE
        for ch in range(NCH):
            if up and self._can_take(a, ch):
                _set_bit(self.a_avail[ch], a)
            else:
                _clear_bit(self.a_avail[ch], a)

    # --- interactions -------------------------------------------------------------------

    def add_interaction(self, str interaction_id, int channel, required, preferred,
                        double priority, double tier_bonus, int target_tier, int escalation,
                        double sla_seconds, double enqueued_at, str preferred_agent="",
                        excluded=()):
        """Put an interaction in the waiting set (replacing one with the same id)."""
        cdef int i, k, step, min_tier
        if not 0 <= channel < NCH:
            raise ValueError(f"channel must be 0..{NCH - 1}, got {channel}")
        if not sla_seconds > 0:
            raise ValueError("sla_seconds must be > 0")
        if not 1 <= target_tier <= NTIER or not 0 <= escalation <= MAX_ESCALATION:
            raise ValueError(f"target_tier must be 1..5 and escalation 0..{MAX_ESCALATION}")
        req = tuple((int(s), int(lv)) for s, lv in required)
        pref = tuple((int(s), int(lv)) for s, lv in preferred)
        for what, group in (("required", req), ("preferred", pref)):
            for s, lv in group:
                if s < 0 or not 1 <= lv <= NLEV:
                    raise ValueError(f"{what}: skill ids are >= 0 and levels 1..{NLEV}")
            if len({s for s, _ in group}) != len(group):
                raise ValueError(f"{what}: a skill is listed twice")
        if len(req) > MAXSK or len(pref) > MAXSK:
            raise ValueError("at most 8 required and 8 preferred skills")
        for s, _ in req + pref:
            self._ensure_skill(s)
        self.remove_interaction(interaction_id)
        i = self._take_inter_slot()
        self.inter_index[interaction_id] = i
        self.slot_inter[i] = interaction_id
        excl = set(excluded)
        self.inter_excluded[i] = excl if excl else None
        self.inter_pref_agent[i] = preferred_agent
        self.next_seq += 1
        self.i_seq[i] = self.next_seq
        self.i_channel[i] = channel
        self.i_nreq[i] = len(req)
        for k in range(len(req)):
            self.i_req_skill[i * MAXSK + k] = req[k][0]
            self.i_req_level[i * MAXSK + k] = req[k][1]
        self.i_npref[i] = len(pref)
        for k in range(len(pref)):
            self.i_pref_skill[i * MAXSK + k] = pref[k][0]
        min_tier = self.esc_min_tier[min(escalation, self.n_esc - 1)]
        self.i_min_tier[i] = min_tier
        self.i_target_tier[i] = max(target_tier, min_tier)
        self.i_base[i] = priority + tier_bonus + self.esc_bonus * escalation
        # Stored as aging points per second waited, so ordering needs no division.
        self.i_sla[i] = self.aging_rate / sla_seconds
        self.i_enq[i] = enqueued_at
        step = self._step_at(i, self.clock)
        self.i_step[i] = step
        self._index_needs(i, step, True)
        _set_bit(self.i_waiting_ch[channel], i)
        for k in range(1, min_tier):
            _set_bit(self.i_need_tier[k], i)
        if step < self.n_relax:
            self._heap_push(enqueued_at + self.relax_after[step], self.i_seq[i], i)
        self.n_waiting += 1

    cdef int _take_inter_slot(self) except -1:
        cdef int i
        if self.inter_free:
            return self.inter_free.pop()
        if self.i_hi == self.i_cap:
            self._grow_interactions()
        i = self.i_hi
        self.i_hi += 1
        return i

    def remove_interaction(self, str interaction_id):
        cdef int i = self.inter_index.pop(interaction_id, -1), k
        if i < 0:
            return False
        self._index_needs(i, self.i_step[i], False)
        _clear_bit(self.i_waiting_ch[self.i_channel[i]], i)
        for k in range(NTIER + 1):
            _clear_bit(self.i_need_tier[k], i)
        self.slot_inter[i] = None
        self.inter_excluded[i] = None
        self.inter_pref_agent[i] = ""
        self.i_seq[i] = -1
        self.inter_free.append(i)
        self.n_waiting -= 1
        return True

    def reserve(self, str interaction_id, str agent_id):
        """Take a waiting interaction out of the queue and count it in the agent's load."""
        cdef int i = self._inter_slot(interaction_id), a = self._agent_slot(agent_id)
        cdef int k = a * NCH + self.i_channel[i]
        if self.a_load[k] >= 255:
            raise ValueError("load must be 0..255")
        self.a_load[k] += 1
        self._refresh_avail(a)
        self.remove_interaction(interaction_id)

    def exclude_agent(self, str interaction_id, str agent_id):
        cdef int i = self._inter_slot(interaction_id)
        if self.inter_excluded[i] is None:
            self.inter_excluded[i] = set()
        self.inter_excluded[i].add(agent_id)

    def waiting_count(self):
        return self.n_waiting

    def is_waiting(self, str interaction_id):
        return interaction_id in self.inter_index

    cdef int _inter_slot(self, str interaction_id) except -1:
        cdef object i = self.inter_index.get(interaction_id)
        if i is None:
            raise KeyError(interaction_id)
        return i

    # --- relaxation over time -----------------------------------------------------------

    cdef int _step_at(self, int i, double now) noexcept:
        cdef int step = 0, k
        for k in range(self.n_relax):
            if now >= self.i_enq[i] + self.relax_after[k]:
                step += 1
        return step

    cdef int _min_level(self, int i, int k, int step) noexcept:
        cdef int lv = self.i_req_level[i * MAXSK + k]
        if step:
            lv -= self.relax_drop[step - 1]
        return lv if lv > 1 else 1

    cdef void _index_needs(self, int i, int step, bint on) noexcept:
        """Add or remove interaction `i`'s skill needs, at relaxation `step`, to the index."""
        cdef int k, s, lv, p
        cdef int32_t* dem
        for k in range(self.i_nreq[i]):
            s = self.i_req_skill[i * MAXSK + k]
            lv = self._min_level(i, k, step)
            dem = self.demand + s * (NLEV + 1)
            for p in range(lv):
                if on:
                    _set_bit(self.need[s * NLEV + p], i)
                else:
                    _clear_bit(self.need[s * NLEV + p], i)
            if on:
                dem[lv] += 1
                if lv > self.max_need[s]:
                    self.max_need[s] = lv
            else:
                dem[lv] -= 1
                if dem[lv] == 0 and lv == self.max_need[s]:
                    while lv > 0 and dem[lv] == 0:
                        lv -= 1
                    self.max_need[s] = lv

    cdef void _heap_push(self, double due, int64_t seq, int slot) except *:
        cdef int j, parent
        cdef HeapItem item
        if self.heap_n == self.heap_cap:
            self.heap = <HeapItem*>_xrealloc(self.heap, self.heap_cap * sizeof(HeapItem),
                                             self.heap_cap * 2 * sizeof(HeapItem))
            self.heap_cap *= 2
        item.due = due
        item.seq = seq
        item.slot = slot
        j = self.heap_n
        self.heap_n += 1
        while j > 0:
            parent = (j - 1) >> 1
            if self.heap[parent].due <= due:
                break
            self.heap[j] = self.heap[parent]
            j = parent
        self.heap[j] = item

    cdef void _heap_pop(self) noexcept:
        cdef int j = 0, child
        cdef HeapItem last
        self.heap_n -= 1
        if self.heap_n == 0:
            return
        last = self.heap[self.heap_n]
        while True:
            child = 2 * j + 1
            if child >= self.heap_n:
                break
            if child + 1 < self.heap_n and self.heap[child + 1].due < self.heap[child].due:
                child += 1
            if self.heap[child].due >= last.due:
                break
            self.heap[j] = self.heap[child]
            j = child
        self.heap[j] = last

    cdef void _advance(self, double now) except *:
        """Apply every relaxation step that has come due by `now` to the need bitsets."""
        cdef int i, step
        cdef HeapItem top
        if now <= self.clock:
            return
        self.clock = now
        while self.heap_n and self.heap[0].due <= now:
            top = self.heap[0]
            self._heap_pop()
            i = top.slot
            if self.i_seq[i] != top.seq:
                continue
            step = self._step_at(i, now)
            if step != self.i_step[i]:
                self._index_needs(i, self.i_step[i], False)
                self._index_needs(i, step, True)
                self.i_step[i] = step
            if step < self.n_relax:
                self._heap_push(self.i_enq[i] + self.relax_after[step], top.seq, i)

    # --- the rules ----------------------------------------------------------------------

    cdef int _eligibility(self, int i, int a, double now):
        cdef int k, s, have, step
        if self.a_state[a] != STATE_AVAILABLE:
            return NOT_AVAILABLE
        if not self._can_take(a, self.i_channel[i]):
            return NO_CAPACITY
        step = self._step_at(i, now)
        for k in range(self.i_nreq[i]):
            s = self.i_req_skill[i * MAXSK + k]
            have = self.prof[s][a]
            if have == 0:
                return SKILL_MISSING
            if have < self._min_level(i, k, step):
                return SKILL_LEVEL
        if self.a_hot[a].tier < self.i_min_tier[i]:
            return TIER
        excl = self.inter_excluded[i]
        if excl is not None and self.slot_agent[a] in excl:
            return EXCLUDED
        return ELIGIBLE

    cdef double _score(self, int i, int a, double now, int step, int pref_slot, double* terms) noexcept:
        cdef int k, n, ch = self.i_channel[i]
        cdef int32_t* sk
        cdef double skill = 0.0, pref = 0.0, tier, idle, aht = 0.0, sticky, total
        cdef double* hs
        n = self.i_nreq[i]
        sk = self.i_req_skill + i * MAXSK
        for k in range(n):
            skill += self.prof[sk[k]][a]
        skill = skill * self.inv_mean[n] if n else 1.0
        n = self.i_npref[i]
        if n and not (step and self.relax_drop_pref[step - 1]):
            sk = self.i_pref_skill + i * MAXSK
            for k in range(n):
                pref += self.prof[sk[k]][a]
            pref = pref * self.inv_mean[n]
        tier = 1.0 - fabs(<double>(<int>self.a_hot[a].tier - <int>self.i_target_tier[i])) / 4.0
        idle = (now - self.a_hot[a].idle) * self.inv_idle_cap
        if idle < 0.0:
            idle = 0.0
        elif idle > 1.0:
            idle = 1.0
        # Handle-time terms are cached as ref / (ref + seconds): the skill's on this
        # channel if known, else the channel's (its policy seed until work is recorded).
        if self.i_nreq[i]:
            hs = self.aht_skill[self.i_req_skill[i * MAXSK]]
            if hs != NULL:
                aht = hs[a * NCH + ch]
        if aht <= 0.0:
            aht = self.a_hot[a].aht[ch]
        sticky = 1.0 if a == pref_slot else 0.0
        total = (self.w_skill * skill + self.w_pref * pref + self.w_tier * tier
                 + self.w_idle * idle + self.w_aht * aht + self.w_sticky * sticky)
        if terms != NULL:
            terms[0] = skill; terms[1] = pref; terms[2] = tier; terms[3] = idle
            terms[4] = aht; terms[5] = sticky; terms[6] = total
        return total

    cdef double _urgency(self, int i, double now) noexcept:
        cdef double wait = now - self.i_enq[i], aging
        if wait < 0.0:
            wait = 0.0
        aging = self.i_sla[i] * wait
        if aging > self.aging_cap:
            aging = self.aging_cap
        return self.i_base[i] + aging

    def eligibility(self, str interaction_id, str agent_id, double now):
        """0 if the agent may take the interaction now, else the first failing rule's code."""
        return self._eligibility(self._inter_slot(interaction_id), self._agent_slot(agent_id), now)

    def score_terms(self, str interaction_id, str agent_id, double now):
        """(skill, preferred, tier, idle, handle_time, sticky, total) for one pair."""
        cdef double terms[7]
        cdef int i = self._inter_slot(interaction_id), a = self._agent_slot(agent_id)
        pref = self.inter_pref_agent[i]
        self._score(i, a, now, self._step_at(i, now),
                    self.agent_index.get(pref, -1) if pref else -1, terms)
        return tuple([terms[k] for k in range(7)])

    def urgency(self, str interaction_id, double now):
        return self._urgency(self._inter_slot(interaction_id), now)

    def relaxation_step(self, str interaction_id, double now):
        return self._step_at(self._inter_slot(interaction_id), now)

    # --- decisions ----------------------------------------------------------------------

    cdef int _eligible_agents(self, int i, double now) except -1:
        """Fill a_scratch with the agents eligible for `i`; returns the words in use."""
        cdef uint64_t* sets[MAXSK + 2]
        cdef int n = 0, k, s, w, step, nw = (self.a_hi + 63) >> 6, a
        cdef uint64_t x
        cdef uint64_t* out = self.a_scratch
        step = self._step_at(i, now)
        sets[n] = self.a_avail[self.i_channel[i]]; n += 1
        for k in range(self.i_nreq[i]):
            s = self.i_req_skill[i * MAXSK + k]
            sets[n] = self.has[s * NLEV + self._min_level(i, k, step) - 1]; n += 1
        if self.i_min_tier[i] > 1:
            sets[n] = self.a_tier_ge[self.i_min_tier[i]]; n += 1
        for w in range(nw):
            x = sets[0][w]
            for k in range(1, n):
                x &= sets[k][w]
            out[w] = x
        excl = self.inter_excluded[i]
        if excl is not None:
            for agent_id in excl:
                a = self.agent_index.get(agent_id, -1)
                if a >= 0:
                    _clear_bit(out, a)
        return nw

    cdef int _best_agent(self, int i, double now) except -2:
        cdef int nw, w, a, best = -1, step, pref_slot = -1
        cdef uint64_t x
        cdef double score, best_score = 0.0
        nw = self._eligible_agents(i, now)
        step = self._step_at(i, now)
        pref = self.inter_pref_agent[i]
        if pref:
            pref_slot = self.agent_index.get(pref, -1)
        for w in range(nw):
            x = self.a_scratch[w]
            while x:
                a = (w << 6) + cim_ctz(x)
                x &= x - 1
                score = self._score(i, a, now, step, pref_slot, NULL)
                if best < 0 or score > best_score:
                    best, best_score = a, score
                elif score == best_score:
                    if self.a_hot[a].idle < self.a_hot[best].idle or (
                            self.a_hot[a].idle == self.a_hot[best].idle
                            and self.slot_agent[a] < self.slot_agent[best]):
                        best = a
        if CIM_DEBUG and best >= 0:
            assert self._eligibility(i, best, now) == ELIGIBLE
        return best

    def best_agent(self, str interaction_id, double now):
        """The eligible agent with the highest score; ties: longest idle, then lowest id."""
        cdef int a = self._best_agent(self._inter_slot(interaction_id), now)
        return None if a < 0 else self.slot_agent[a]

    cdef int _best_interaction(self, int a, double now) except -2:
        cdef int ch, w, s, p, i, k, best = -1, nw = (self.i_hi + 63) >> 6, nb = 0, nc = 0
        cdef uint64_t* out = self.i_scratch
        cdef uint64_t** blocks = self.block_buf
        cdef uint64_t* chans[NCH]
        cdef uint64_t x
        cdef double u, best_u = 0.0
        self._advance(now)
        for ch in range(NCH):
            if _test_bit(self.a_avail[ch], a):
                chans[nc] = self.i_waiting_ch[ch]
                nc += 1
        if not nc:
            return -1
        # "Needs more than this agent has": one bitset per skill the agent falls short in.
        if self.a_hot[a].tier < NTIER:
            blocks[nb] = self.i_need_tier[self.a_hot[a].tier]
            nb += 1
        for s in range(self.n_skills):
            p = self.prof[s][a]
            if p < self.max_need[s]:
                blocks[nb] = self.need[s * NLEV + p]
                nb += 1
        for w in range(nw):
            x = chans[0][w]
            for k in range(1, nc):
                x |= chans[k][w]
            k = 0
            while x and k < nb:
                x &= ~blocks[k][w]
                k += 1
            out[w] = x
        for w in range(nw):
            x = out[w]
            while x:
                i = (w << 6) + cim_ctz(x)
                x &= x - 1
                if best >= 0 and self.i_base[i] + self.aging_cap < best_u:
                    continue  # cannot win even with full aging
                u = self._urgency(i, now)
                if best >= 0 and (u < best_u or (u == best_u and (
                        self.i_enq[i] > self.i_enq[best]
                        or (self.i_enq[i] == self.i_enq[best] and self.i_seq[i] > self.i_seq[best])))):
                    continue
                excl = self.inter_excluded[i]
                if excl is not None and self.slot_agent[a] in excl:
                    continue
                best, best_u = i, u
        if CIM_DEBUG and best >= 0:
            assert self._eligibility(best, a, now) == ELIGIBLE
        return best

    def best_interaction(self, str agent_id, double now):
        """The first waiting interaction, in service order, that the agent may take.

        `now` must not go backwards between calls: relaxation is applied as time advances.
        """
        cdef int i = self._best_interaction(self._agent_slot(agent_id), now)
        return None if i < 0 else self.slot_inter[i]

    def queue_order(self, double now):
        """Waiting interaction ids in service order: urgency, then enqueue time, then arrival."""
        cdef int i
        keys = []
        for i in range(self.i_hi):
            if self.slot_inter[i] is not None:
                keys.append((-self._urgency(i, now), self.i_enq[i], self.i_seq[i], i))
        keys.sort()
        return [self.slot_inter[k[3]] for k in keys]

    def next_relaxation_due(self, double now):
        """When the next relaxation step of any waiting interaction starts (after `now`)."""
        self._advance(now)
        while self.heap_n and self.i_seq[self.heap[0].slot] != self.heap[0].seq:
            self._heap_pop()
        return self.heap[0].due if self.heap_n else None

    def agents_with_room(self):
        """How many AVAILABLE agents could take one more interaction on some channel."""
        cdef int w, ch, n = 0
        cdef uint64_t x
        for w in range(self.a_words):
            x = 0
            for ch in range(NCH):
                x |= self.a_avail[ch][w]
            n += __builtin_popcountll(x)
        return n

    def queue_position(self, str interaction_id, double now):
        """1-based place of a waiting interaction in service order."""
        cdef int me = self._inter_slot(interaction_id), i, ahead = 0
        cdef double mu = self._urgency(me, now), u
        for i in range(self.i_hi):
            if self.i_seq[i] < 0 or i == me:
                continue
            u = self._urgency(i, now)
            if u > mu or (u == mu and (self.i_enq[i] < self.i_enq[me] or (
                    self.i_enq[i] == self.i_enq[me] and self.i_seq[i] < self.i_seq[me]))):
                ahead += 1
        return ahead + 1

    def pair_value(self, str interaction_id, str agent_id, double now):
        """What joint matching maximises for a pair: 0 if ineligible, else > 1."""
        cdef int i = self._inter_slot(interaction_id), a = self._agent_slot(agent_id)
        if self._eligibility(i, a, now) != ELIGIBLE:
            return 0.0
        pref = self.inter_pref_agent[i]
        return (1.0 + self._score(i, a, now, self._step_at(i, now),
                                  self.agent_index.get(pref, -1) if pref else -1, NULL)
                + self.w_urgency * self._urgency(i, now) / 100.0)

    def score_matrix(self, interaction_ids, agent_ids, double now):
        """Pair values for joint matching, rows = interactions, columns = agents."""
        cdef Py_ssize_t r, c, nr = len(interaction_ids), nc = len(agent_ids)
        cdef int i, a, step, pref_slot
        cdef double urg
        out = np.zeros((nr, nc), dtype=np.float64)
        cdef double[:, ::1] m = out
        cdef int[::1] cols = np.empty(nc, dtype=np.intc)
        for c in range(nc):
            cols[c] = self._agent_slot(agent_ids[c])
        for r in range(nr):
            i = self._inter_slot(interaction_ids[r])
            self._eligible_agents(i, now)
            step = self._step_at(i, now)
            pref = self.inter_pref_agent[i]
            pref_slot = self.agent_index.get(pref, -1) if pref else -1
            urg = self.w_urgency * self._urgency(i, now) / 100.0
            for c in range(nc):
                a = cols[c]
                if _test_bit(self.a_scratch, a):
                    m[r, c] = 1.0 + self._score(i, a, now, step, pref_slot, NULL) + urg
        return out

    def joint_candidates(self, double now):
        """The interactions (first in service order, up to the batch limit) and the agents
        with spare capacity that joint matching considers."""
        cdef int a, ch
        iids = self.queue_order(now)[:self.joint_limit]
        aids = []
        for a in range(self.a_hi):
            for ch in range(NCH):
                if _test_bit(self.a_avail[ch], a):
                    aids.append(self.slot_agent[a])
                    break
        aids.sort()
        return iids, aids

    def assign_joint(self, double now):
        """A maximum-total-value set of (interaction, agent) pairs, one per agent."""
        from cim_router._lsap import solve

        iids, aids = self.joint_candidates(now)
        if not iids or not aids:
            return []
        matrix = self.score_matrix(iids, aids, now)
        rows, cols = solve(matrix)
        return [(iids[r], aids[c]) for r, c in zip(rows, cols) if matrix[r, c] > 0.0]
