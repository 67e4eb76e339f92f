"""ListAgents in pages: id order, every agent once, bounded pages, checked page arguments;
and the Python clients and the operator CLI, which follow the pages."""

from __future__ import annotations

import asyncio
import base64
import json
import random
from collections.abc import Iterator
from typing import Any

import grpc
import pytest

from cim_router._pb import router_pb2 as pb
from cim_router.cli import main as cli_main
from cim_router.client import AsyncRouterClient, RouterClient
from cim_router.domain import limits
from tests.redis_server import drop_prefix
from tests.service.conftest import Client, Running, start_server

AGENTS = 1250
EMOJI = "\U0001f600"  # four bytes in UTF-8


def upsert_all(client: Client, requests: list[pb.UpsertAgentRequest]) -> None:
    """Upsert many agents at once: the calls in flight together, as a contact centre's
    many desktops would make them."""
    meta = (("x-cim-tenant", client.tenant),)
    for start in range(0, len(requests), 200):
        futures = [
            client.stub.UpsertAgent.future(r, metadata=meta, timeout=30)
            for r in requests[start : start + 200]
        ]
        for f in futures:
            f.result()


def pages(client: Client, token: str = "", **kw: Any) -> list[pb.ListAgentsResponse]:
    """Every page from the one `token` starts."""
    out: list[pb.ListAgentsResponse] = []
    while True:
        page = client.ListAgents(pb.ListAgentsRequest(page_token=token, **kw))
        out.append(page)
        token = page.next_page_token
        if not token:
            return out


def ids(found: list[pb.ListAgentsResponse]) -> list[str]:
    return [a.id for page in found for a in page.agents]


@pytest.fixture(scope="module")
def crowded() -> Iterator[Running]:
    """1,250 agents, created in random order; every third one AVAILABLE."""
    running = start_server()
    names = [f"agent-{k:04}" for k in range(AGENTS)]
    random.Random(7).shuffle(names)
    states = {
        n: pb.AGENT_STATE_AVAILABLE if int(n[-4:]) % 3 == 0 else pb.AGENT_STATE_UNSPECIFIED
        for n in names
    }
    upsert_all(
        running.client(),
        [pb.UpsertAgentRequest(agent_id=n, skills={"billing": 5}, state=states[n]) for n in names],
    )
    try:
        yield running
    finally:
        running.stop()
        drop_prefix(running.settings.prefix)


def test_every_agent_is_listed_once_in_id_order(crowded: Running) -> None:
    client = crowded.client()
    everyone = sorted(f"agent-{k:04}" for k in range(AGENTS))
    default = pages(client)
    assert [len(p.agents) for p in default] == [500, 500, 250]
    assert ids(default) == everyone
    assert [bool(p.next_page_token) for p in default] == [True, True, False]
    assert ids(pages(client, page_size=limits.MAX_PAGE_SIZE)) == everyone
    small = pages(client, page_size=7)
    assert len(small) == -(-AGENTS // 7) and ids(small) == everyone
    available = pages(client, page_size=100, state=pb.AGENT_STATE_AVAILABLE)
    assert ids(available) == [n for n in everyone if int(n[-4:]) % 3 == 0]
    assert all(a.state == pb.AGENT_STATE_AVAILABLE for p in available for a in p.agents)


def test_a_page_resumes_after_its_token_while_agents_come_and_go(crowded: Running) -> None:
    client = crowded.client("churn")
    upsert_all(client, [pb.UpsertAgentRequest(agent_id=f"c{k:02}") for k in range(10)])
    first = client.ListAgents(pb.ListAgentsRequest(page_size=4))
    assert [a.id for a in first.agents] == ["c00", "c01", "c02", "c03"]
    client.RemoveAgent(pb.RemoveAgentRequest(agent_id="c03"))  # the token's own agent
    client.RemoveAgent(pb.RemoveAgentRequest(agent_id="c04"))
    client.agent("c035")
    rest = pages(client, first.next_page_token, page_size=4)
    assert ids(rest) == ["c035", "c05", "c06", "c07", "c08", "c09"]


def test_the_clients_and_the_cli_follow_the_pages(
    crowded: Running, capsys: pytest.CaptureFixture[str]
) -> None:
    everyone = sorted(f"agent-{k:04}" for k in range(AGENTS))
    target = crowded.server.address
    with RouterClient(target) as sync:
        assert [a.id for a in sync.list_agents()] == everyone
        assert len(sync.list_agents(state="available")) == len(everyone[::3])

    async def listed() -> list[str]:
        async with AsyncRouterClient(target) as router:
            return [a.id for a in await router.list_agents()]

    assert asyncio.run(listed()) == everyone
    capsys.readouterr()
    assert cli_main(["agents", "--json", "--target", target]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert [a["id"] for a in shown["agents"]] == everyone


BAD_PAGES: list[tuple[str, dict[str, Any], str]] = [
    ("page_size 1001", {"page_size": 1001}, "page_size: must be 1..1000 (0 means 500), got 1001"),
    ("page_size -1", {"page_size": -1}, "page_size: must be 1..1000 (0 means 500), got -1"),
    ("not base64", {"page_token": "!!!"}, "page_token: "),
    ("padding inside", {"page_token": "YQ=Y"}, "page_token: "),
    ("not UTF-8", {"page_token": base64.urlsafe_b64encode(b"\xff\xfe").decode()}, "page_token: "),
    ("not an id", {"page_token": base64.urlsafe_b64encode(b"a\nb").decode()}, "page_token: "),
    ("too long", {"page_token": "QUFB" * 300}, "page_token: "),
    ("not ASCII", {"page_token": "é"}, "page_token: "),
]


@pytest.mark.parametrize(
    ("request_", "message"), [c[1:] for c in BAD_PAGES], ids=[c[0] for c in BAD_PAGES]
)
def test_bad_page_arguments_are_invalid_argument(
    client: Client, request_: dict[str, Any], message: str
) -> None:
    with pytest.raises(grpc.RpcError) as err:
        client.ListAgents(pb.ListAgentsRequest(**request_))
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert (err.value.details() or "").startswith(message), err.value.details()


def test_a_page_of_large_agents_stops_before_clients_would_refuse_it(client: Client) -> None:
    """About 17 KB each, the largest agents the limits allow: 300 of them would be a 5 MB
    response, beyond the 4 MiB a stock client accepts."""
    name = EMOJI * limits.MAX_DISPLAY_NAME_LENGTH
    skills = {f"{k:02}" + EMOJI * 62: 10 for k in range(limits.MAX_SKILLS_PER_AGENT)}
    requests = [
        pb.UpsertAgentRequest(agent_id=f"big-{k:03}", display_name=name, skills=skills)
        for k in range(300)
    ]
    upsert_all(client, requests)
    found = pages(client, page_size=limits.MAX_PAGE_SIZE)
    assert len(found) >= 3
    assert all(p.ByteSize() <= limits.MAX_PAGE_BYTES for p in found)
    assert ids(found) == [r.agent_id for r in requests]
