"""JSON logs: one object per line, whitelisted fields only, never an interaction's context."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest

from cim_router.cli import main
from cim_router.observability import JsonFormatter, configure_logging
from tests.observability.conftest import Observed
from tests.observability.journey import run_journey

SECRET = "SECRET-CARD-4111"


@pytest.fixture
def root_handlers() -> Iterator[None]:
    """Put the root logger back as it was."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    try:
        yield
    finally:
        for h in root.handlers[:]:
            root.removeHandler(h)
        for h in handlers:
            root.addHandler(h)
        root.setLevel(level)


def test_a_journey_logs_ids_and_events_but_never_context(
    observed: Observed, root_handlers: None
) -> None:
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    client = observed.running.client()
    run_journey(client, context={"card": SECRET})
    assert client.get("c1").context["card"] == SECRET  # the router did hold it
    handler.flush()

    text = out.getvalue()
    assert SECRET not in text
    lines = [json.loads(line) for line in text.splitlines()]
    assert all({"ts", "level", "logger", "msg"} <= line.keys() for line in lines)
    events = [line for line in lines if line["logger"] == "cim_router.events"]
    assert {e["interaction_id"] for e in events} == {"c1", "c2", "c3", "c4"}
    assert {e["event"] for e in events} >= {
        "ENQUEUED",
        "LINKED",
        "OFFERED",
        "ACCEPTED",
        "REJECTED",
        "OFFER_EXPIRED",
        "CANCELLED",
        "WRAP_UP_STARTED",
        "COMPLETED",
        "TRANSFER_REQUESTED",
        "TRANSFERRED",
        "ESCALATED",
    }
    offered = [e for e in events if e["event"] == "OFFERED" and e["interaction_id"] == "c1"]
    assert offered == [
        {
            "ts": offered[0]["ts"],
            "level": "DEBUG",
            "logger": "cim_router.events",
            "msg": "OFFERED c1",
            "tenant": "default",
            "interaction_id": "c1",
            "agent_id": "ann",
            "channel": "chat",
            "event": "OFFERED",
        }
    ]


def test_only_whitelisted_extra_fields_pass() -> None:
    record = logging.LogRecord("cim_router.x", logging.INFO, __file__, 1, "hello %s", ("w",), None)
    record.__dict__.update(
        {"tenant": "acme", "context": {"card": SECRET}, "reason": SECRET, "duration": 0.5}
    )
    line = json.loads(JsonFormatter().format(record))
    assert line.keys() == {"ts", "level", "logger", "msg", "tenant", "duration"}
    assert line["msg"] == "hello w" and line["tenant"] == "acme" and line["duration"] == 0.5
    assert line["ts"].endswith("Z")


def test_configure_logging_json_and_text(
    capsys: pytest.CaptureFixture[str], root_handlers: None
) -> None:
    log = logging.getLogger("cim_router.test")
    configure_logging("INFO", "json")
    log.debug("hidden")
    log.info("shown", extra={"interaction_id": "i1"})
    err = capsys.readouterr().err
    (line,) = [json.loads(x) for x in err.splitlines()]
    assert line["msg"] == "shown" and line["interaction_id"] == "i1" and line["level"] == "INFO"

    configure_logging("WARNING", "text")
    log.warning("plain")
    err = capsys.readouterr().err
    assert err.rstrip().endswith("WARNING cim_router.test: plain")
    assert len(logging.getLogger().handlers) == 1

    with pytest.raises(ValueError, match="json, text"):
        configure_logging("INFO", "yaml")


def test_cli_refuses_an_unknown_log_format(root_handlers: None) -> None:
    with pytest.raises(SystemExit, match="log format"):
        main(["serve", "--log-format", "yaml"])
