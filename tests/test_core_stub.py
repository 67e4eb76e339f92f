"""The compiled modules are what their stubs (`_core.pyi`, `_lsap.pyi`) say, and the
compiled core's methods take the same parameters as the twin's.

mypy type-checks every caller against the stubs (and the twin), never against the
extension itself; stubtest imports the built extension and compares.
"""

from __future__ import annotations

import inspect
import subprocess
import sys
from pathlib import Path

from cim_router import _core, _core_py

ALLOWLIST = Path(__file__).with_name("stubtest_allowlist.txt")


def test_stubs_match_the_compiled_modules() -> None:
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "mypy.stubtest",
            "cim_router._core",
            "cim_router._lsap",
            "--allowlist",
            str(ALLOWLIST),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def _public(cls: type) -> set[str]:
    return {name for name in vars(cls) if not name.startswith("_")}


def test_compiled_core_takes_the_twins_parameters() -> None:
    assert _public(_core.Core) - {"params"} == _public(_core_py.Core)
    for name in sorted(_public(_core_py.Core)):
        twin = inspect.signature(getattr(_core_py.Core, name))
        compiled = inspect.signature(getattr(_core.Core, name))
        assert [(p.name, p.kind, p.default) for p in compiled.parameters.values()] == [
            (p.name, p.kind, p.default) for p in twin.parameters.values()
        ], name
