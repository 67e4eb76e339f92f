"""The README's client example runs against a live router, and its CLI lines parse."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

from cim_router.cli import parser
from cim_router.client import RouterClient, interaction_state_name

README = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")


def block(lang: str, marker: str) -> str:
    blocks: list[str] = re.findall(rf"```{lang}\n(.*?)```", README, flags=re.S)
    (code,) = [b for b in blocks if marker in b]
    return code


def test_client_example_runs(target: str) -> None:
    code = block("python", "AsyncRouterClient").replace("localhost:50051", target)
    exec(compile(code, "README.md", "exec"), {"__name__": "readme"})
    with RouterClient(target, tenant="acme") as router:
        chat = router.get_interaction("chat-1")
    assert interaction_state_name(chat.state) in ("wrap_up", "completed")
    assert (chat.agent_id, chat.csat, chat.disposition) == ("ann", 5, "resolved")


def test_cli_lines_parse() -> None:
    text = block("sh", "cim-router agents").replace("\\\n", " ")
    lines = [line.split("#")[0] for line in text.splitlines() if line.strip()]
    commands: set[str] = set()
    for line in lines:
        argv = shlex.split(line)
        assert argv[0] == "cim-router"
        args = parser().parse_args(argv[1:])
        commands.add(args.command)
    assert len(commands) == 20  # queues, callback, events, customer, hold, resume, feedback
