"""Assignment solver: compiled `_lsap.solve` vs SciPy's `linear_sum_assignment`, maximising.

(1) 1,000 interactions x 1,000 agents and (2) 200 interactions x 5,000 agents, plus the
tall 5,000 x 200 shape. Routing score matrices hold 1 + U(0, 3) for eligible pairs and
exactly 0.0 for the ineligible share (60%, 75% or 90%); the dense ones are U(0, 1).
Both solvers must reach the same total before they are timed.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest
from scipy.optimize import linear_sum_assignment

from cim_router import _lsap

Matrix = npt.NDArray[np.float64]

# (rows, columns, share of ineligible pairs, or None for a dense uniform matrix)
CASES: dict[str, tuple[int, int, float | None]] = {
    "1000x1000 routing 60%": (1000, 1000, 0.6),
    "1000x1000 routing 75%": (1000, 1000, 0.75),
    "1000x1000 routing 90%": (1000, 1000, 0.9),
    "1000x1000 dense": (1000, 1000, None),
    "200x5000 routing 60%": (200, 5000, 0.6),
    "200x5000 routing 75%": (200, 5000, 0.75),
    "200x5000 routing 90%": (200, 5000, 0.9),
    "200x5000 dense": (200, 5000, None),
    "5000x200 routing 75%": (5000, 200, 0.75),
}


def _scipy(value: Matrix) -> tuple[list[int], list[int]]:
    rows, cols = linear_sum_assignment(value, maximize=True)
    return rows.tolist(), cols.tolist()


SOLVERS: dict[str, Callable[[Matrix], tuple[list[int], list[int]]]] = {
    "compiled": _lsap.solve,
    "scipy": _scipy,
}


@functools.cache
def _matrix(case: str) -> Matrix:
    n, m, ineligible = CASES[case]
    rng = np.random.default_rng(list(CASES).index(case))
    if ineligible is None:
        return rng.uniform(0.0, 1.0, (n, m))
    value = 1.0 + rng.uniform(0.0, 3.0, (n, m))
    value[rng.random((n, m)) < ineligible] = 0.0
    return value


def _total(value: Matrix, assignment: tuple[list[int], list[int]]) -> float:
    rows, cols = assignment
    return float(value[rows, cols].sum())


@pytest.mark.parametrize("solver", list(SOLVERS))
@pytest.mark.parametrize("case", list(CASES))
def test_lsap(benchmark: Any, case: str, solver: str) -> None:
    benchmark.group = f"lsap {case}"
    value = _matrix(case)
    solve = SOLVERS[solver]
    assert math.isclose(_total(value, solve(value)), _total(value, _scipy(value)), rel_tol=1e-9)
    # Square solves take tens of milliseconds; rectangular ones a few.
    rounds = 20 if value.shape[0] == value.shape[1] else 100
    benchmark.pedantic(solve, args=(value,), rounds=rounds, iterations=1, warmup_rounds=1)
