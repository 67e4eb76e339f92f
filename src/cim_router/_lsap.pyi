# Typing stub of the compiled solver; its API mirrors the pure-Python twin `_lsap_py`.
from collections.abc import Sequence
from typing import Any

import numpy.typing as npt

def solve(value: npt.NDArray[Any] | Sequence[Sequence[float]]) -> tuple[list[int], list[int]]:
    """Maximum-total-value assignment of rows to columns.

    ``value`` is an n x m matrix (numpy array or nested sequences) of finite floats.
    Returns ``(rows, cols)`` as Python lists of ``int`` (not numpy arrays) with
    ``min(n, m)`` pairs, rows increasing, like
    ``scipy.optimize.linear_sum_assignment(value, maximize=True)``. An empty sequence
    counts as a matrix with no rows. Raises ``ValueError`` for non-2-D input or
    NaN/infinite entries. The GIL is released while solving.
    """
