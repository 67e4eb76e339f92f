"""Interaction channels and their default per-agent capacity."""

from __future__ import annotations

import enum


class Channel(enum.IntEnum):
    """A customer channel; the value is the index the compiled core uses."""

    VOICE = 0
    VIDEO = 1
    CHAT = 2
    SMS = 3
    SOCIAL = 4
    EMAIL = 5

    @classmethod
    def parse(cls, name: str | int | Channel) -> Channel:
        """Accept an enum, its index, or its lower/upper-case name."""
        if isinstance(name, Channel):
            return name
        if isinstance(name, int):
            return cls(name)
        try:
            return cls[name.strip().upper()]
        except KeyError:
            raise ValueError(f"unknown channel {name!r}") from None


CHANNELS: tuple[Channel, ...] = tuple(Channel)

# How many interactions of each channel one agent holds at once unless configured otherwise.
DEFAULT_CAPACITY: dict[Channel, int] = {
    Channel.VOICE: 1,
    Channel.VIDEO: 1,
    Channel.CHAT: 3,
    Channel.SMS: 3,
    Channel.SOCIAL: 3,
    Channel.EMAIL: 5,
}
