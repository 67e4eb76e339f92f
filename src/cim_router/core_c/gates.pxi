# Queue gates: which agents serve a gate (one bitset per gate), each agent's rank and delay
# for it (dense per-gate tables, like proficiency per skill), which waiting interactions sit
# behind each gate, and the distinct delays in use per gate for next_gate_due. A core that
# never sees a gate allocates none of the per-gate arrays and takes none of these paths.

from bisect import insort


cdef void _ensure_gate(Core self, int g) except *:
    """Make room for gate id `g` (ids are small dense integers)."""
    cdef int old = self.n_gates, new, k
    if g < old:
        return
    new = max(g + 1, old * 2, 8)
    self.g_agents = <uint64_t**>_xrealloc(
        self.g_agents, old * sizeof(void*), new * sizeof(void*))
    self.g_rank = <uint8_t**>_xrealloc(self.g_rank, old * sizeof(void*), new * sizeof(void*))
    self.g_delay = <double**>_xrealloc(self.g_delay, old * sizeof(void*), new * sizeof(void*))
    self.g_waiting = <uint64_t**>_xrealloc(
        self.g_waiting, old * sizeof(void*), new * sizeof(void*))
    self.g_hits = <double*>_xrealloc(self.g_hits, old * 8, new * 8)
    self.g_total = <double*>_xrealloc(self.g_total, old * 8, new * 8)
    self.g_as_of = <double*>_xrealloc(self.g_as_of, old * 8, new * 8)
    self.g_share = <double*>_xrealloc(self.g_share, old * 8, new * 8)
    self.g_boost = <double*>_xrealloc(self.g_boost, old * 8, new * 8)
    for k in range(old, new):
        self.g_as_of[k] = -INFINITY
        self.g_agents[k] = <uint64_t*>_xrealloc(NULL, 0, self.a_words * 8)
        self.g_rank[k] = <uint8_t*>_xrealloc(NULL, 0, self.a_cap)
        self.g_delay[k] = <double*>_xrealloc(NULL, 0, self.a_cap * sizeof(double))
        self.g_waiting[k] = <uint64_t*>_xrealloc(NULL, 0, self.i_words * 8)
        self.gate_delay_count.append({})
        self.gate_delays.append([])
    self.n_gates = new


cdef void _set_agent_gates(Core self, int a, tuple gates) except *:
    """Replace agent `a`'s gates with `gates` ((gate, rank, delay), checked)."""
    cdef int k, g, n
    cdef double delay
    cdef int32_t* old = self.a_gate_list[a]
    if old != NULL:
        for k in range(old[0]):
            g = old[1 + k]
            _count_delay(self, g, self.g_delay[g][a], -1)
            _clear_bit(self.g_agents[g], a)
            self.g_rank[g][a] = 0
            self.g_delay[g][a] = 0.0
        free(old)
        self.a_gate_list[a] = NULL
    n = len(gates)
    if not n:
        return
    for gate, _, _ in gates:
        _ensure_gate(self, gate)
    self.a_gate_list[a] = <int32_t*>_xrealloc(NULL, 0, (n + 1) * sizeof(int32_t))
    self.a_gate_list[a][0] = n
    for k in range(n):
        g, rank, delay = gates[k]
        self.a_gate_list[a][1 + k] = g
        _set_bit(self.g_agents[g], a)
        self.g_rank[g][a] = rank
        self.g_delay[g][a] = delay
        _count_delay(self, g, delay, 1)


cdef void _count_delay(Core self, int g, double delay, int by) except *:
    counts = self.gate_delay_count[g]
    n = counts.get(delay, 0) + by
    if n:
        if by > 0 and n == 1:
            insort(self.gate_delays[g], delay)
        counts[delay] = n
    else:
        del counts[delay]
        self.gate_delays[g].remove(delay)


cdef void _index_gate(Core self, int i, bint on) noexcept:
    """Add or remove waiting interaction `i` to the bitsets of its gate, if it has one."""
    cdef int g = self.i_gate[i]
    if g < 0:
        return
    if on:
        _set_bit(self.g_waiting[g], i)
        _set_bit(self.i_gated, i)
        self.n_gated += 1
    else:
        _clear_bit(self.g_waiting[g], i)
        _clear_bit(self.i_gated, i)
        self.n_gated -= 1


cdef void _drop_gate_delayed(Core self, int i, double now, uint64_t* out, int nw) noexcept:
    """Clear from `out` (agents that serve i's gate) those whose delay has not passed."""
    cdef int w, a, g = self.i_gate[i]
    cdef uint64_t x
    cdef double enq = self.i_enq[i]
    cdef double* delay = self.g_delay[g]
    for w in range(nw):
        x = out[w]
        while x:
            a = (w << 6) + cim_ctz(x)
            x &= x - 1
            if now < enq + delay[a]:
                out[w] &= ~((<uint64_t>1) << (a & 63))


cdef void _mask_gates(Core self, int a, uint64_t* out, int nw) noexcept:
    """Clear from `out` (waiting interactions) those behind a gate agent `a` does not serve."""
    cdef int w, k, n = 0
    cdef int32_t* gl = self.a_gate_list[a]
    cdef uint64_t allowed
    if gl != NULL:
        n = gl[0]
    for w in range(nw):
        if not (out[w] & self.i_gated[w]):
            continue
        allowed = 0
        for k in range(n):
            allowed |= self.g_waiting[gl[1 + k]][w]
        out[w] &= ~(self.i_gated[w] & ~allowed)


cdef int _pick_gated(Core self, int a, double now, int nw) except -2:
    """The freed agent's pick from i_scratch when gates are in use: lowest rank of the
    interaction's gate for this agent first (no gate: 0), then service order; an
    interaction whose delay for this agent has not passed is skipped."""
    cdef int w, i, g, rank, best = -1, best_rank = 0
    cdef uint64_t x
    cdef double u, best_u = 0.0
    _mask_gates(self, a, self.i_scratch, nw)
    for w in range(nw):
        x = self.i_scratch[w]
        while x:
            i = (w << 6) + cim_ctz(x)
            x &= x - 1
            g = self.i_gate[i]
            rank = 0
            if g >= 0:
                rank = self.g_rank[g][a]
                if best >= 0 and rank > best_rank:
                    continue
                if now < self.i_enq[i] + self.g_delay[g][a]:
                    continue
            if best >= 0 and rank == best_rank:
                if _urgency_bound(self, i, now) < best_u:
                    continue  # cannot win even with full aging
                u = _urgency(self, i, now)
                if u < best_u or (u == best_u and (
                        self.i_enq[i] > self.i_enq[best]
                        or (self.i_enq[i] == self.i_enq[best]
                            and self.i_seq[i] > self.i_seq[best]))):
                    continue
            else:
                u = _urgency(self, i, now)
            excl = self.inter_excluded[i]
            if excl is not None and self.slot_agent[a] in excl:
                continue
            best, best_u, best_rank = i, u, rank
    return best


cdef object _next_gate_due(Core self, double now):
    cdef int w, i, lo, hi, mid
    cdef uint64_t x
    cdef double enq, t, best = INFINITY
    cdef list delays
    for w in range((self.i_hi + 63) >> 6):
        x = self.i_gated[w]
        while x:
            i = (w << 6) + cim_ctz(x)
            x &= x - 1
            delays = self.gate_delays[self.i_gate[i]]
            # The first delay with enq + delay > now (the sum grows with the delay).
            enq = self.i_enq[i]
            lo, hi = 0, len(delays)
            while lo < hi:
                mid = (lo + hi) >> 1
                if enq + <double>delays[mid] > now:
                    hi = mid
                else:
                    lo = mid + 1
            if lo < len(delays):
                t = enq + <double>delays[lo]
                if t < best:
                    best = t
    return None if best == INFINITY else best
