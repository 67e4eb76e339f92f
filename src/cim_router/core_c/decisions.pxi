# The decisions: the best agent for an interaction (an arrival), the best interaction for an
# agent (one frees up), the service order, and the inputs of joint matching.

cdef int _eligible_agents(Core self, int i, double now) except -1:
    """Fill a_scratch with the agents eligible for `i`; returns the words in use."""
    cdef uint64_t* sets[MAXSK + 3]
    cdef int n = 0, k, s, w, step, nw = (self.a_hi + 63) >> 6, a
    cdef uint64_t x
    cdef uint64_t* out = self.a_scratch
    step = _step_at(self, i, now)
    sets[n] = self.a_avail[self.i_channel[i]]; n += 1
    for k in range(self.i_nreq[i]):
        s = self.i_req_skill[i * MAXSK + k]
        sets[n] = self.has[s * NLEV + _min_level(self, i, k, step) - 1]; n += 1
    if self.i_min_tier[i] > 1:
        sets[n] = self.a_tier_ge[self.i_min_tier[i]]; n += 1
    if self.i_gate[i] >= 0:
        sets[n] = self.g_agents[self.i_gate[i]]; n += 1
    for w in range(nw):
        x = sets[0][w]
        for k in range(1, n):
            x &= sets[k][w]
        out[w] = x
    if self.i_gate[i] >= 0:
        _drop_gate_delayed(self, i, now, out, nw)
    excl = self.inter_excluded[i]
    if excl is not None:
        for agent_id in excl:
            a = self.agent_index.get(agent_id, -1)
            if a >= 0:
                _clear_bit(out, a)
    return nw


cdef int _best_agent(Core self, int i, double now) except -2:
    cdef int nw, w, a, best = -1, step, pref_slot = -1
    cdef uint64_t x
    cdef double score, best_score = 0.0
    if CIM_DEBUG:
        _check_waiting(self, i)
    nw = _eligible_agents(self, i, now)
    step = _step_at(self, i, now)
    self.press_stamp += 1
    pref = self.inter_pref_agent[i]
    if pref:
        pref_slot = self.agent_index.get(pref, -1)
    for w in range(nw):
        x = self.a_scratch[w]
        while x:
            a = (w << 6) + cim_ctz(x)
            x &= x - 1
            score = _score(self, i, a, now, step, pref_slot, NULL)
            if best < 0 or score > best_score:
                best, best_score = a, score
            elif score == best_score:
                if self.a_hot[a].idle < self.a_hot[best].idle or (
                        self.a_hot[a].idle == self.a_hot[best].idle
                        and self.slot_agent[a] < self.slot_agent[best]):
                    best = a
    if CIM_DEBUG and best >= 0:
        assert _eligibility(self, i, best, now) == ELIGIBLE
    return best


cdef int _best_interaction(Core self, int a, double now) except -2:
    cdef int ch, w, s, p, i, k, best = -1, nw = (self.i_hi + 63) >> 6, nb = 0, nc = 0
    cdef uint64_t* out = self.i_scratch
    cdef uint64_t** blocks = self.block_buf
    cdef uint64_t* chans[NCH]
    cdef uint64_t x
    cdef double u, best_u = 0.0
    if CIM_DEBUG:
        _check_agent(self, a)
    _advance(self, now)
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
    if self.n_gated:
        best = _pick_gated(self, a, now, nw)
        if CIM_DEBUG and best >= 0:
            assert _eligibility(self, best, a, now) == ELIGIBLE
        return best
    for w in range(nw):
        x = out[w]
        while x:
            i = (w << 6) + cim_ctz(x)
            x &= x - 1
            if best >= 0 and _urgency_bound(self, i, now) < best_u:
                continue  # cannot win even with full aging
            u = _urgency(self, i, now)
            if best >= 0 and (u < best_u or (u == best_u and (
                    self.i_enq[i] > self.i_enq[best]
                    or (self.i_enq[i] == self.i_enq[best] and self.i_seq[i] > self.i_seq[best])))):
                continue
            excl = self.inter_excluded[i]
            if excl is not None and self.slot_agent[a] in excl:
                continue
            best, best_u = i, u
    if CIM_DEBUG and best >= 0:
        assert _eligibility(self, best, a, now) == ELIGIBLE
    return best


cdef list _queue_order(Core self, double now):
    cdef int i
    keys = []
    for i in range(self.i_hi):
        if self.slot_inter[i] is not None:
            keys.append((-_urgency(self, i, now), self.i_enq[i], self.i_seq[i], i))
    keys.sort()
    return [self.slot_inter[k[3]] for k in keys]


cdef int _queue_position(Core self, int me, double now) noexcept:
    # A count of those ahead, so that one position costs no sort of the whole queue.
    cdef int i, ahead = 0
    cdef double mu = _urgency(self, me, now), u
    for i in range(self.i_hi):
        if self.i_seq[i] < 0 or i == me:
            continue
        u = _urgency(self, i, now)
        if u > mu or (u == mu and (self.i_enq[i] < self.i_enq[me] or (
                self.i_enq[i] == self.i_enq[me] and self.i_seq[i] < self.i_seq[me]))):
            ahead += 1
    return ahead + 1


cdef int _agents_with_room(Core self) noexcept:
    cdef int w, ch, n = 0
    cdef uint64_t x
    for w in range(self.a_words):
        x = 0
        for ch in range(NCH):
            x |= self.a_avail[ch][w]
        n += __builtin_popcountll(x)
    return n


cdef object _score_matrix(Core self, interaction_ids, agent_ids, double now):
    cdef Py_ssize_t r, c, nr = len(interaction_ids), nc = len(agent_ids)
    cdef int i, a, step, pref_slot
    cdef double urg
    out = np.zeros((nr, nc), dtype=np.float64)
    cdef double[:, ::1] m = out
    cdef int[::1] cols = np.empty(nc, dtype=np.intc)
    for c in range(nc):
        cols[c] = _agent_slot(self, agent_ids[c])
    self.press_stamp += 1
    for r in range(nr):
        i = _inter_slot(self, interaction_ids[r])
        self.press_stamp += 1  # the pressure memo holds for one interaction's channel
        _eligible_agents(self, i, now)
        step = _step_at(self, i, now)
        pref = self.inter_pref_agent[i]
        pref_slot = self.agent_index.get(pref, -1) if pref else -1
        urg = self.w_urgency * _urgency(self, i, now) / 100.0
        for c in range(nc):
            a = cols[c]
            if _test_bit(self.a_scratch, a):
                m[r, c] = 1.0 + _score(self, i, a, now, step, pref_slot, NULL) + urg
    return out


cdef tuple _joint_candidates(Core self, double now):
    cdef int a, ch
    iids = _queue_order(self, now)[:self.joint_limit]
    aids = []
    for a in range(self.a_hi):
        for ch in range(NCH):
            if _test_bit(self.a_avail[ch], a):
                aids.append(self.slot_agent[a])
                break
    aids.sort()
    return iids, aids


cdef object _rank_candidates(Core self, int i, double now):
    """For Explain: per rule's code, how many agents it stops (ELIGIBLE's count: those it
    lets through), and the ids of the best two eligible agents by score, then longest
    idle, then lowest id (as `_best_agent` ranks them)."""
    cdef int a, code, step, pref_slot = -1, first = -1, second = -1
    cdef double s, first_score = 0.0, second_score = 0.0
    counts = [0] * N_REASONS
    step = _step_at(self, i, now)
    self.press_stamp += 1
    pref = self.inter_pref_agent[i]
    if pref:
        pref_slot = self.agent_index.get(pref, -1)
    for a in range(self.a_hi):
        if self.slot_agent[a] is None:
            continue
        code = _eligibility(self, i, a, now)
        counts[code] += 1
        if code != ELIGIBLE:
            continue
        s = _score(self, i, a, now, step, pref_slot, NULL)
        if first < 0 or _ranks_ahead(self, s, a, first_score, first):
            second, second_score = first, first_score
            first, first_score = a, s
        elif second < 0 or _ranks_ahead(self, s, a, second_score, second):
            second, second_score = a, s
    return counts, [self.slot_agent[x] for x in (first, second) if x >= 0]


cdef bint _ranks_ahead(Core self, double s, int a, double t, int b):
    """Whether agent `a` scoring `s` ranks before agent `b` scoring `t`."""
    if s != t:
        return s > t
    if self.a_hot[a].idle != self.a_hot[b].idle:
        return self.a_hot[a].idle < self.a_hot[b].idle
    return self.slot_agent[a] < self.slot_agent[b]
