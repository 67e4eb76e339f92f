"""Names (skills, queues) to the small dense integer ids the core indexes by."""

from __future__ import annotations

from collections.abc import Iterable

from cim_router.domain.interaction import SkillRequirement


class NameRegistry:
    """Assigns ids in first-seen order; an id is never reused or renumbered."""

    def __init__(self) -> None:
        self._ids: dict[str, int] = {}
        self._names: list[str] = []

    def id(self, name: str) -> int:
        found = self._ids.get(name)
        if found is None:
            found = self._ids[name] = len(self._names)
            self._names.append(name)
        return found

    def lookup(self, name: str) -> int | None:
        """The id of a known name, without registering a new one."""
        return self._ids.get(name)

    def name(self, name_id: int) -> str:
        return self._names[name_id]

    def __len__(self) -> int:
        return len(self._names)


class SkillRegistry(NameRegistry):
    """Skill names; queue ids have a registry of their own (`Engine.queues`)."""

    def requirements(self, reqs: Iterable[SkillRequirement]) -> list[tuple[int, int]]:
        if not reqs:
            return []
        return [(self.id(r.skill), r.min_level) for r in reqs]
