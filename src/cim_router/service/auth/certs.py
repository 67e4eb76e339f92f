"""Client certificates as callers: a TOML file (`--cert-map`) maps a certificate's subject
common name, or one of its subject alternative names, to a tenant, a role and an agent id.

    [[client]]
    match = "desk-7.acme.example"   # CN or SAN of the client certificate
    tenant = "acme"                 # or "*" for every tenant
    role = "agent"                  # admin, router, agent, viewer
    agent_id = "a7"                 # for role agent

The certificate itself is checked by TLS (the server requires one signed by its client CA);
this file only says who a verified certificate is."""

from __future__ import annotations

import sys
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

from cim_router.domain.errors import ValidationError
from cim_router.domain.limits import check_id
from cim_router.service.auth.principal import ALL_TENANTS, Principal, Role

CN = "x509_common_name"
SAN = "x509_subject_alternative_name"


class CertMapError(ValueError):
    """The mapping file cannot be used; the message names the entry."""


@dataclass(frozen=True)
class CertEntry:
    match: str
    tenant: str
    role: Role
    agent_id: str = ""

    def principal(self) -> Principal:
        return Principal(
            caller=f"cert:{self.match}", role=self.role, tenant=self.tenant, agent_id=self.agent_id
        )


class CertMap:
    def __init__(self, entries: Iterable[CertEntry]) -> None:
        self.entries: dict[str, CertEntry] = {}
        for entry in entries:
            if entry.match in self.entries:
                raise CertMapError(f"client {entry.match!r}: listed twice")
            self.entries[entry.match] = entry

    @classmethod
    def load(cls, path: str | Path) -> CertMap:
        try:
            data = tomllib.loads(Path(path).read_text())
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise CertMapError(f"{path}: {exc}") from None
        rows = data.get("client", [])
        if not isinstance(rows, list):
            raise CertMapError(f"{path}: [[client]] entries expected")
        return cls(_entry(row, n) for n, row in enumerate(rows))

    def find(self, auth_context: dict[str, Iterable[bytes]]) -> CertEntry | None:
        """The entry of a verified client certificate: its CN first, then its SANs."""
        for prop in (CN, SAN):
            for value in auth_context.get(prop, ()):
                entry = self.entries.get(value.decode("utf-8", "replace"))
                if entry is not None:
                    return entry
        return None


def _entry(row: Any, n: int) -> CertEntry:
    where = f"client[{n}]"
    if not isinstance(row, dict):
        raise CertMapError(f"{where}: a table expected")
    try:
        match, tenant = str(row["match"]), str(row["tenant"])
        role = Role(str(row["role"]))
    except KeyError as exc:
        raise CertMapError(f"{where}: {exc.args[0]} is required") from None
    except ValueError:
        raise CertMapError(f"{where}.role: one of admin, router, agent, viewer") from None
    agent_id = str(row.get("agent_id", ""))
    try:
        if tenant != ALL_TENANTS:
            check_id("tenant", tenant)
        if role is Role.AGENT:
            check_id("agent_id", agent_id)
    except ValidationError as exc:
        raise CertMapError(f"{where}: {exc}") from None
    if role is not Role.AGENT and agent_id:
        raise CertMapError(f"{where}.agent_id: only for role agent")
    return CertEntry(match, tenant, role, agent_id)
