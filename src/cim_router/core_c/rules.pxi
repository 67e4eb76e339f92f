# The rules: eligibility (hard, with the first failing rule's code), the score of a pair
# (soft, its terms in [0, 1]) and an interaction's urgency in the queue.

cdef int _eligibility(Core self, int i, int a, double now):
    cdef int k, s, have, step, g
    if self.a_state[a] != STATE_AVAILABLE:
        return NOT_AVAILABLE
    if not _can_take(self, a, self.i_channel[i]):
        return NO_CAPACITY
    step = _step_at(self, i, now)
    for k in range(self.i_nreq[i]):
        s = self.i_req_skill[i * MAXSK + k]
        have = self.prof[s][a]
        if have == 0:
            return SKILL_MISSING
        if have < _min_level(self, i, k, step):
            return SKILL_LEVEL
    if self.a_hot[a].tier < self.i_min_tier[i]:
        return TIER
    g = self.i_gate[i]
    if g >= 0:
        if self.g_rank[g][a] == 0:
            return NOT_IN_QUEUE
        if now < self.i_enq[i] + self.g_delay[g][a]:
            return QUEUE_DELAY
    excl = self.inter_excluded[i]
    if excl is not None and self.slot_agent[a] in excl:
        return EXCLUDED
    return ELIGIBLE


cdef double _score(Core self, int i, int a, double now, int step, int pref_slot,
                   double* terms) noexcept:
    cdef int k, n, ch = self.i_channel[i]
    cdef int32_t* sk
    cdef double skill = 0.0, pref = 0.0, tier, idle, aht = 0.0, sticky, scarcity, total
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
    scarcity = _scarcity(self, i, a, now) if self.w_scarcity > 0.0 else 1.0
    total = (self.w_skill * skill + self.w_pref * pref + self.w_tier * tier
             + self.w_idle * idle + self.w_aht * aht + self.w_sticky * sticky
             + self.w_scarcity * scarcity)
    if terms != NULL:
        terms[0] = skill; terms[1] = pref; terms[2] = tier; terms[3] = idle
        terms[4] = aht; terms[5] = sticky; terms[6] = scarcity; terms[7] = total
    return total


cdef double _urgency(Core self, int i, double now) noexcept:
    cdef double t[4]
    _urgency_terms(self, i, now, t)
    if t[3] >= 0.0:
        return PROMOTED + t[3]
    return t[0] + t[1] + t[2]


cdef void _urgency_terms(Core self, int i, double now, double* t) noexcept:
    """(base, aging, queue boost, -1), or (base, 0, 0, wait) once the wait has reached the
    channel's bound, from which the interaction outranks any priority."""
    cdef double wait = now - self.i_enq[i], aging
    cdef int g = self.i_gate[i]
    if wait < 0.0:
        wait = 0.0
    t[0] = self.i_base[i]
    if wait >= self.promote_after[self.i_channel[i]]:
        t[1] = 0.0; t[2] = 0.0; t[3] = wait
        return
    if self.on_time_first and wait > self.i_target[i]:
        # Past its target: behind any work of its priority still within target (below the
        # most aging and boost those can have), the longest past it first.
        aging = -(self.aging_cap + self.sl_weight + 1.0) + (wait - self.i_target[i]) / wait
    else:
        aging = self.i_sla[i] * wait
        if aging > self.aging_cap:
            aging = self.aging_cap
    t[1] = aging
    t[2] = self.g_boost[g] if g >= 0 else 0.0
    t[3] = -1.0


cdef double _urgency_bound(Core self, int i, double now) noexcept:
    """The most urgency `i` can have at `now` without knowing its wait: full aging, its
    queue's boost, or past the bound, infinity (it cannot be passed over unseen)."""
    cdef int g = self.i_gate[i]
    cdef double wait = now - self.i_enq[i]
    if wait < 0.0:
        wait = 0.0
    if wait >= self.promote_after[self.i_channel[i]]:
        return INFINITY
    return self.i_base[i] + self.aging_cap + (self.g_boost[g] if g >= 0 else 0.0)
