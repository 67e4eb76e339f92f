# Relaxation over time: which step an interaction is at, the "needs more than p" index that
# reflects it, and the heap of upcoming steps that moves the index forward as time passes.

cdef int _step_at(Core self, int i, double now) noexcept:
    cdef int step = 0, k
    for k in range(self.n_relax):
        if now >= self.i_enq[i] + self.relax_after[k]:
            step += 1
    return step


cdef int _min_level(Core self, int i, int k, int step) noexcept:
    cdef int lv = self.i_req_level[i * MAXSK + k]
    if step:
        lv -= self.relax_drop[step - 1]
    return lv if lv > 1 else 1


cdef void _index_needs(Core self, int i, int step, bint on) noexcept:
    """Add or remove interaction `i`'s skill needs, at relaxation `step`, to the index."""
    cdef int k, s, lv, p
    cdef int32_t* dem
    for k in range(self.i_nreq[i]):
        s = self.i_req_skill[i * MAXSK + k]
        lv = _min_level(self, i, k, step)
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


cdef void _heap_push(Core self, double due, int64_t seq, int slot) except *:
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


cdef void _heap_pop(Core self) noexcept:
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


cdef void _advance(Core self, double now) except *:
    """Apply every relaxation step that has come due by `now` to the need bitsets."""
    cdef int i, step
    cdef HeapItem top
    if now <= self.clock:
        return
    self.clock = now
    while self.heap_n and self.heap[0].due <= now:
        top = self.heap[0]
        _heap_pop(self)
        i = top.slot
        if self.i_seq[i] != top.seq:
            continue
        step = _step_at(self, i, now)
        if CIM_DEBUG:
            # Time only moves forward here, so relaxation never tightens a need.
            assert step >= self.i_step[i], f"slot {i}: step {self.i_step[i]} -> {step}"
        if step != self.i_step[i]:
            _index_needs(self, i, self.i_step[i], False)
            _index_needs(self, i, step, True)
            self.i_step[i] = step
            if CIM_DEBUG:
                _check_waiting(self, i)
        if step < self.n_relax:
            _heap_push(self, self.i_enq[i] + self.relax_after[step], top.seq, i)


cdef object _next_due(Core self, double now):
    _advance(self, now)
    # Entries of interactions that left (or were re-added) stay in the heap until they
    # surface; drop them here so the answer is a live step.
    while self.heap_n and self.i_seq[self.heap[0].slot] != self.heap[0].seq:
        _heap_pop(self)
    return self.heap[0].due if self.heap_n else None
