"""Log output: one JSON object per line, or plain text for a terminal.

A JSON line holds `ts` (UTC, ISO 8601), `level`, `logger`, `msg`, the exception if any, and
only the extra fields named in `EXTRA_FIELDS`. Anything else passed as `extra=` is dropped,
so an interaction's context (customer data) can never reach the log by accident; the
router's own messages carry ids, channels and event types, never context or free-text
reasons.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import datetime, timezone
from typing import Any

EXTRA_FIELDS = (
    "tenant",
    "interaction_id",
    "agent_id",
    "channel",
    "event",
    "state",
    "code",
    "method",
    "duration",
    "address",
    "key",
    "error",
)
FORMATS = ("json", "text")
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class JsonFormatter(logging.Formatter):
    """One JSON object per record with the whitelisted extra fields only."""

    def format(self, record: logging.LogRecord) -> str:
        ts = datetime.fromtimestamp(record.created, tz=timezone.utc)
        out: dict[str, Any] = {
            "ts": ts.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for key in EXTRA_FIELDS:
            value = record.__dict__.get(key)
            if value is not None:
                out[key] = value if isinstance(value, (str, int, float, bool)) else str(value)
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        elif record.exc_text:
            out["exc"] = record.exc_text
        return json.dumps(out, ensure_ascii=False)


def configure_logging(level: str | int = "INFO", fmt: str = "json") -> None:
    """Send the root logger's records to stderr as JSON lines or text, at `level`."""
    if fmt not in FORMATS:
        raise ValueError(f"log format must be one of {', '.join(FORMATS)}; got {fmt!r}")
    handler = logging.StreamHandler(sys.stderr)
    formatter = JsonFormatter() if fmt == "json" else logging.Formatter(TEXT_FORMAT)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    for old in root.handlers[:]:
        root.removeHandler(old)
        old.close()
    root.addHandler(handler)
    root.setLevel(level.upper() if isinstance(level, str) else level)
