"""(c) Joint assignment on the core's own score matrices: our solver vs SciPy, one run.

Shapes: 1,000 waiting x 1,000 agents, and 200 waiting x 5,000 agents. Both solvers get the
same matrix; the totals must agree before anything is timed.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt
import pytest
from scipy.optimize import linear_sum_assignment

from bench import instances
from cim_router import _core, _lsap
from cim_router.domain import Policy
from cim_router.routing.engine import joint_assignment

SHAPES = {"1000x1000": (1_000, 1_000), "200x5000": (200, 5_000)}


def _matrix(n_waiting: int, n_agents: int) -> tuple[Any, npt.NDArray[np.float64]]:
    core = _core.Core(Policy())
    instances.load(
        core,
        instances.agents(n_agents, available=1.0, seed=11),
        instances.interactions(n_waiting, seed=12),
    )
    iids, aids = core.joint_candidates(instances.NOW)
    return core, core.score_matrix(iids, aids, instances.NOW)


@pytest.fixture(scope="module", params=list(SHAPES))
def case(request: pytest.FixtureRequest) -> tuple[str, Any, npt.NDArray[np.float64]]:
    core, matrix = _matrix(*SHAPES[request.param])
    return request.param, core, matrix


def _total(matrix: npt.NDArray[np.float64], rows: Any, cols: Any) -> float:
    return float(matrix[np.asarray(rows), np.asarray(cols)].sum())


@pytest.mark.parametrize("solver", ["cim_router", "scipy"])
def test_joint_solve(
    benchmark: Any, case: tuple[str, Any, npt.NDArray[np.float64]], solver: str
) -> None:
    shape, _core_obj, matrix = case
    benchmark.group = f"c: joint assignment {shape}"
    assert 0.05 < np.count_nonzero(matrix) / matrix.size < 0.95  # a real mix of eligibility
    best = _total(matrix, *linear_sum_assignment(matrix, maximize=True))
    assert _total(matrix, *_lsap.solve(matrix)) == pytest.approx(best, rel=1e-12)
    if solver == "scipy":
        benchmark.pedantic(lambda: linear_sum_assignment(matrix, maximize=True), rounds=15)
    else:
        benchmark.pedantic(lambda: _lsap.solve(matrix), rounds=15)


def test_joint_end_to_end(benchmark: Any, case: tuple[str, Any, npt.NDArray[np.float64]]) -> None:
    """Candidates, score matrix and solve together, as `Engine.match_waiting` runs them
    (without the reservations, so that every round sees the same queue)."""
    shape, core, _matrix = case
    benchmark.group = f"c: joint assignment {shape}"
    pairs = joint_assignment(core, instances.NOW)
    assert len(pairs) == len({a for _, a in pairs}) > 0
    benchmark.pedantic(lambda: joint_assignment(core, instances.NOW), rounds=5)
