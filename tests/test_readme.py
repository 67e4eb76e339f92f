"""The README's examples are real: its Python runs and its policy file loads."""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path

from cim_router.domain import load_policy

README = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")


def _blocks(lang: str) -> list[str]:
    return re.findall(rf"```{lang}\n(.*?)```", README, flags=re.S)


def test_python_example_prints_what_its_comments_say() -> None:
    (code,) = [b for b in _blocks("python") if "Engine()" in b]
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(code, "README.md", "exec"), {})
    expected = [line.split("#")[-1].strip() for line in code.splitlines() if "print(" in line]
    assert out.getvalue().split("\n")[:-1] == expected


def test_policy_example_loads(tmp_path: Path) -> None:
    (toml,) = _blocks("toml")
    path = tmp_path / "policy.toml"
    path.write_text(toml, encoding="utf-8")
    policy = load_policy(path)
    assert [s.after_seconds for s in policy.relaxation] == [30.0, 90.0]
    assert policy.customer_tiers["vip"].target_agent_tier == 3
    assert policy.escalation_min_tier == (1, 3, 5)
    billing = policy.queues["billing"]
    assert [r.queue for r in billing.overflow] == ["billing-backlog", "billing-backlog"]
    assert not billing.hours.is_open(1_798_185_600.0)  # 2026-12-25 00:00 UTC, a holiday
    assert policy.queues["billing-backlog"].overflow[0].disposition == "callback-requested"
    assert (policy.hold_limit_seconds, policy.feedback_window_seconds) == (300.0, 604800.0)
