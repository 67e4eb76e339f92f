# Invariant checks of the index, compiled into the debug build only (CIM_ROUTER_DEBUG=1):
# every call is under `if CIM_DEBUG:`, a C constant, so the normal build drops them. They
# re-derive a slot's bits from its arrays, O(skills x levels) each, and are called where
# the bits change and where a decision starts, from functions that can raise (an assert in
# a noexcept function could only print a warning).

cdef int _check_agent(Core self, int a) except -1:
    """A live agent's bitsets say what its state, load, tier and skills say."""
    cdef int ch, k, s, lv
    assert self.slot_agent[a] is not None, f"agent slot {a} is free"
    assert len(self.agent_index) == self.n_agents
    for ch in range(NCH):
        assert _test_bit(self.a_avail[ch], a) == (
            self.a_state[a] == STATE_AVAILABLE and _can_take(self, a, ch)
        ), f"agent slot {a}: availability on channel {ch}"
    for k in range(1, NTIER + 1):
        assert _test_bit(self.a_tier_ge[k], a) == (self.a_hot[a].tier >= k), f"agent slot {a}: tier"
    held = dict(self.agent_skills[a])
    for s in range(self.n_skills):
        lv = held.get(s, 0)
        assert self.prof[s][a] == lv, f"agent slot {a}: proficiency in skill {s}"
        for k in range(NLEV):
            assert _test_bit(self.has[s * NLEV + k], a) == (k < lv), f"agent slot {a}: skill {s}"
    _check_agent_gates(self, a)
    return 0


cdef int _check_agent_gates(Core self, int a) except -1:
    """An agent's gate list, the gate bitsets and the rank table agree; each of its gates'
    delay counts is a recount over the live agents."""
    cdef int k, g
    cdef int32_t* gl = self.a_gate_list[a]
    mine = set()
    if gl != NULL:
        assert 1 <= gl[0] <= MAXGATES, f"agent slot {a}: {gl[0]} gates"
        mine = {gl[1 + k] for k in range(gl[0])}
        assert len(mine) == gl[0], f"agent slot {a}: a gate listed twice"
    for g in range(self.n_gates):
        assert _test_bit(self.g_agents[g], a) == (g in mine), f"agent slot {a}: gate {g} bit"
        assert (self.g_rank[g][a] > 0) == (g in mine), f"agent slot {a}: gate {g} rank"
        if g not in mine:
            assert self.g_delay[g][a] == 0.0, f"agent slot {a}: gate {g} delay"
    for g in mine:
        _check_gate_delays(self, g)
    return 0


cdef int _check_gate_delays(Core self, int g) except -1:
    cdef int b
    counts = {}
    for b in range(self.a_hi):
        if self.slot_agent[b] is not None and self.g_rank[g][b]:
            counts[self.g_delay[g][b]] = counts.get(self.g_delay[g][b], 0) + 1
    assert self.gate_delay_count[g] == counts, f"gate {g}: delay counts"
    assert self.gate_delays[g] == sorted(counts), f"gate {g}: sorted delays"
    return 0


cdef int _check_agent_gone(Core self, int a) except -1:
    """A removed agent's slot is in no bitset, so no decision can pick it."""
    cdef int ch, k
    assert self.slot_agent[a] is None and len(self.agent_index) == self.n_agents
    for ch in range(NCH):
        assert not _test_bit(self.a_avail[ch], a), f"free agent slot {a}: available"
    for k in range(NTIER + 1):
        assert not _test_bit(self.a_tier_ge[k], a), f"free agent slot {a}: tier"
    for k in range(self.n_skills * NLEV):
        assert not _test_bit(self.has[k], a), f"free agent slot {a}: skill bits"
    assert self.a_gate_list[a] == NULL, f"free agent slot {a}: gate list"
    for k in range(self.n_gates):
        assert not _test_bit(self.g_agents[k], a), f"free agent slot {a}: gate bits"
        assert self.g_rank[k][a] == 0, f"free agent slot {a}: gate rank"
        _check_gate_delays(self, k)
    return 0


cdef int _check_demand(Core self, int s) except -1:
    """Counts of waiting needs by level are never negative; max_need is the highest in use."""
    cdef int lv, top = 0
    cdef int32_t* dem = self.demand + s * (NLEV + 1)
    for lv in range(NLEV + 1):
        assert dem[lv] >= 0, f"skill {s}: demand at level {lv} is {dem[lv]}"
        if dem[lv] > 0:
            top = lv
    assert self.max_need[s] == top, f"skill {s}: max_need {self.max_need[s]}, demand up to {top}"
    return 0


cdef int _check_waiting(Core self, int i) except -1:
    """A waiting interaction is in its own channel's waiting set only, and in the tier and
    need bitsets exactly as its minimum tier and its current relaxation step say."""
    cdef int ch, k, s, p
    assert self.slot_inter[i] is not None and self.i_seq[i] > 0, f"interaction slot {i} is free"
    assert len(self.inter_index) == self.n_waiting
    assert self.i_step[i] <= self.n_relax
    for ch in range(NCH):
        assert _test_bit(self.i_waiting_ch[ch], i) == (ch == self.i_channel[i]), (
            f"interaction slot {i}: waiting on channel {ch}")
    for k in range(NTIER + 1):
        assert _test_bit(self.i_need_tier[k], i) == (1 <= k < self.i_min_tier[i]), (
            f"interaction slot {i}: tier need {k}")
    needs = {}
    for k in range(self.i_nreq[i]):
        needs[self.i_req_skill[i * MAXSK + k]] = _min_level(self, i, k, self.i_step[i])
    for s in range(self.n_skills):
        for p in range(NLEV):
            assert _test_bit(self.need[s * NLEV + p], i) == (p < needs.get(s, 0)), (
                f"interaction slot {i}: need bits of skill {s}")
    for s in needs:
        _check_demand(self, s)
    _check_gated(self, i)
    return 0


cdef int _check_gated(Core self, int i) except -1:
    """A slot is behind gate g in the bitsets exactly when it waits with gate g."""
    cdef int g, w, n = 0
    cdef int gate = self.i_gate[i] if self.i_seq[i] > 0 else -1
    assert gate < self.n_gates, f"interaction slot {i}: gate {gate} has no tables"
    assert _test_bit(self.i_gated, i) == (gate >= 0), f"interaction slot {i}: gated bit"
    for g in range(self.n_gates):
        assert _test_bit(self.g_waiting[g], i) == (g == gate), f"interaction slot {i}: gate {g}"
    for w in range((self.i_hi + 63) >> 6):
        n += __builtin_popcountll(self.i_gated[w])
    assert n == self.n_gated, f"{self.n_gated} gated, {n} bits"
    return 0


cdef int _check_gone(Core self, int i) except -1:
    """An interaction that left the queue is in no waiting, tier or need bitset."""
    cdef int ch, k
    assert self.slot_inter[i] is None and self.i_seq[i] == -1
    assert len(self.inter_index) == self.n_waiting
    for ch in range(NCH):
        assert not _test_bit(self.i_waiting_ch[ch], i), f"gone slot {i}: waiting"
    for k in range(NTIER + 1):
        assert not _test_bit(self.i_need_tier[k], i), f"gone slot {i}: tier need"
    for k in range(self.n_skills * NLEV):
        assert not _test_bit(self.need[k], i), f"gone slot {i}: need bits"
    for k in range(self.i_nreq[i]):
        _check_demand(self, self.i_req_skill[i * MAXSK + k])
    assert self.i_gate[i] == -1, f"gone slot {i}: gate"
    _check_gated(self, i)
    return 0
