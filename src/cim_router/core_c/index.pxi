# Agents and waiting interactions in and out of the index. Arguments arrive checked by the
# Core's methods; these keep the per-slot arrays and the bitsets over them in step.

# --- agents ------------------------------------------------------------------------------

cdef int _agent_slot(Core self, str agent_id) except -1:
    cdef object a = self.agent_index.get(agent_id)
    if a is None:
        raise KeyError(agent_id)
    return a


cdef void _put_agent(Core self, str agent_id, int tier, tuple sk, list caps, list loads,
                     int state, double idle_since, tuple gates) except *:
    cdef int a, k, ch
    for s, _ in sk:
        _ensure_skill(self, s)
    a = self.agent_index.get(agent_id, -1)
    if a < 0:
        if self.agent_free:
            a = self.agent_free.pop()
        else:
            if self.a_hi == self.a_cap:
                _grow_agents(self)
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
        _set_agent_skills(self, a, self.agent_skills[a], False)
        _set_skill_list(self, a, (), -1)
    self.a_hot[a].tier = tier
    for k in range(1, tier + 1):
        _set_bit(self.a_tier_ge[k], a)
    for k in range(tier + 1, NTIER + 1):
        _clear_bit(self.a_tier_ge[k], a)
    self.agent_skills[a] = sk
    _set_agent_skills(self, a, sk, True)
    _set_skill_list(self, a, sk, 1)
    _set_agent_gates(self, a, gates)
    for ch in range(NCH):
        self.a_capacity[a * NCH + ch] = caps[ch]
        self.a_load[a * NCH + ch] = loads[ch]
    self.a_state[a] = state
    self.a_hot[a].idle = idle_since
    _refresh_avail(self, a)
    if CIM_DEBUG:
        _check_agent(self, a)


cdef void _set_agent_skills(Core self, int a, tuple skills, bint on):
    cdef int s, lv, k
    for s, lv in skills:
        self.prof[s][a] = lv if on else 0
        for k in range(NLEV):
            if on and k < lv:
                _set_bit(self.has[s * NLEV + k], a)
            else:
                _clear_bit(self.has[s * NLEV + k], a)


cdef bint _remove_agent(Core self, str agent_id) except? -1:
    cdef int a = self.agent_index.pop(agent_id, -1), k, ch
    if a < 0:
        return False
    _set_agent_skills(self, a, self.agent_skills[a], False)
    _set_skill_list(self, a, (), -1)
    _set_agent_gates(self, a, ())
    for k in range(NTIER + 1):
        _clear_bit(self.a_tier_ge[k], a)
    for ch in range(NCH):
        _clear_bit(self.a_avail[ch], a)
    self.agent_skills[a] = ()
    self.slot_agent[a] = None
    self.agent_free.append(a)
    self.n_agents -= 1
    if CIM_DEBUG:
        _check_agent_gone(self, a)
    return True


cdef void _set_handle_time(Core self, int a, int channel, int skill, double seconds) except *:
    if skill < 0:
        self.a_hot[a].aht[channel] = self.aht_ref / (self.aht_ref + seconds)
        return
    _ensure_skill(self, skill)
    if self.aht_skill[skill] == NULL:
        self.aht_skill[skill] = <double*>_xrealloc(NULL, 0, self.a_cap * NCH * 8)
    self.aht_skill[skill][a * NCH + channel] = self.aht_ref / (self.aht_ref + seconds)


cdef bint _can_take(Core self, int a, int ch) noexcept:
    cdef int c, total = 0, excl = 0
    cdef uint8_t* load = self.a_load + a * NCH
    if load[ch] >= self.a_capacity[a * NCH + ch]:
        return False
    for c in range(NCH):
        total += load[c]
        if self.exclusive[c]:
            excl += load[c]
    return total == 0 if self.exclusive[ch] else excl == 0


cdef void _refresh_avail(Core self, int a) noexcept:
    cdef int ch
    cdef bint up = self.a_state[a] == STATE_AVAILABLE
    for ch in range(NCH):
        if up and _can_take(self, a, ch):
            _set_bit(self.a_avail[ch], a)
        else:
            _clear_bit(self.a_avail[ch], a)


# --- waiting interactions ----------------------------------------------------------------

cdef int _inter_slot(Core self, str interaction_id) except -1:
    cdef object i = self.inter_index.get(interaction_id)
    if i is None:
        raise KeyError(interaction_id)
    return i


cdef int _take_inter_slot(Core self) except -1:
    cdef int i
    if self.inter_free:
        return self.inter_free.pop()
    if self.i_hi == self.i_cap:
        _grow_interactions(self)
    i = self.i_hi
    self.i_hi += 1
    return i


cdef void _put_interaction(Core self, str interaction_id, int channel, tuple req, tuple pref,
                           double priority, double tier_bonus, int target_tier, int escalation,
                           double sla_seconds, double enqueued_at, str preferred_agent,
                           excluded, int gate) except *:
    cdef int i, k, step, min_tier
    for s, _ in req + pref:
        _ensure_skill(self, s)
    if gate >= 0:
        _ensure_gate(self, gate)
    excl = set(excluded)
    _remove_interaction(self, interaction_id)
    i = _take_inter_slot(self)
    self.inter_index[interaction_id] = i
    self.slot_inter[i] = interaction_id
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
    self.i_target[i] = sla_seconds
    self.i_gate[i] = gate
    _count_waiting(self, i, 1)
    _index_gate(self, i, True)
    step = _step_at(self, i, self.clock)
    self.i_step[i] = step
    _index_needs(self, i, step, True)
    _set_bit(self.i_waiting_ch[channel], i)
    for k in range(1, min_tier):
        _set_bit(self.i_need_tier[k], i)
    if step < self.n_relax:
        _heap_push(self, enqueued_at + self.relax_after[step], self.i_seq[i], i)
    self.n_waiting += 1
    if CIM_DEBUG:
        _check_waiting(self, i)


cdef bint _remove_interaction(Core self, str interaction_id) except? -1:
    cdef int i = self.inter_index.pop(interaction_id, -1), k
    if i < 0:
        return False
    _index_needs(self, i, self.i_step[i], False)
    _count_waiting(self, i, -1)
    _clear_bit(self.i_waiting_ch[self.i_channel[i]], i)
    _index_gate(self, i, False)
    self.i_gate[i] = -1
    for k in range(NTIER + 1):
        _clear_bit(self.i_need_tier[k], i)
    self.slot_inter[i] = None
    self.inter_excluded[i] = None
    self.inter_pref_agent[i] = ""
    self.i_seq[i] = -1
    self.inter_free.append(i)
    self.n_waiting -= 1
    if CIM_DEBUG:
        _check_gone(self, i)
    return True


cdef void _reserve(Core self, int i, int a, str interaction_id) except *:
    cdef int k = a * NCH + self.i_channel[i]
    if self.a_load[k] >= 255:
        raise ValueError("load must be 0..255")
    self.a_load[k] += 1
    _refresh_avail(self, a)
    _remove_interaction(self, interaction_id)
    if CIM_DEBUG:
        _check_agent(self, a)
