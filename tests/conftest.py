"""Shared fixtures: the two routing-core implementations and a factory building one."""

from __future__ import annotations

import importlib
import os

# As the server does (cli.py): the tests fork redis-servers beside running gRPC servers,
# and gRPC's fork handlers must not run in those children.
os.environ.setdefault("GRPC_ENABLE_FORK_SUPPORT", "false")
from collections.abc import Iterator
from typing import Protocol

import pytest

from cim_router import _core_py
from cim_router.domain.policy import Policy

# The compiled core mirrors the twin's API; type checkers see the twin.
CoreType = type[_core_py.Core]


class MakeCore(Protocol):
    def __call__(self, policy: Policy | None = None) -> _core_py.Core: ...


# Imported on first use, so a missing extension fails the "compiled" tests only.
CORE_MODULES: dict[str, str] = {
    "compiled": "cim_router._core",
    "python": "cim_router._core_py",
}


def load_core_class(name: str) -> CoreType:
    """The Core class of the implementation called `name` ("compiled" or "python")."""
    cls: CoreType = importlib.import_module(CORE_MODULES[name]).Core
    return cls


@pytest.fixture(params=list(CORE_MODULES), ids=list(CORE_MODULES))
def core_cls(request: pytest.FixtureRequest) -> CoreType:
    """Each routing-core implementation in turn: "compiled", then "python"."""
    name: str = request.param
    return load_core_class(name)


@pytest.fixture
def make_core(core_cls: CoreType) -> MakeCore:
    """Build a core of the implementation under test; no policy means the defaults."""

    def make(policy: Policy | None = None) -> _core_py.Core:
        return core_cls(policy if policy is not None else Policy())

    return make


@pytest.fixture(scope="session")
def core_classes() -> dict[str, CoreType]:
    """Both implementations at once, by name, for tests that compare them."""
    return {name: load_core_class(name) for name in CORE_MODULES}


@pytest.fixture(scope="session", autouse=True)
def _clean_test_redis() -> Iterator[None]:
    """Leave the test Redis as the suite found it (it may be a shared one)."""
    yield
    from tests.redis_server import _private, drop_all_test_keys

    if os.environ.get("CIM_TEST_REDIS_URL") or _private is not None:
        drop_all_test_keys()
