"""The import contract (pyproject.toml, `lint-imports`): it holds for the tree, and it fails
on an upward import, such as the ones the tree used to have (the store importing the
service, the tenant's logic importing the metrics)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
LINT = Path(sys.executable).parent / "lint-imports"

UPWARD = {
    "store imports the service": ("store/codec.py", "cim_router.service.convert"),
    "tenant imports the store": ("tenant/router.py", "cim_router.store.redis_store"),
    "tenant imports the metrics": ("tenant/reports.py", "cim_router.observability.metrics"),
    "tenant imports grpc": ("tenant/offers.py", "grpc"),
    "routing imports the tenant": ("routing/engine.py", "cim_router.tenant.records"),
    "domain imports routing": ("domain/policy.py", "cim_router.routing.engine"),
    "client imports the server": ("client/aio.py", "cim_router.service.servicer"),
}


def _lint(src: Path, config: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(src)}
    return subprocess.run(
        [str(LINT), "--config", str(config), "--no-cache"],
        capture_output=True,
        text=True,
        env=env,
        cwd=src.parent,
        timeout=120,
    )


def test_the_tree_keeps_the_layering() -> None:
    done = _lint(ROOT / "src", ROOT / "pyproject.toml")
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.fixture(scope="module")
def copy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The package's Python sources in a scratch directory, to plant imports in."""
    src = tmp_path_factory.mktemp("tree") / "src"
    shutil.copytree(
        ROOT / "src" / "cim_router",
        src / "cim_router",
        ignore=shutil.ignore_patterns("*.so", "*.c", "__pycache__"),
    )
    return src


@pytest.mark.parametrize("case", sorted(UPWARD))
def test_an_upward_import_breaks_the_contract(copy: Path, case: str) -> None:
    module, target = UPWARD[case]
    path = copy / "cim_router" / module
    original = path.read_text()
    path.write_text(f"{original}\nimport {target}  # planted\n")
    try:
        done = _lint(copy, ROOT / "pyproject.toml")
    finally:
        path.write_text(original)
    assert done.returncode != 0, f"{case}: the contract let it through\n{done.stdout}"
    assert "BROKEN" in done.stdout


STDLIB = ("argparse", "os", "sys")  # their documented underscore names (os._exit, ...)


def _private_reads(path: Path) -> list[str]:
    """`obj._name` where obj is not self or cls: another object's private API."""
    import ast

    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if not isinstance(node, ast.Attribute):
            continue
        name = node.attr
        if not name.startswith("_") or (name.startswith("__") and name.endswith("__")):
            continue
        owner = node.value
        if isinstance(owner, ast.Name) and owner.id in ("self", "cls", *STDLIB):
            continue
        if isinstance(owner, ast.Call) and getattr(owner.func, "id", "") == "super":
            continue
        found.append(f"{path.relative_to(ROOT)}:{node.lineno}: .{name}")
    return found


def test_no_module_uses_another_objects_private_names() -> None:
    files = [
        p
        for folder in ("src", "tests", "bench", "scripts", "clients")
        for p in (ROOT / folder).rglob("*.py")
        if "_pb" not in p.parts and "node_modules" not in p.parts
    ]
    found = [hit for p in files for hit in _private_reads(p)]
    assert not found, "\n".join(found)


MAX_MODULE_LINES = 500


def test_no_hand_written_module_is_over_500_lines() -> None:
    suffixes = {".py", ".pyx", ".pxi", ".pxd", ".pyi"}
    long = [
        f"{p.relative_to(ROOT)}: {n} lines"
        for folder in ("src", "tests", "bench", "scripts", "clients")
        for p in (ROOT / folder).rglob("*")
        if p.suffix in suffixes
        and "_pb" not in p.parts
        and "node_modules" not in p.parts
        and (n := len(p.read_text().splitlines())) > MAX_MODULE_LINES
    ]
    assert not long, "\n".join(long)
