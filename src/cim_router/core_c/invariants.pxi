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
    return 0
