# The Core's storage: slot-indexed C arrays and bitsets, allocated, grown and freed here.
# Every array starts zeroed and grows by doubling, so a new slot or skill reads as empty.

cdef void _allocate(Core self) except *:
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
    self.a_gate_list = <int32_t**>_xrealloc(NULL, 0, self.a_cap * sizeof(void*))
    self.a_skill_list = <int32_t**>_xrealloc(NULL, 0, self.a_cap * sizeof(void*))
    self.i_gate = <int32_t*>_xrealloc(NULL, 0, self.i_cap * 4)
    self.i_gated = <uint64_t*>_xrealloc(NULL, 0, 8)
    self.gate_delay_count = []
    self.gate_delays = []
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
    self.i_target = <double*>_xrealloc(NULL, 0, self.i_cap * sizeof(double))
    self.i_seq = <int64_t*>_xrealloc(NULL, 0, self.i_cap * sizeof(int64_t))
    self.heap_cap = 64
    self.heap = <HeapItem*>_xrealloc(NULL, 0, self.heap_cap * sizeof(HeapItem))
    self.block_buf = <uint64_t**>_xrealloc(NULL, 0, sizeof(void*))
    self.clock = -INFINITY  # no relaxation applied yet, whatever epoch `now` uses


cdef void _release(Core self) noexcept:
    # Safe on a partly built Core: free(NULL) is a no-op and n_skills counts only
    # the per-skill arrays that exist.
    cdef int k, lv
    for k in range(self.n_skills):
        for lv in range(NLEV):
            free(self.has[k * NLEV + lv])
            free(self.need[k * NLEV + lv])
        free(self.prof[k])
        free(self.aht_skill[k])
    for k in range(self.n_gates):
        free(self.g_agents[k]); free(self.g_rank[k]); free(self.g_delay[k])
        free(self.g_waiting[k])
    free(self.g_agents); free(self.g_rank); free(self.g_delay); free(self.g_waiting)
    free(self.g_hits); free(self.g_total); free(self.g_as_of); free(self.g_share)
    free(self.g_boost)
    if self.a_gate_list != NULL:
        for k in range(self.a_cap):
            free(self.a_gate_list[k])
    if self.a_skill_list != NULL:
        for k in range(self.a_cap):
            free(self.a_skill_list[k])
    free(self.a_gate_list); free(self.a_skill_list); free(self.i_gate); free(self.i_gated)
    free(self.sk_agents); free(self.sk_waiting); free(self.sk_arrivals)
    free(self.sk_arrived_at); free(self.sk_press); free(self.sk_press_stamp)
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
    free(self.i_enq); free(self.i_target); free(self.i_seq); free(self.heap)


cdef void _grow_agents(Core self) except *:
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
    self.a_gate_list = <int32_t**>_xrealloc(
        self.a_gate_list, old * sizeof(void*), new * sizeof(void*))
    self.a_skill_list = <int32_t**>_xrealloc(
        self.a_skill_list, old * sizeof(void*), new * sizeof(void*))
    for k in range(self.n_gates):
        self.g_agents[k] = <uint64_t*>_xrealloc(self.g_agents[k], ow, nw)
        self.g_rank[k] = <uint8_t*>_xrealloc(self.g_rank[k], old, new)
        self.g_delay[k] = <double*>_xrealloc(self.g_delay[k], old * 8, new * 8)
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


cdef void _grow_interactions(Core self) except *:
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
    self.i_target = <double*>_xrealloc(self.i_target, old * 8, new * 8)
    self.i_seq = <int64_t*>_xrealloc(self.i_seq, old * 8, new * 8)
    self.i_gate = <int32_t*>_xrealloc(self.i_gate, old * 4, new * 4)
    self.i_gated = <uint64_t*>_xrealloc(self.i_gated, ow, nw)
    for k in range(self.n_gates):
        self.g_waiting[k] = <uint64_t*>_xrealloc(self.g_waiting[k], ow, nw)
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


cdef void _ensure_skill(Core self, int s) except *:
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
    self.sk_agents = <int32_t*>_xrealloc(self.sk_agents, old * 4, new * 4)
    self.sk_waiting = <int32_t*>_xrealloc(self.sk_waiting, old * 4, new * 4)
    self.sk_arrivals = <double*>_xrealloc(self.sk_arrivals, old * 8, new * 8)
    self.sk_arrived_at = <double*>_xrealloc(self.sk_arrived_at, old * 8, new * 8)
    self.sk_press = <double*>_xrealloc(self.sk_press, old * 8, new * 8)
    self.sk_press_stamp = <int64_t*>_xrealloc(self.sk_press_stamp, old * 8, new * 8)
    for k in range(old, new):
        self.sk_arrived_at[k] = -INFINITY
        self.prof[k] = <uint8_t*>_xrealloc(NULL, 0, self.a_cap)
        for lv in range(NLEV):
            self.has[k * NLEV + lv] = <uint64_t*>_xrealloc(NULL, 0, self.a_words * 8)
            self.need[k * NLEV + lv] = <uint64_t*>_xrealloc(NULL, 0, self.i_words * 8)
    self.n_skills = new
