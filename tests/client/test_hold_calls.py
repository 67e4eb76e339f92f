"""The clients' hold and feedback calls, and `cim-router hold`, `resume` and `feedback`,
against a live server: the sync and the async client alike."""

from __future__ import annotations

import pytest

from cim_router._pb import router_pb2 as pb
from cim_router.client import AsyncRouterClient, FailedPrecondition, InvalidArgument, RouterClient
from tests.client.conftest import run
from tests.client.test_cli import Cli, cli, rows
from tests.service.conftest import wait_for

__all__ = ["cli"]  # the fixture, shared


def _completed(router: RouterClient, iid: str) -> None:
    wait_for(
        lambda: router.get_interaction(iid).state == pb.INTERACTION_STATE_COMPLETED,
        what=f"{iid} completed",
    )


def test_sync_client_hold_resume_and_feedback(sync_client: RouterClient) -> None:
    router = sync_client
    router.upsert_agent("ann", state="available")
    router.enqueue("c1", channel="chat")
    router.accept("c1", "ann")
    held = router.hold("c1", agent_id="ann", reason="checking")
    assert held.on_hold and held.hold_count == 1
    with pytest.raises(FailedPrecondition, match="already on hold"):
        router.hold("c1")
    off = router.resume("c1", agent_id="ann")
    assert not off.on_hold and off.hold_seconds >= 0
    router.complete("c1", csat=2)
    _completed(router, "c1")
    got = router.submit_feedback("c1", 4, comment="fine", fields={"nps": "9"})
    assert (
        got.csat == 4
        and got.feedback_comment == "fine"
        and dict(got.feedback_fields) == {"nps": "9"}
    )
    with pytest.raises(InvalidArgument, match="csat"):
        router.submit_feedback("c1", 0)


def test_async_client_hold_resume_and_feedback(target: str) -> None:
    async def scenario() -> None:
        async with AsyncRouterClient(target) as router:
            await router.upsert_agent("bo", state="available")
            await router.enqueue("a1", channel="email")
            await router.accept("a1", "bo")
            assert (await router.hold("a1")).on_hold
            assert not (await router.resume("a1")).on_hold
            with pytest.raises(FailedPrecondition, match="not COMPLETED"):
                await router.submit_feedback("a1", 5)

    run(scenario())


def test_cli_hold_resume_and_feedback(cli: Cli) -> None:
    cli("agent-upsert", "ann", "--state", "available")
    cli("enqueue", "c1", "--channel", "chat")
    cli("accept", "c1", "ann")
    held = rows(cli("hold", "c1", "--agent", "ann", "--reason", "checking"))
    assert ["holds:", "1"] in held and held[held.index(["holds:", "1"]) - 1][:2] == ["on", "hold:"]
    assert ["on", "hold:", "no"] in rows(cli("resume", "c1"))
    err = cli("resume", "c1", code=1)
    assert "FAILED_PRECONDITION: interaction 'c1' is not on hold" in err
    cli("complete", "c1")
    wait_for(
        lambda: cli.json("get", "c1")["state"] == "INTERACTION_STATE_COMPLETED",
        what="c1 completed",
    )
    data = cli.json("feedback", "c1", "5", "--comment", "great", "--field", "nps=10")
    assert data["csat"] == 5 and data["feedback_comment"] == "great"
    assert data["feedback_fields"] == {"nps": "10"}
    out = cli("feedback", "c1", "4")
    assert ["csat:", "4"] in rows(out)
