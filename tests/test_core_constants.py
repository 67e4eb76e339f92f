"""The core's limits and codes agree everywhere they are written down.

The compiled core needs them as C enums (array sizes, at compile time: `_core.pxd`); Python
code reads `_core_common`; the domain model has its own names for some. These tests are
what keeps the copies from drifting apart.
"""

from __future__ import annotations

from cim_router import _core, _core_common
from cim_router.domain import AgentState, Channel, limits


def _python_constants() -> dict[str, int]:
    return {
        name: value
        for name, value in vars(_core_common).items()
        if name.isupper() and type(value) is int
    }


def test_compiled_constants_are_the_python_ones() -> None:
    assert _core.constants() == _python_constants()


def test_every_reason_code_has_its_name() -> None:
    codes = {name.lower(): code for name, code in _python_constants().items()}
    assert len(_core_common.REASONS) == len(set(_core_common.REASONS))
    for code, name in enumerate(_core_common.REASONS):
        assert codes[name] == code


def test_the_domain_model_agrees() -> None:
    assert [int(c) for c in Channel] == list(range(_core_common.N_CHANNELS))
    assert limits.MAX_PROFICIENCY == _core_common.MAX_LEVEL
    assert (limits.MIN_TIER, limits.MAX_TIER) == (1, _core_common.MAX_TIER)
    assert int(AgentState.AVAILABLE) == _core_common.STATE_AVAILABLE
    assert max(AgentState) == _core_common.MAX_STATE
    assert min(AgentState) == 0


def test_debug_flag_is_a_bool() -> None:
    assert isinstance(_core.DEBUG, bool)
