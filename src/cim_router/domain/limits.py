"""Limits of the public contract, checked at the edge of the domain.

Every bound a request field is held to is a constant here; docs/service.md lists them
field by field, and a test keeps that table and these values the same.
"""

from __future__ import annotations

from collections.abc import Sized

from cim_router.domain.errors import ValidationError

# Ids: interactions, agents, customers, tenants.
MAX_ID_LENGTH = 128

# Skills.
MAX_SKILL_NAME_LENGTH = 64
MIN_PROFICIENCY, MAX_PROFICIENCY = 1, 10
MAX_SKILLS_PER_INTERACTION = 8  # the core keeps required and preferred skills inline
MAX_SKILLS_PER_AGENT = 64

# Agents.
MIN_TIER, MAX_TIER = 1, 5
MAX_CAPACITY = 255  # the core stores load and capacity as one byte per channel

# Interactions.
MAX_PRIORITY = 100
MAX_ESCALATION_LEVEL = 10
MAX_SLA_SECONDS = 30 * 24 * 3600  # a month: beyond any real target, far from overflow
MAX_CSAT = 5
MAX_CUSTOMER_TIER_LENGTH = 64

# Free text, kept in records and history and returned to every reader.
MAX_DISPLAY_NAME_LENGTH = 256
MAX_REASON_LENGTH = 256
MAX_DISPOSITION_LENGTH = 256
# Feedback (SubmitFeedback): the customer's comment, and the survey's further answers.
MAX_FEEDBACK_COMMENT_LENGTH = 2000
MAX_FEEDBACK_FIELDS = 32
MAX_FEEDBACK_FIELD_NAME_LENGTH = 64
MAX_FEEDBACK_FIELD_VALUE_LENGTH = 256

# Context: a JSON object every response carrying the interaction repeats. Stock protobuf
# parsers stop at 100 nested messages, and each JSON level is three of them.
MAX_CONTEXT_BYTES = 64 * 1024
MAX_CONTEXT_DEPTH = 16
MAX_CONTEXT_KEY_LENGTH = 256
MAX_REMOVE_KEYS = 64

# Lists.
MAX_WATCHED_AGENTS = 1000
# Calls of one Session stream served at once; past it the server reads no more of them.
MAX_SESSION_IN_FLIGHT = 256
MAX_PAGE_SIZE = 1000
DEFAULT_PAGE_SIZE = 500
DEFAULT_AUDIT_PAGE_SIZE = 100  # ListAudit's page when page_size is 0
DEFAULT_INTERACTIONS_PAGE_SIZE = 100  # ListInteractions' page when page_size is 0
MAX_HOURS_INTERVALS = 48  # intervals of one day or date in a queue's hours
MAX_HOURS_EXCEPTIONS = 400  # dated exceptions of a queue's hours
MAX_TIME_ZONE_LENGTH = 64
MAX_PAGE_TOKEN_LENGTH = 1024
MAX_EVENT_TYPE_FILTERS = 64  # entries of WatchEventsRequest.types
MAX_STREAM_ID_LENGTH = 41  # an event stream entry id: two 64-bit numbers and a dash
# A page stops early rather than pass this many bytes: clients refuse messages over 4 MiB.
MAX_PAGE_BYTES = 2 * 1024 * 1024


def check_id(field: str, value: str) -> None:
    """An id is 1..128 printable characters."""
    if not value:
        raise ValidationError(field, "must not be empty")
    if len(value) > MAX_ID_LENGTH:
        raise ValidationError(field, f"must be at most {MAX_ID_LENGTH} characters")
    if not value.isprintable():
        raise ValidationError(field, "must contain printable characters only")


def is_skill_name(value: str) -> bool:
    return 0 < len(value) <= MAX_SKILL_NAME_LENGTH and value.isprintable()


def check_skill_name(field: str, value: str) -> None:
    """A skill name is 1..64 printable characters (so no NUL)."""
    if not value or len(value) > MAX_SKILL_NAME_LENGTH or not value.isprintable():
        raise ValidationError(
            field, f"skill names are 1..{MAX_SKILL_NAME_LENGTH} printable characters"
        )


def check_text(field: str, value: str, max_length: int) -> None:
    """Free text: at most `max_length` characters and no NUL, which C-string consumers of
    records and history (exports, wallboards) would cut short."""
    if len(value) > max_length:
        raise ValidationError(field, f"must be at most {max_length} characters, got {len(value)}")
    if "\x00" in value:
        raise ValidationError(field, "must not contain NUL characters")


def check_count(field: str, items: Sized, max_count: int, what: str = "entries") -> None:
    """A repeated field holds at most `max_count` entries."""
    if len(items) > max_count:
        raise ValidationError(field, f"at most {max_count} {what}, got {len(items)}")


def shown(name: str, limit: int = 32) -> str:
    """A client's name for an error message: quoted, and cut short so that no message
    echoes an unbounded input."""
    return repr(name) if len(name) <= limit else repr(name[:limit]) + "..."
