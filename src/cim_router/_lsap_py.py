"""Maximum-value rectangular linear sum assignment in pure Python.

The twin of the compiled ``cim_router._lsap`` with the same ``solve`` API, for small
matrices and platforms without a compiler. It runs Crouse's shortest augmenting path
method (IEEE TAES 52(4), 2016), as in SciPy's ``rectangular_lsap.cpp``: one Dijkstra
search over reduced costs per row, with the duals kept feasible throughout, so the result
is an exact optimum. Time is O(n^2 m) for n <= m.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy.typing as npt

__all__ = ["solve"]


def solve(value: npt.NDArray[Any] | Sequence[Sequence[float]]) -> tuple[list[int], list[int]]:
    """Maximum-total-value assignment of rows to columns.

    ``value`` is an n x m matrix (numpy array or nested sequences) of finite floats.
    Returns ``(rows, cols)`` as lists of ``int`` with ``min(n, m)`` pairs, rows
    increasing, like ``scipy.optimize.linear_sum_assignment(value, maximize=True)``.
    An empty sequence counts as a matrix with no rows. Raises ``ValueError`` for
    non-2-D input or NaN/infinite entries.
    """
    matrix = _as_matrix(value)
    n = len(matrix)
    m = len(matrix[0]) if n else 0
    if n == 0 or m == 0:
        return [], []
    if n <= m:
        cost = [[-x for x in row] for row in matrix]
        col_of = _min_cost_rows(cost, n, m)
        return list(range(n)), col_of
    # More rows than columns: assign every column to a row on the transpose instead.
    cost = [[-matrix[i][j] for i in range(n)] for j in range(m)]
    row_of = _min_cost_rows(cost, m, n)
    pairs = sorted((row_of[j], j) for j in range(m))
    return [i for i, _ in pairs], [j for _, j in pairs]


def _as_matrix(value: object) -> list[list[float]]:
    """Validate `value` and copy it into a list of equally long float rows."""
    ndim = getattr(value, "ndim", None)
    if isinstance(ndim, int):
        # A numpy array (or look-alike): trust its shape, then take plain floats.
        if ndim == 1 and len(value) == 0:  # type: ignore[arg-type]
            return []
        if ndim != 2:
            raise ValueError(f"value must be a 2-D matrix, got {ndim}-D input")
        tolist = getattr(value, "tolist", None)
        if callable(tolist):
            value = tolist()
    if not isinstance(value, Sequence) or isinstance(value, (str, bytes)):
        raise ValueError("value must be a 2-D matrix: a sequence of rows")
    matrix: list[list[float]] = []
    for row in value:
        if not isinstance(row, Sequence) or isinstance(row, (str, bytes)):
            raise ValueError("value must be a 2-D matrix, got 1-D input")
        try:
            floats = [float(x) for x in row]
        except TypeError as exc:
            raise ValueError(f"value must be a 2-D matrix of numbers: {exc}") from exc
        if matrix and len(floats) != len(matrix[0]):
            raise ValueError("value must be a 2-D matrix, got rows of different lengths")
        if not all(math.isfinite(x) for x in floats):
            raise ValueError("value contains NaN or infinite entries")
        matrix.append(floats)
    return matrix


def _min_cost_rows(cost: list[list[float]], nr: int, nc: int) -> list[int]:
    """Column of each row in a minimum-cost assignment of all nr rows (nr <= nc)."""
    inf = math.inf
    u = [0.0] * nr
    v = [0.0] * nc
    col4row = [-1] * nr
    row4col = [-1] * nc
    path = [-1] * nc
    for cur in range(nr):
        # Dijkstra from row `cur` over reduced costs c[i][j] - u[i] - v[j] >= 0.
        dist = [inf] * nc
        scanned_cols = [False] * nc
        scanned_rows: list[int] = []
        # Reverse order makes a constant matrix come out as the identity, as in SciPy.
        remaining = list(range(nc - 1, -1, -1))
        min_val = 0.0
        i = cur
        sink = -1
        while sink < 0:
            scanned_rows.append(i)
            row = cost[i]
            base = min_val - u[i]
            lowest = inf
            index = -1
            for it, j in enumerate(remaining):
                r = base + row[j] - v[j]
                dj = dist[j]
                if r < dj:
                    path[j] = i
                    dist[j] = dj = r
                # Among equal distances prefer a free column: it ends the search, which
                # matters for integer matrices full of ties.
                if dj < lowest or (dj == lowest and row4col[j] < 0):
                    lowest = dj
                    index = it
            if index < 0:
                # Every distance is NaN: entries near the float limit overflowed.
                raise ValueError("value entries are too large in magnitude; rescale the matrix")
            min_val = lowest
            j = remaining[index]
            if row4col[j] < 0:
                sink = j
            else:
                i = row4col[j]
            scanned_cols[j] = True
            remaining[index] = remaining[-1]
            remaining.pop()

        # Dual update keeps every reduced cost >= 0 and the new path tight.
        u[cur] += min_val
        for i in scanned_rows:
            if i != cur:
                u[i] += min_val - dist[col4row[i]]
        for j in range(nc):
            if scanned_cols[j]:
                v[j] -= min_val - dist[j]

        # Augment: flip the alternating path ending at the free column `sink`.
        j = sink
        while True:
            i = path[j]
            row4col[j] = i
            col4row[i], j = j, col4row[i]
            if i == cur:
                break
    return col4row
