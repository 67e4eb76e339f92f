"""The example clients in clients/, each run as its own process against a live router."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from cim_router.client import RouterClient

ROOT = Path(__file__).resolve().parents[2]
PYTHON_EXAMPLES = ROOT / "clients" / "python"
NODE_EXAMPLE = ROOT / "clients" / "node"


def run_example(script: str, *argv: str) -> list[str]:
    done = subprocess.run(
        [sys.executable, str(PYTHON_EXAMPLES / script), *argv],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.splitlines()


def test_acd_answers_transfers_and_hangs_up(target: str) -> None:
    lines = run_example("acd.py", "--target", target, "--tenant", "acd")
    assert lines[1:] == [
        "call-1: queued (offered)",
        "call-1: offered to ann",
        "call-1: answered by ann",
        "call-1: warm transfer to bob, ann stays on until it is answered",
        "call-1: transferred to bob",
        "call-1: hung up after talking to bob (wrap_up)",
        "call-2: queued at position 1",
        "call-2: caller hung up while queued (cancelled)",
        "call-1: 8 events in its history",
    ]
    with RouterClient(target, tenant="acd") as router:
        call = router.get_interaction("call-1")
        assert (call.agent_id, call.disposition, call.csat) == ("bob", "sold", 5)
        assert router.stats().abandoned == 1


def test_chat_desktop_pulls_up_to_its_capacity(target: str) -> None:
    lines = run_example("chat_platform.py", "--target", target, "--tenant", "chat")
    taken = [line for line in lines if " took " in line]
    assert taken == [
        "desk-1 took chat-1 (order 1) [1/3]",
        "desk-1 took chat-2 (order 2) [2/3]",
        "desk-1 took chat-3 (order 3) [3/3]",
    ]
    assert "desk-1 at capacity: nothing more on a 4th pull" in lines
    assert lines[-1] == "done: 3 handled, 2 still waiting"
    with RouterClient(target, tenant="chat") as router:
        notes = router.get_interaction("chat-2").context["notes"]
        assert notes == "answered from the knowledge base"
        assert router.stats().waiting == 2


def test_wallboard_prints_the_live_figures(target: str) -> None:
    with RouterClient(target, tenant="board") as router:
        router.upsert_agent("ann", state="available", skills={"billing": 5})
        router.upsert_agent("bob", state="not_ready")
        router.enqueue("v1", channel="voice", required={"french": 5})
        router.enqueue("c1", channel="chat", required={"french": 5})
    lines = run_example(
        "wallboard.py", "--target", target, "--tenant", "board", "--count", "2", "--interval", "0"
    )
    assert len(lines) == 12 and lines[0].startswith("== wallboard: tenant board at ")
    assert lines[1].startswith("waiting 2   longest wait ")
    assert lines[3] == "agents: available 1  not_ready 1"
    assert lines[4] == "waiting by channel: voice 1  chat 1"
    assert lines[5] == "waiting by skill: french 2"


def test_an_example_reports_an_unreachable_router() -> None:
    done = subprocess.run(
        [sys.executable, str(PYTHON_EXAMPLES / "wallboard.py"), "--target", "127.0.0.1:1"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1 and done.stderr.startswith("wallboard: UNAVAILABLE: ")


def test_node_client(target: str) -> None:
    node, npm = shutil.which("node"), shutil.which("npm")
    if not node or not npm:
        pytest.skip("node and npm are needed for the Node.js example")
    if not (NODE_EXAMPLE / "node_modules" / "@grpc" / "grpc-js").is_dir():
        install = subprocess.run(
            [npm, "ci", "--no-audit", "--no-fund"],
            cwd=NODE_EXAMPLE,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert install.returncode == 0, install.stderr
    done = subprocess.run(
        [node, str(NODE_EXAMPLE / "example.js"), "--target", target, "--tenant", "node"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert summary["offered_to"] == "nadia" and summary["created"] is True
    assert summary["queue"] == "billing" and summary["queue_open"] is True
    assert summary["required_skills"] == ["billing=5"]  # the queue's
    assert summary["agent"]["queues"] == ["billing"]
    assert summary["accepted_state"] == "INTERACTION_STATE_ASSIGNED"
    assert summary["completed_state"] == "INTERACTION_STATE_WRAP_UP"
    assert summary["on_hold"] is True and summary["hold_count"] == 1
    assert (summary["disposition"], summary["csat"]) == ("resolved", 4)  # the feedback's
    assert summary["feedback"] == {"csat": 4, "comment": "quick and kind", "fields": {"nps": "9"}}
    assert summary["context"] == {"order": "A-17", "amount": 12.5}
    assert summary["history"] == [
        "EVENT_TYPE_ENQUEUED",
        "EVENT_TYPE_OFFERED",
        "EVENT_TYPE_ACCEPTED",
        "EVENT_TYPE_HELD",
        "EVENT_TYPE_RESUMED",
        "EVENT_TYPE_WRAP_UP_STARTED",
        "EVENT_TYPE_COMPLETED",
        "EVENT_TYPE_FEEDBACK_REQUESTED",
        "EVENT_TYPE_FEEDBACK_RECEIVED",
    ]
    assert summary["callback"] == {
        "address": "+33123456789",
        "max_attempts": 2,
        "direction": "DIRECTION_OUTBOUND",
    }
    # The event stream: the same events, each with its stream entry id.
    assert [e[1] for e in summary["events"]] == summary["history"]
    assert all(e[2] == "chat-1" and "-" in e[0] for e in summary["events"])
    assert summary["customer"] == {
        "interactions": ["chat-1"],
        "last_agent_id": "nadia",
        "contacts": 1,
        "csat_mean": 4,  # the feedback replaced the 5 given at Complete
    }
    with RouterClient(target, tenant="node") as router:
        assert router.get_interaction("chat-1").agent_id == "nadia"
    # Run again in the same tenant: the chat exists and is no longer offered, so it fails.
    again = subprocess.run(
        [node, str(NODE_EXAMPLE / "example.js"), "--target", target, "--tenant", "node"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert again.returncode != 0 and again.stderr.startswith("node example: ")
