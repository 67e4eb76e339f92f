"""`cim-router queues`, `queue-upsert`, `queue ID` and the profile option of `agent-upsert`,
in-process against a live router."""

from __future__ import annotations

from pathlib import Path

import pytest

from cim_router.cli import main
from tests.client.test_cli import Cli, cli, rows

__all__ = ["cli"]  # the fixture, shared


def test_queue_upsert_with_hours_from_a_file_then_list_and_watch(cli: Cli, tmp_path: Path) -> None:
    hours = tmp_path / "hours.toml"
    hours.write_text(
        'time_zone = "Europe/Paris"\nmon = ["09:00-17:00"]\n[exceptions]\n"2026-12-25" = []\n'
    )
    out = cli(
        "queue-upsert", "billing", "--channels", "voice,chat", "--skills", "billing=3",
        "--priority", "5", "--sla", "30/0.9", "--max-size", "10", "--hours-file", str(hours),
    )  # fmt: skip
    assert "channels:" in out and "voice, chat" in out
    assert "mon 09:00-17:00 (Europe/Paris); closed 2026-12-25" in out
    assert "90% in 30 s" in out
    data = cli.json("queue", "billing", "--count", "1")
    assert data["queue"]["max_size"] == 10  # type: ignore[index]
    enqueued = cli("enqueue", "c1", "--channel", "chat", "--queue", "billing")
    assert ["queue:", "billing"] in rows(enqueued)
    table = rows(cli("queues"))
    assert table[0][:3] == ["QUEUE", "OPEN", "WAITING"]
    assert [r[0] for r in table[1:]] == ["billing", "default"]
    assert table[1][2] == "1"
    watched = cli("queue", "billing", "--count", "2", "--every", "0.01")
    assert watched.count("waiting:") == 2


def test_agent_upsert_with_a_routing_profile(cli: Cli) -> None:
    cli("queue-upsert", "sales")
    out = cli.json("agent-upsert", "ann", "--queue", "sales=7/30", "--queue", "default")
    profile = out["routing_profile"]
    assert profile == [
        {"queue_id": "sales", "priority": 7, "delay_seconds": 30.0},
        {"queue_id": "default", "priority": 10, "delay_seconds": 0.0},
    ]
    err = cli("agent-upsert", "bob", "--queue", "nowhere", code=1)
    assert "INVALID_ARGUMENT: routing_profile[0].queue_id: no queue 'nowhere'" in err


def test_a_bad_sla_or_channel_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    for argv in (["--sla", "x/y"], ["--channels", "voice,fax"], ["--hours-file", "/nonexistent"]):
        try:
            code = main(["queue-upsert", "q", *argv, "--target", "127.0.0.1:1"])
        except SystemExit as done:
            code = int(str(done.code))
        assert code == 2, argv
        err = capsys.readouterr().err
        assert ("SECONDS/SHARE" in err) or ("'fax'" in err) or ("/nonexistent" in err), err


def test_queue_upsert_with_overflow_rules_from_a_file(cli: Cli, tmp_path: Path) -> None:
    cli("queue-upsert", "backlog")
    rules = tmp_path / "rules.toml"
    rules.write_text(
        "[[overflow]]\n"
        'name = "spill"\nwhen = "waited"\nthreshold = 60\nthen = "move"\nqueue = "backlog"\n'
        "to_back = true\n"
        "[[overflow]]\n"
        'name = "shut"\nwhen = "closed"\nthen = "end"\ndisposition = "closed"\n'
    )
    out = cli("queue-upsert", "sales", "--rules-file", str(rules))
    assert "spill: waited 60 s -> move backlog; shut: closed -> end closed" in out
    data = cli.json("queue", "sales", "--count", "1")
    overflow = data["queue"]["overflow"]  # type: ignore[index]
    assert [r["name"] for r in overflow] == ["spill", "shut"]
    assert overflow[0]["to_back"] is True and overflow[0]["queue_id"] == "backlog"
    rules.write_text('[[overflow]]\nname = "x"\nwhen = "sometimes"\nthen = "end"\n')
    err = cli("queue-upsert", "sales", "--rules-file", str(rules), code=2)
    assert "sometimes" in err
    rules.write_text('[[overflow]]\nname = "x"\nwhen = "waited"\nthen = "move"\nqueue = "gone"\n')
    err = cli("queue-upsert", "sales", "--rules-file", str(rules), code=1)
    assert "INVALID_ARGUMENT" in err and "no queue 'gone'" in err


def test_callback_and_scheduled_enqueue_from_the_cli(cli: Cli) -> None:
    cli("enqueue", "call-7", "--channel", "voice")
    out = cli("callback", "call-7", "+33123456789", "--attempts", "2", "--retry", "120")
    assert ["callback", "to:", "+33123456789"] in rows(out)
    assert ["attempts:", "0", "of", "2"] in rows(out)
    data = cli.json("get", "call-7")
    assert data["direction"] == "DIRECTION_OUTBOUND"
    later = cli.json(
        "enqueue", "mail-1", "--channel", "email", "--not-before", "+3600", "--outbound"
    )
    assert later["interaction"]["not_before"]  # type: ignore[index]
    with pytest.raises(SystemExit) as usage:
        main(["enqueue", "mail-2", "--channel", "email", "--not-before", "tomorrow"])
    assert usage.value.code == 2
    err = cli("callback", "mail-1", "+331", code=1)
    assert "INVALID_ARGUMENT" in err and "VOICE and VIDEO" in err
