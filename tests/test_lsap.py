"""Both assignment solvers against SciPy's optimum, plus input handling."""

from __future__ import annotations

import importlib
import importlib.machinery
import math
import zlib
from collections.abc import Callable, Sequence
from types import ModuleType
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.optimize import linear_sum_assignment

Matrix = npt.NDArray[np.float64]
Solve = Callable[[npt.NDArray[Any] | Sequence[Sequence[float]]], tuple[list[int], list[int]]]

# Imported on first use, so a missing extension fails the "compiled" tests only.
LSAP_MODULES: dict[str, str] = {
    "compiled": "cim_router._lsap",
    "python": "cim_router._lsap_py",
}


def load_solve(name: str) -> Solve:
    """The `solve` function of the implementation called `name`."""
    solve: Solve = importlib.import_module(LSAP_MODULES[name]).solve
    return solve


@pytest.fixture(params=list(LSAP_MODULES), ids=list(LSAP_MODULES))
def solve(request: pytest.FixtureRequest) -> Solve:
    """Each solver in turn: "compiled", then "python"."""
    name: str = request.param
    return load_solve(name)


def scipy_total(value: Matrix) -> float:
    rows, cols = linear_sum_assignment(value, maximize=True)
    return float(value[rows, cols].sum())


def check_optimal(solve: Solve, value: Matrix) -> None:
    """A valid assignment of min(n, m) pairs whose total matches SciPy's optimum."""
    n, m = value.shape
    rows, cols = solve(value)
    assert len(rows) == len(cols) == min(n, m)
    assert all(type(i) is int for i in rows + cols)
    assert rows == sorted(set(rows))
    assert len(set(cols)) == len(cols)
    assert all(0 <= i < n for i in rows)
    assert all(0 <= j < m for j in cols)
    total = float(value[rows, cols].sum()) if rows else 0.0
    expected = scipy_total(value)
    assert math.isclose(total, expected, rel_tol=1e-9, abs_tol=1e-9), (total, expected)


def seed_of(*parts: object) -> int:
    """A seed that is stable across runs (unlike `hash`, which is salted per process)."""
    return zlib.crc32(repr(parts).encode())


def routing_matrix(rng: np.random.Generator, n: int, m: int, ineligible: float) -> Matrix:
    """Scores 1 + U(0, 3) for eligible pairs and exactly 0.0 for the ineligible share."""
    value = 1.0 + rng.uniform(0.0, 3.0, (n, m))
    value[rng.random((n, m)) < ineligible] = 0.0
    return value


def random_matrix(rng: np.random.Generator, kind: str, n: int, m: int) -> Matrix:
    if kind == "uniform":
        return rng.uniform(0.0, 1.0, (n, m))
    if kind == "routing":
        return routing_matrix(rng, n, m, float(rng.uniform(0.6, 0.9)))
    if kind == "ties":
        return rng.integers(0, 3, (n, m)).astype(np.float64)
    if kind == "sparse-ties":
        value = rng.integers(1, 4, (n, m)).astype(np.float64)
        value[rng.random((n, m)) < 0.8] = 0.0
        return value
    if kind == "signed":
        return rng.integers(-5, 5, (n, m)).astype(np.float64)
    if kind == "zeros":
        return np.zeros((n, m))
    if kind == "constant":
        return np.full((n, m), 2.5)
    if kind == "rank-one":
        return np.multiply.outer(rng.uniform(0.0, 1.0, n), rng.uniform(0.0, 1.0, m))
    if kind == "wide-range":
        return rng.normal(0.0, 1e6, (n, m))
    raise AssertionError(kind)


KINDS = [
    "uniform",
    "routing",
    "ties",
    "sparse-ties",
    "signed",
    "zeros",
    "constant",
    "rank-one",
    "wide-range",
]
SMALL_SHAPES = [(1, 1), (1, 7), (7, 1), (2, 2), (3, 5), (5, 3), (8, 8), (6, 20), (20, 6), (25, 25)]


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("shape", SMALL_SHAPES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_small_instances_are_optimal(solve: Solve, kind: str, shape: tuple[int, int]) -> None:
    rng = np.random.default_rng(seed_of(kind, shape))
    for _ in range(5):
        check_optimal(solve, random_matrix(rng, kind, *shape))


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize(
    "shape", [(120, 120), (60, 400), (400, 60), (199, 200), (200, 199)], ids=str
)
def test_larger_instances_are_optimal(kind: str, shape: tuple[int, int]) -> None:
    # Compiled only: these sizes exercise every phase of the JV solver (column and row
    # reductions, then shortest paths) but are slow for the pure-Python twin.
    rng = np.random.default_rng(seed_of(kind, shape, "large"))
    check_optimal(load_solve("compiled"), random_matrix(rng, kind, *shape))


def test_twin_on_medium_instances() -> None:
    rng = np.random.default_rng(7)
    solve = load_solve("python")
    for n, m in [(40, 40), (15, 60), (60, 15)]:
        for kind in ("routing", "ties", "uniform"):
            check_optimal(solve, random_matrix(rng, kind, n, m))


@pytest.mark.parametrize("seed", range(40))
def test_many_random_shapes(solve: Solve, seed: int) -> None:
    rng = np.random.default_rng(1000 + seed)
    n, m = (int(k) for k in rng.integers(1, 30, 2))
    check_optimal(solve, random_matrix(rng, KINDS[seed % len(KINDS)], n, m))


# Few distinct values so that ties, zeros and equal rows are common.
entries = st.sampled_from([0.0, 0.0, 0.0, 1.0, 1.5, 2.0, 3.25, -1.0])


@st.composite
def small_matrices(draw: st.DrawFn) -> Matrix:
    n = draw(st.integers(0, 7))
    m = draw(st.integers(0, 7))
    cells = draw(
        st.lists(
            st.one_of(entries, st.floats(-100.0, 100.0, allow_nan=False)),
            min_size=n * m,
            max_size=n * m,
        )
    )
    return np.array(cells, dtype=np.float64).reshape(n, m)


@settings(max_examples=300, deadline=None)
@given(small_matrices())
def test_property_both_match_scipy(value: Matrix) -> None:
    totals = []
    for name in LSAP_MODULES:
        rows, cols = load_solve(name)(value)
        assert len(rows) == len(set(rows)) == len(set(cols)) == min(value.shape)
        assert rows == sorted(rows)
        totals.append(float(value[rows, cols].sum()) if rows else 0.0)
    expected = scipy_total(value) if value.size else 0.0
    for total in totals:
        assert math.isclose(total, expected, rel_tol=1e-9, abs_tol=1e-9)


def test_compiled_module_is_an_extension() -> None:
    module: ModuleType = importlib.import_module(LSAP_MODULES["compiled"])
    path = module.__file__
    assert path is not None
    assert path.endswith(tuple(importlib.machinery.EXTENSION_SUFFIXES)), path


def test_accepts_nested_lists_and_any_layout(solve: Solve) -> None:
    value = np.random.default_rng(3).uniform(0.0, 1.0, (6, 9))
    expected = scipy_total(value)
    for variant in (
        value,
        np.asfortranarray(value),
        value.T.copy().T,
        value[:, ::-1][:, ::-1],
        np.ascontiguousarray(value.T),
        np.asfortranarray(value.T),
    ):
        check_optimal(solve, np.asarray(variant))
    rows, cols = solve(value.tolist())
    assert math.isclose(float(value[rows, cols].sum()), expected, rel_tol=1e-12)
    ints = [[1, 5, 3], [4, 2, 6]]
    rows, cols = solve(ints)
    assert (rows, cols) == ([0, 1], [1, 2])


def test_tall_matrix_rows_are_sorted(solve: Solve) -> None:
    value = np.array([[0.0, 1.0], [5.0, 0.0], [0.0, 7.0], [6.0, 0.0]])
    assert solve(value) == ([2, 3], [1, 0])


def test_input_is_not_modified(solve: Solve) -> None:
    value = np.random.default_rng(4).uniform(0.0, 1.0, (5, 3))
    before = value.copy()
    solve(value)
    solve(value.T)
    assert np.array_equal(value, before)


@pytest.mark.parametrize(
    "value",
    [[], np.zeros((0, 0)), np.zeros((0, 4)), np.zeros((4, 0)), [[], [], []], np.zeros(0)],
    ids=["empty-list", "0x0", "0x4", "4x0", "3x0-lists", "empty-1d"],
)
def test_empty_matrices(solve: Solve, value: npt.NDArray[Any] | Sequence[Sequence[float]]) -> None:
    assert solve(value) == ([], [])


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_rejects_non_finite(solve: Solve, bad: float) -> None:
    value = np.ones((3, 4))
    value[1, 2] = bad
    with pytest.raises(ValueError, match="NaN or infinite"):
        solve(value)
    with pytest.raises(ValueError, match="NaN or infinite"):
        solve(value.T)
    with pytest.raises(ValueError, match="NaN or infinite"):
        solve(value.tolist())


@pytest.mark.parametrize(
    "value",
    [
        np.ones(3),
        [1.0, 2.0],
        np.ones((2, 2, 2)),
        [[[1.0]]],
        np.float64(1.0),
        [[1.0, 2.0], [3.0]],
    ],
    ids=["1d-array", "1d-list", "3d-array", "3d-list", "scalar", "ragged"],
)
def test_rejects_wrong_dimensions(solve: Solve, value: Any) -> None:
    with pytest.raises(ValueError, match="2-D"):
        solve(value)
