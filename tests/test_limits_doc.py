"""docs/service.md's table of request limits is the contract the code enforces: every field
of every request has a row, and every limit it quotes is the constant in domain/limits.py."""

from __future__ import annotations

import re
from pathlib import Path

from google.protobuf.descriptor import Descriptor

from cim_router._pb import router_pb2 as pb
from cim_router.domain import limits

DOC = (Path(__file__).resolve().parents[1] / "docs" / "service.md").read_text(encoding="utf-8")
SECTION = DOC.split("## Request limits", 1)[-1]
SERVICE = pb.DESCRIPTOR.services_by_name["Router"]


def _request_messages() -> dict[str, Descriptor]:
    """Every message a request carries, the requests' own first, google.protobuf's left out."""
    found: dict[str, Descriptor] = {}
    todo = [m.input_type for m in SERVICE.methods]
    while todo:
        message = todo.pop()
        if message.full_name.startswith("google.protobuf.") or message.name in found:
            continue
        if message.GetOptions().map_entry:
            continue
        found[message.name] = message
        todo.extend(f.message_type for f in message.fields if f.message_type is not None)
    return found


def _rows() -> set[str]:
    return set(re.findall(r"^\| `(\w+\.\w+)` \|", SECTION, flags=re.M))


def test_every_request_field_has_a_row() -> None:
    fields = {f"{name}.{f.name}" for name, m in _request_messages().items() for f in m.fields}
    assert fields, "no request fields found"
    missing = sorted(fields - _rows())
    assert not missing, f"docs/service.md has no row for {missing}"
    unknown = sorted(_rows() - fields)
    assert not unknown, f"docs/service.md has rows for fields the proto lacks: {unknown}"


def test_the_quoted_limits_are_the_constants() -> None:
    quoted = re.findall(r"`([A-Z][A-Z0-9_]*)` = (-?\d+)", DOC)
    assert quoted
    for name, value in quoted:
        assert getattr(limits, name) == int(value), f"{name} is {getattr(limits, name)}"


def test_every_constant_is_quoted() -> None:
    constants = {n for n, v in vars(limits).items() if n.isupper() and isinstance(v, int)}
    quoted = {name for name, _ in re.findall(r"`([A-Z][A-Z0-9_]*)` = (-?\d+)", DOC)}
    assert constants - quoted == set(), "limits.py constants docs/service.md does not give"
