# cython: language_level=3
# cython: initializedcheck=False
"""Maximum-value rectangular linear sum assignment (compiled).

Shortest augmenting paths in the Jonker-Volgenant style: for square matrices a column
reduction with reduction transfer, then (for every shape) two rounds of augmenting row
reduction, then Dijkstra searches over reduced costs for the rows still free. Every phase
keeps the duals feasible, so the result is an exact optimum, not a heuristic.

Internally the matrix is viewed as a cost ``c = -value`` with no more rows than columns
(tall inputs are transposed), duals ``u`` (implicit) and ``v``; reduced costs are
``c[i, j] - u[i] - v[j] >= 0`` with equality on assigned pairs. For rectangular problems
a column that has never been assigned keeps ``v == 0`` while assigned columns only ever
have ``v`` lowered, which is what optimality of a partial column cover requires.
"""

from libc.math cimport INFINITY, fabs
from libc.float cimport DBL_MAX
from libc.stdlib cimport free, malloc

import numpy as np

ctypedef Py_ssize_t idx_t

# Row scans allowed per augmenting row reduction pass, per row free at its start.
cdef idx_t ARR_BUDGET = 8


cdef bint _all_finite(const double* a, idx_t size) noexcept nogil:
    # A floating-point select is the form gcc vectorises; NaN fails `<=` as well.
    cdef idx_t k
    cdef double bad = 0.0
    for k in range(size):
        bad = bad if fabs(a[k]) <= DBL_MAX else 1.0
    return bad == 0.0


cdef void _transpose(const double* src, idx_t n, idx_t m, double* dst) noexcept nogil:
    # Blocked so both the reads and the strided writes stay within cache lines.
    cdef idx_t ib, jb, i, j, iend, jend
    for ib in range(0, n, 32):
        iend = min(ib + 32, n)
        for jb in range(0, m, 32):
            jend = min(jb + 32, m)
            for i in range(ib, iend):
                for j in range(jb, jend):
                    dst[j * n + i] = src[i * m + j]


cdef idx_t _column_reduction(
    const double* a, idx_t n, double* v, idx_t* x, idx_t* y, idx_t* free_rows, char* unique
) noexcept nogil:
    """Square only: v[j] = column minimum of c, greedy assignment, reduction transfer."""
    cdef idx_t i, j, j2, n_free
    cdef const double* row
    cdef double c, mn
    for j in range(n):
        v[j] = INFINITY
        y[j] = 0
    # Row-wise sweep keeps the reads sequential in a row-major buffer.
    for i in range(n):
        row = a + i * n
        for j in range(n):
            c = -row[j]
            if c < v[j]:
                v[j] = c
                y[j] = i
    for i in range(n):
        unique[i] = 1
    # Reverse order mirrors the original JV code; a row that minimises several columns
    # keeps the lowest-indexed one and the other columns stay free.
    j = n
    while j > 0:
        j -= 1
        i = y[j]
        if x[i] < 0:
            x[i] = j
        else:
            unique[i] = 0
            y[j] = -1
    n_free = 0
    for i in range(n):
        if x[i] < 0:
            free_rows[n_free] = i
            n_free += 1
        elif unique[i]:
            # Reduction transfer: move the slack of the row's second-best column onto v,
            # so later row reductions see a tie instead of a strict preference.
            j = x[i]
            row = a + i * n
            mn = INFINITY
            for j2 in range(n):
                if j2 != j:
                    c = -row[j2] - v[j2]
                    if c < mn:
                        mn = c
            v[j] -= mn
    return n_free


cdef idx_t _augmenting_row_reduction(
    const double* a, idx_t nc, double* v, idx_t* x, idx_t* y, idx_t* free_rows, idx_t n_free,
    idx_t budget
) noexcept nogil:
    """One JV pass: each free row takes its cheapest column, lowering that column's v by
    the gap to the row's second-cheapest so the displaced row is pushed elsewhere.
    At most `budget` rows are examined. Returns the number of rows left free (stored
    back at the front of free_rows)."""
    cdef idx_t current = 0
    cdef idx_t new_free = 0
    cdef idx_t rr_cnt = 0
    cdef idx_t fi, i0, j, j1, j2
    cdef const double* row
    cdef double c, v1, v2, v1_new
    cdef bint v1_lowers
    while current < n_free:
        if rr_cnt >= budget:
            # Near-equal rows can outbid each other for a long time, each bid a full row
            # scan; Dijkstra settles such conflicts far more cheaply, so hand them over.
            while current < n_free:
                free_rows[new_free] = free_rows[current]
                new_free += 1
                current += 1
            break
        rr_cnt += 1
        fi = free_rows[current]
        current += 1
        row = a + fi * nc
        j1 = 0
        v1 = -row[0] - v[0]
        j2 = -1
        v2 = INFINITY
        for j in range(1, nc):
            c = -row[j] - v[j]
            if c < v2:
                if c >= v1:
                    v2 = c
                    j2 = j
                else:
                    v2 = v1
                    v1 = c
                    j2 = j1
                    j1 = j
        i0 = y[j1]
        v1_new = v[j1] - (v2 - v1)
        v1_lowers = v1_new < v[j1]
        if v1_lowers:
            v[j1] = v1_new
        elif i0 >= 0 and j2 >= 0:
            # A tie: take the second column instead, which may be free.
            j1 = j2
            i0 = y[j2]
        if i0 >= 0:
            x[i0] = -1
            if v1_lowers:
                # Re-examine the displaced row at once while its prices are fresh.
                current -= 1
                free_rows[current] = i0
            else:
                free_rows[new_free] = i0
                new_free += 1
        x[fi] = j1
        y[j1] = fi
    return new_free


cdef idx_t _shortest_path(
    const double* a, idx_t nc, idx_t f, double* v, const idx_t* y,
    double* d, idx_t* pred, idx_t* cols
) noexcept nogil:
    """Dijkstra from free row f over reduced costs; returns the free sink column and
    updates v, or returns -1 if the arithmetic overflowed. cols is partitioned into
    [0, lo) scanned, [lo, hi) at the frontier distance but not yet scanned, and
    [hi, nc) unsettled; pred[j] is the row through which column j was reached."""
    cdef idx_t j, k, i, lo, hi, bestk, sink
    cdef const double* row = a + f * nc
    cdef double mind, best, dj, cred, base
    # First pass: distances straight from row f (its own potential is taken as 0).
    best = INFINITY
    bestk = -1
    for j in range(nc):
        cols[j] = j
        pred[j] = f
        dj = -row[j] - v[j]
        d[j] = dj
        if dj < best or (dj == best and y[j] < 0):
            best = dj
            bestk = j
    lo = 0
    hi = 0
    sink = -1
    while True:
        # Frontier exhausted: advance to the nearest unsettled column, which the last
        # pass over [hi, nc) located (preferring a free one on ties). Finding none
        # means every distance there is NaN: entries near the float limit overflowed.
        if bestk < 0:
            return -1
        mind = best
        j = cols[bestk]
        if y[j] < 0:
            sink = j
            break
        cols[bestk] = cols[hi]
        cols[hi] = j
        hi += 1
        while lo < hi:
            j = cols[lo]
            lo += 1
            i = y[j]
            row = a + i * nc
            # Row i reaches column k at d[j] + c[i, k] - u[i] - v[k], with the implicit
            # u[i] = c[i, j] - v[j] since (i, j) is tight; fold the constant part.
            base = d[j] + row[j] + v[j]
            best = INFINITY
            bestk = -1
            k = hi
            while k < nc:
                j = cols[k]
                cred = base - row[j] - v[j]
                dj = d[j]
                # Written as selects with d always stored: measurably faster than one
                # branch around the whole update when improvements are frequent.
                pred[j] = i if cred < dj else pred[j]
                dj = cred if cred < dj else dj
                d[j] = dj
                # best > mind, so one test keeps the common path to a single branch.
                if dj <= best:
                    if dj <= mind:
                        if y[j] < 0:
                            # A free column at the frontier distance: shortest path found.
                            sink = j
                            break
                        # Settle at the frontier distance without another min pass;
                        # the column swapped out of slot hi may be the best so far.
                        cols[k] = cols[hi]
                        cols[hi] = j
                        if bestk == hi:
                            bestk = k
                        hi += 1
                    elif dj < best:
                        best = dj
                        bestk = k
                    elif y[j] < 0:
                        # Among equals prefer a free column: it ends the search.
                        bestk = k
                k += 1
            if sink >= 0:
                break
        if sink >= 0:
            break
    # Columns scanned so far are the settled ones; shift their prices by the slack.
    for k in range(lo):
        j = cols[k]
        v[j] += d[j] - mind
    return sink


cdef int _solve_core(const double* a, idx_t nr, idx_t nc, idx_t* x) noexcept nogil:
    """Fill x[i] with the column of row i (nr <= nc). Returns 0, -1 if out of memory or
    -2 on arithmetic overflow."""
    cdef idx_t i, j, k, f, n_free, sink, tmp, rounds
    cdef const double* row
    cdef double best
    if nr == 1:
        row = a
        best = row[0]
        x[0] = 0
        for j in range(1, nc):
            if row[j] > best:
                best = row[j]
                x[0] = j
        return 0
    cdef double* v = <double*> malloc(nc * sizeof(double))
    cdef double* d = <double*> malloc(nc * sizeof(double))
    cdef idx_t* y = <idx_t*> malloc(nc * sizeof(idx_t))
    cdef idx_t* pred = <idx_t*> malloc(nc * sizeof(idx_t))
    cdef idx_t* cols = <idx_t*> malloc(nc * sizeof(idx_t))
    cdef idx_t* free_rows = <idx_t*> malloc(nr * sizeof(idx_t))
    cdef char* unique = <char*> malloc(nr * sizeof(char))
    cdef int status = 0
    if (v == NULL or d == NULL or y == NULL or pred == NULL or cols == NULL
            or free_rows == NULL or unique == NULL):
        status = -1
    else:
        for i in range(nr):
            x[i] = -1
        for j in range(nc):
            y[j] = -1
        if nr == nc:
            n_free = _column_reduction(a, nr, v, x, y, free_rows, unique)
        else:
            # v == 0 everywhere is feasible with implicit u[i] = min_j c[i, j].
            for j in range(nc):
                v[j] = 0.0
            for i in range(nr):
                free_rows[i] = i
            n_free = nr
        rounds = 0
        while rounds < 2 and n_free > 0:
            n_free = _augmenting_row_reduction(
                a, nc, v, x, y, free_rows, n_free, ARR_BUDGET * n_free
            )
            rounds += 1
        for k in range(n_free):
            f = free_rows[k]
            sink = _shortest_path(a, nc, f, v, y, d, pred, cols)
            if sink < 0:
                status = -2
                break
            j = sink
            while True:
                i = pred[j]
                y[j] = i
                tmp = x[i]
                x[i] = j
                j = tmp
                if i == f:
                    break
    free(v)
    free(d)
    free(y)
    free(pred)
    free(cols)
    free(free_rows)
    free(unique)
    return status


def solve(value):
    """Maximum-total-value assignment of rows to columns.

    ``value`` is an n x m matrix (numpy array or nested sequences) of finite floats.
    Returns ``(rows, cols)`` as lists of ``int`` with ``min(n, m)`` pairs, rows
    increasing, like ``scipy.optimize.linear_sum_assignment(value, maximize=True)``.
    An empty sequence counts as a matrix with no rows. Raises ``ValueError`` for non-2-D
    input or NaN/infinite entries. The GIL is released while solving.
    """
    try:
        arr = np.asarray(value, dtype=np.float64)
    except ValueError as exc:
        raise ValueError(f"value must be a 2-D matrix of numbers: {exc}") from exc
    if arr.ndim == 1 and arr.shape[0] == 0:
        # An empty sequence: a matrix with no rows.
        return [], []
    if arr.ndim != 2:
        raise ValueError(f"value must be a 2-D matrix, got {arr.ndim}-D input")
    cdef idx_t n = arr.shape[0]
    cdef idx_t m = arr.shape[1]
    if n == 0 or m == 0:
        return [], []
    cdef bint transpose = n > m
    cdef const double[:, ::1] src
    cdef double[:, ::1] dst
    if transpose:
        if arr.T.flags.c_contiguous:
            # Fortran-ordered input is already row-major once viewed transposed.
            mat = arr.T
        else:
            src = np.ascontiguousarray(arr)
            mat = np.empty((m, n), dtype=np.float64)
            dst = mat
            with nogil:
                _transpose(&src[0, 0], n, m, &dst[0, 0])
    else:
        mat = np.ascontiguousarray(arr)
    cdef const double[:, ::1] buf = mat
    cdef idx_t nr = buf.shape[0]
    cdef idx_t nc = buf.shape[1]
    cdef const double* a = &buf[0, 0]
    cdef bint finite
    with nogil:
        finite = _all_finite(a, nr * nc)
    if not finite:
        raise ValueError("value contains NaN or infinite entries")

    cdef idx_t* x = <idx_t*> malloc(nr * sizeof(idx_t))
    if x == NULL:
        raise MemoryError()
    cdef int status
    cdef idx_t i
    cdef idx_t* row_of
    try:
        with nogil:
            status = _solve_core(a, nr, nc, x)
        if status == -1:
            raise MemoryError()
        if status == -2:
            raise ValueError("value entries are too large in magnitude; rescale the matrix")
        if not transpose:
            return list(range(nr)), [x[i] for i in range(nr)]
        # Internal rows are the caller's columns; report pairs ordered by caller row.
        row_of = <idx_t*> malloc(n * sizeof(idx_t))
        if row_of == NULL:
            raise MemoryError()
        try:
            for i in range(n):
                row_of[i] = -1
            for i in range(nr):
                row_of[x[i]] = i
            rows = [i for i in range(n) if row_of[i] >= 0]
            return rows, [row_of[i] for i in rows]
        finally:
            free(row_of)
    finally:
        free(x)
