"""docs/security.md's roles table is roles.py: every RPC of the service, each role's cell
`yes`, `own` (an agent key, for its own agent), `operator` (operators' keys only) or `-`."""

from __future__ import annotations

from cim_router._pb import router_pb2 as pb
from cim_router.service.auth.principal import Role
from cim_router.service.auth.roles import AGENT_BOUND, OPERATOR_ONLY, ROLES
from tests.service.auth_support import doc_table

SERVICE = pb.DESCRIPTOR.services_by_name["Router"]


def _cell(role: Role, method: str) -> str:
    if method not in ROLES[role]:
        return "-"
    if role is Role.AGENT and method in AGENT_BOUND:
        return "own"
    if role is Role.ADMIN and method in OPERATOR_ONLY:
        return "operator"
    return "yes"


def test_the_roles_table_is_roles_py() -> None:
    table = doc_table()
    assert list(table) == [m.name for m in SERVICE.methods]
    for method, cells in table.items():
        assert cells == {r.value: _cell(r, method) for r in Role}, method


def test_every_role_names_only_rpcs_of_the_service() -> None:
    names = {m.name for m in SERVICE.methods}
    for role, rpcs in ROLES.items():
        assert rpcs <= names, (role, rpcs - names)
