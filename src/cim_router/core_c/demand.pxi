# Demand and service levels: what the scarcity term and the queue boost read. Per skill, the
# agents holding it, the waiting work needing it and its recent arrivals (a count decaying
# over the scarcity horizon); per queue gate, the recent share answered within target. The
# arithmetic is the twin's (_core_py_demand.py), in the same order.

cdef void _set_skill_list(Core self, int a, tuple sk, int step) except *:
    """Count agent `a`'s skills in (step 1) or out of (step -1) the staffing per skill, and
    keep its skill list in C for the scarcity term."""
    cdef int k, n = len(sk)
    cdef int32_t* lst
    if step < 0:
        lst = self.a_skill_list[a]
        if lst != NULL:
            for k in range(lst[0]):
                self.sk_agents[lst[1 + k]] -= 1
            free(lst)
            self.a_skill_list[a] = NULL
        return
    lst = <int32_t*>_xrealloc(NULL, 0, (n + 1) * sizeof(int32_t))
    lst[0] = n
    for k in range(n):
        lst[1 + k] = sk[k][0]
        self.sk_agents[lst[1 + k]] += 1
    self.a_skill_list[a] = lst


cdef void _count_waiting(Core self, int i, int step) noexcept:
    cdef int k
    for k in range(self.i_nreq[i]):
        self.sk_waiting[self.i_req_skill[i * MAXSK + k]] += step


cdef void _count_arrival(Core self, int i, double at) noexcept:
    cdef int k, s
    for k in range(self.i_nreq[i]):
        s = self.i_req_skill[i * MAXSK + k]
        if at >= self.sk_arrived_at[s]:
            self.sk_arrivals[s] = (self.sk_arrivals[s]
                                   * exp(-(at - self.sk_arrived_at[s]) / self.scarcity_horizon)
                                   + 1.0)
            self.sk_arrived_at[s] = at
        else:
            self.sk_arrivals[s] = (self.sk_arrivals[s]
                                   + exp(-(self.sk_arrived_at[s] - at) / self.scarcity_horizon))


cdef double _pressure(Core self, int s, double now, int ch) noexcept:
    """How much skill `s` needs the agents free for it now: its waiting work plus its
    expected arrivals per agent holding it, over the holders free to take work on `ch`;
    memoised for the decision in progress (press_stamp: one interaction, so one channel)."""
    cdef double expected = 0.0, dt
    cdef int n, w, idle = 0
    cdef uint64_t* held = self.has[s * NLEV]
    cdef uint64_t* free_ = self.a_avail[ch]
    if self.sk_press_stamp[s] == self.press_stamp:
        return self.sk_press[s]
    if self.sk_arrivals[s] > 0.0:
        dt = now - self.sk_arrived_at[s]
        if dt > 0.0:
            expected = self.sk_arrivals[s] * exp(-dt / self.scarcity_horizon)
        else:
            expected = self.sk_arrivals[s]
    n = self.sk_agents[s]
    if n < 1:
        n = 1
    for w in range((self.a_hi + 63) >> 6):
        idle += __builtin_popcountll(held[w] & free_[w])
    if idle < 1:
        idle = 1
    self.sk_press[s] = (self.sk_waiting[s] + expected / n) / idle
    self.sk_press_stamp[s] = self.press_stamp
    return self.sk_press[s]


cdef double _scarcity(Core self, int i, int a, double now) noexcept:
    """1 / (1 + the pressure on agent `a`'s skills that `i` does not require)."""
    cdef int k, j, s, nreq = self.i_nreq[i]
    cdef int32_t* lst = self.a_skill_list[a]
    cdef int32_t* req = self.i_req_skill + i * MAXSK
    cdef double total = 0.0
    cdef bint needed
    if lst == NULL:
        return 1.0
    for k in range(lst[0]):
        s = lst[1 + k]
        needed = False
        for j in range(nreq):
            if req[j] == s:
                needed = True
                break
        if not needed:
            total += _pressure(self, s, now, self.i_channel[i])
    return 1.0 / (1.0 + total)


cdef void _count_outcome(Core self, int i, double now, bint answered) noexcept:
    cdef int g = self.i_gate[i]
    cdef double f
    cdef bint hit = now - self.i_enq[i] <= self.i_target[i]
    if g < 0 or (hit and not answered):
        return
    if now >= self.g_as_of[g]:
        f = exp(-(now - self.g_as_of[g]) / self.sl_horizon)
        self.g_hits[g] = self.g_hits[g] * f
        self.g_total[g] = self.g_total[g] * f
        self.g_as_of[g] = now
    self.g_hits[g] = self.g_hits[g] + (1.0 if hit else 0.0)
    self.g_total[g] = self.g_total[g] + 1.0
    _refresh_boost(self, g)


cdef void _refresh_boost(Core self, int g) noexcept:
    cdef double share = self.g_share[g], level
    self.g_boost[g] = 0.0
    if share <= 0.0:
        return
    level = (self.g_hits[g] + SERVICE_LEVEL_PRIOR * share) / (self.g_total[g] + SERVICE_LEVEL_PRIOR)
    if level < share:
        self.g_boost[g] = self.sl_weight * (share - level) / share
