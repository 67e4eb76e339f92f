"""The operator commands of `cim-router`, in-process and as the installed console script."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from cim_router.cli import main
from cim_router.client import RouterClient
from tests.client.conftest import free_port


class Cli:
    """`cim-router ...` in this process against one router; captures what it prints."""

    def __init__(self, target: str, capsys: pytest.CaptureFixture[str]) -> None:
        self.target = target
        self.capsys = capsys

    def __call__(self, *argv: str, code: int = 0) -> str:
        self.capsys.readouterr()
        assert main([*argv, "--target", self.target]) == code
        captured = self.capsys.readouterr()
        return captured.out if code == 0 else captured.err

    def json(self, *argv: str) -> dict[str, object]:
        data: dict[str, object] = json.loads(self(*argv, "--json"))
        return data


@pytest.fixture
def cli(target: str, capsys: pytest.CaptureFixture[str]) -> Cli:
    return Cli(target, capsys)


def rows(text: str) -> list[list[str]]:
    return [line.split() for line in text.splitlines()]


def test_agents_are_upserted_listed_and_paused(cli: Cli) -> None:
    out = cli("agent-upsert", "ann", "--skill", "billing=8", "--skill", "spanish=5", "--tier", "2")
    assert "skills:      billing=8,spanish=5" in out and "state:       offline" in out
    cli("agent-upsert", "ann", "--state", "available", "--skill", "billing=8", "--tier", "2",
        "--name", "Ann")  # fmt: skip
    cli("agent-upsert", "bo", "--skill", "billing=5", "--state", "available")
    out = cli("agent-state", "bo", "not-ready", "--reason", "lunch")
    assert "state:       not_ready (lunch)" in out
    table = cli("agents").splitlines()
    assert table[0].split() == ["ID", "STATE", "TIER", "SKILLS", "LOAD", "NAME"]
    assert table[1].split() == ["ann", "available", "2", "billing=8", "-", "Ann"]
    assert table[2].split() == ["bo", "not_ready", "(lunch)", "1", "billing=5", "-"]
    # Aligned: each cell starts where its column's header does.
    starts = [table[0].index(h) for h in ("STATE", "TIER", "SKILLS", "LOAD")]
    assert [table[1][k - 1 : k + 1] for k in starts] == [" a", " 2", " b", " -"]
    assert [table[2][k - 1 : k + 1] for k in starts] == [" n", " 1", " b", " -"]
    listed = cli.json("agents", "--state", "not_ready")
    assert [a["id"] for a in listed["agents"]] == ["bo"]  # type: ignore[attr-defined]


def test_an_interaction_from_enqueue_to_complete(cli: Cli) -> None:
    cli("agent-upsert", "ann", "--skill", "billing=8", "--state", "available")
    out = cli(
        "enqueue", "chat-1", "--channel", "chat", "--require", "billing=5", "--prefer",
        "spanish", "--priority", "50", "--customer", "c1", "--context", "order=A-17",
        "--context", "amount=12.5", "--context", 'tags=["refund"]',
    )  # fmt: skip
    assert ["state:", "offered"] in rows(out) and "offered to:   ann until" in out
    again = cli.json(
        "enqueue", "chat-1", "--channel", "chat", "--require", "billing=5", "--prefer",
        "spanish", "--priority", "50", "--customer", "c1", "--context", "order=A-17",
        "--context", "amount=12.5", "--context", 'tags=["refund"]',
    )  # fmt: skip
    assert again["created"] is False
    interaction = again["interaction"]
    assert isinstance(interaction, dict)
    assert interaction["context"] == {"order": "A-17", "amount": 12.5, "tags": ["refund"]}
    assert interaction["required_skills"] == [{"skill": "billing", "min_level": 5}]

    why = cli("explain", "chat-1")
    assert ["chosen", "agent:", "ann"] in rows(why)
    assert rows(why)[-1][:2] == ["winner", "ann"]
    assert ["state:", "assigned"] in rows(cli("accept", "chat-1", "ann"))
    done = cli.json("complete", "chat-1", "--csat", "5", "--disposition", "resolved")
    assert (done["csat"], done["disposition"], done["state"]) == (
        5,
        "resolved",
        "INTERACTION_STATE_WRAP_UP",
    )

    detail = cli("get", "chat-1")
    assert ["customer:", "c1"] in rows(detail) and ["csat:", "5"] in rows(detail)
    assert ["order:", '"A-17"'] in rows(detail) and ["amount:", "12.5"] in rows(detail)
    history = detail.split("history:\n")[1].splitlines()
    assert history[0].split() == ["TIME", "EVENT", "CHANNEL", "AGENT", "REASON"]
    assert [line.split()[1] for line in history[1:]] == [
        "enqueued",
        "offered",
        "accepted",
        "wrap_up_started",
    ]


def test_cancel_and_stats(cli: Cli) -> None:
    cli("enqueue", "v1", "--channel", "voice", "--require", "french=5")
    cli("enqueue", "v2", "--channel", "voice")
    stats = cli("stats")
    assert ["waiting:", "2"] in rows(stats) and ["voice", "2"] in rows(stats)
    assert ["french", "1"] in rows(stats)
    assert ["state:", "cancelled"] in rows(cli("cancel", "v1", "--reason", "hung up"))
    figures = cli.json("stats")
    assert figures["waiting"] == 1 and figures["abandoned"] == "1"  # int64 is a JSON string
    # The measures table: every queue and channel, then per queue and channel; v1 hung up
    # within seconds (a short abandon): no service level, an abandonment rate of 0.
    table = rows(cli("stats"))
    assert table[next(i for i, r in enumerate(table) if r and r[0] == "QUEUE")][:6] == [
        "QUEUE",
        "CHANNEL",
        "WINDOW",
        "OFFERED",
        "ANSWERED",
        "ABANDONED",
    ]
    assert [
        "default",
        "voice",
        "today",
        "2",
        "0",
        "1",
        "-",
        "-",
        "-",
        "0.0%",
        "-",
        "-",
        "1",
    ] in table


def test_refusals_print_one_line_with_the_status_and_exit_1(cli: Cli) -> None:
    err = cli("get", "nope", code=1)
    assert err == "cim-router: NOT_FOUND: interaction 'nope' not found\n"
    err = cli("enqueue", "i1", "--channel", "chat", "--priority", "500", code=1)
    assert err.startswith("cim-router: INVALID_ARGUMENT: priority: ") and err.count("\n") == 1
    cli("enqueue", "i1", "--channel", "chat")
    err = cli("complete", "i1", code=1)
    assert err.startswith("cim-router: FAILED_PRECONDITION: ")


@pytest.mark.parametrize(
    "argv",
    [
        ["agent-upsert", "ann", "--skill", "billing"],
        ["agent-upsert", "ann", "--skill", "billing=high"],
        ["agent-state", "ann", "wrap_up"],
        ["enqueue", "i1", "--channel", "fax"],
        ["enqueue", "i1"],
        ["accept", "i1"],
        ["stats", "--timeout", "soon"],
    ],
)
def test_usage_errors_exit_2(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as done:
        main([*argv, "--target", "127.0.0.1:1"])
    assert done.value.code == 2
    assert "cim-router" in capsys.readouterr().err


def test_a_bad_channel_in_capacity_is_a_usage_error(cli: Cli) -> None:
    err = cli("agent-upsert", "ann", "--capacity", "fax=2", code=2)
    assert "unknown channel: 'fax'" in err


def test_target_and_tenant_from_the_environment(
    target: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("CIM_ROUTER_TARGET", target)
    monkeypatch.setenv("CIM_ROUTER_TENANT", "acme")
    assert main(["agent-upsert", "ann", "--state", "available"]) == 0
    with RouterClient(target, tenant="acme") as acme, RouterClient(target) as default:
        assert [a.id for a in acme.list_agents()] == ["ann"]
        assert default.list_agents() == []
    capsys.readouterr()
    assert main(["agents", "--tenant", "other"]) == 0
    assert capsys.readouterr().out == "no agents\n"


def test_an_unreachable_router_is_unavailable(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["stats", "--target", f"127.0.0.1:{free_port()}", "--timeout", "2"])
    assert code == 1
    assert capsys.readouterr().err.startswith("cim-router: UNAVAILABLE: ")


def test_the_console_script(target: str) -> None:
    script = shutil.which("cim-router", path=str(Path(sys.executable).parent))
    assert script, "the cim-router console script is not installed in this environment"
    env = {**os.environ, "CIM_ROUTER_TARGET": target}
    done = subprocess.run(
        [script, "agent-upsert", "ann", "--skill", "billing=8", "--state", "available"],
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == 0, done.stderr
    done = subprocess.run(
        [script, "agents", "--json"], env=env, capture_output=True, text=True, timeout=30
    )
    assert done.returncode == 0, done.stderr
    agents = json.loads(done.stdout)["agents"]
    assert [(a["id"], a["state"], a["skills"]) for a in agents] == [
        ("ann", "AGENT_STATE_AVAILABLE", {"billing": 8})
    ]
    done = subprocess.run(
        [script, "get", "missing"], env=env, capture_output=True, text=True, timeout=30
    )
    assert done.returncode == 1 and done.stdout == ""
    assert done.stderr.strip() == "cim-router: NOT_FOUND: interaction 'missing' not found"


def test_customers_forget_erases_and_says_what(cli: Cli) -> None:
    cli("enqueue", "c1", "--channel", "chat", "--customer", "alice-77", "--context", "card=4111")
    out = cli("customers", "forget", "alice-77")
    assert "interactions:    1 (c1)" in out and "customer index:  erased" in out
    detail = cli("get", "c1")
    assert "alice-77" not in detail and "4111" not in detail
    again = cli.json("customers", "forget", "alice-77")
    assert again.get("interactionIds", []) == [] and not again.get("customerIndexErased")
