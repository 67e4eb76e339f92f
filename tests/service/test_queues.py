"""Queues over real gRPC on a live server and a real Redis: the queue RPCs, Enqueue into a
queue, routing profiles, transfer to a queue, ListInteractions, Explain, and a restart."""

from __future__ import annotations

from typing import Any

import grpc
import pytest

from cim_router._pb import router_pb2 as pb
from cim_router.service.convert import page_token_out
from tests.redis_server import drop_prefix
from tests.service.conftest import Client, Running, fast_policy, start_server, wait_for

Req = pb.SkillRequirement
INVALID = grpc.StatusCode.INVALID_ARGUMENT


def refused(call: object, code: grpc.StatusCode) -> str:
    assert isinstance(call, grpc.RpcError)
    assert call.code() == code, call.details()
    return str(call.details())


def upsert(client: Client, **kw: Any) -> pb.QueueStatus:
    result: pb.QueueStatus = client.UpsertQueue(pb.UpsertQueueRequest(queue=pb.Queue(**kw)))
    return result


def fails(client: Client, method: str, request: object, code: grpc.StatusCode) -> str:
    with pytest.raises(grpc.RpcError) as err:
        getattr(client, method)(request)
    return refused(err.value, code)


def test_queue_upsert_get_list_and_remove(client: Client) -> None:
    listed = client.ListQueues(pb.ListQueuesRequest())
    assert [s.queue.id for s in listed.queues] == ["default"]
    status = upsert(
        client,
        id="billing",
        display_name="Billing",
        channels=[pb.CHANNEL_VOICE],
        required_skills=[Req(skill="billing", min_level=3)],
        priority=10,
        max_size=5,
        hours=pb.Hours(
            time_zone="Europe/Paris",
            weekly=[pb.DayHours(day="mon", intervals=["09:00-17:00"])],
            exceptions=[pb.DateHours(date="2026-12-25")],
        ),
        overflow=[
            pb.OverflowRule(
                name="spill",
                when=pb.OVERFLOW_CONDITION_WAITED,
                threshold=60,
                then=pb.OVERFLOW_ACTION_MOVE,
                queue_id="default",
            )
        ],
    )
    assert status.queue.service_level.seconds == 20 and status.queue.service_level.share == 0.8
    assert status.HasField("next_change")
    got = client.GetQueue(pb.GetQueueRequest(queue_id="billing"))
    assert got.queue == status.queue
    assert got.queue.hours.weekly[0].intervals == ["09:00-17:00"]
    assert got.queue.overflow[0].queue_id == "default"
    names = [s.queue.id for s in client.ListQueues(pb.ListQueuesRequest()).queues]
    assert names == ["billing", "default"]
    assert client.RemoveQueue(pb.RemoveQueueRequest(queue_id="billing")).queue_id == "billing"
    fails(client, "GetQueue", pb.GetQueueRequest(queue_id="billing"), grpc.StatusCode.NOT_FOUND)
    fails(
        client, "RemoveQueue", pb.RemoveQueueRequest(queue_id="billing"), grpc.StatusCode.NOT_FOUND
    )
    details = fails(
        client,
        "RemoveQueue",
        pb.RemoveQueueRequest(queue_id="default"),
        grpc.StatusCode.FAILED_PRECONDITION,
    )
    assert "default" in details


@pytest.mark.parametrize(
    ("queue", "field"),
    [
        (pb.Queue(id=""), "queue.id"),
        (pb.Queue(id="q", priority=101), "queue.priority"),
        (pb.Queue(id="q", channels=[pb.CHANNEL_UNSPECIFIED]), "queue.channels[0]"),
        (pb.Queue(id="q", max_size=-1), "queue.max_size"),
        (
            pb.Queue(id="q", service_level=pb.ServiceLevelTarget(share=2)),
            "queue.service_level.share",
        ),
        (pb.Queue(id="q", hours=pb.Hours(time_zone="Mars/Base")), "queue.hours.time_zone"),
        (
            pb.Queue(
                id="q", hours=pb.Hours(weekly=[pb.DayHours(day="mon", intervals=["17:00-09:00"])])
            ),
            "queue.hours.weekly[0].intervals[0]",
        ),
        (
            pb.Queue(
                id="q",
                hours=pb.Hours(
                    weekly=[pb.DayHours(day="tue", intervals=["09:00-12:00", "11:00-13:00"])]
                ),
            ),
            "queue.hours.weekly[0].intervals",
        ),
        (
            pb.Queue(id="q", hours=pb.Hours(weekly=[pb.DayHours(day="xyz")])),
            "queue.hours.weekly[0].day",
        ),
        (
            pb.Queue(id="q", hours=pb.Hours(exceptions=[pb.DateHours(date="2026-13-01")])),
            "queue.hours.exceptions[0].date",
        ),
        (
            pb.Queue(
                id="q",
                overflow=[
                    pb.OverflowRule(
                        name="m",
                        when=pb.OVERFLOW_CONDITION_SIZE,
                        then=pb.OVERFLOW_ACTION_MOVE,
                        queue_id="nowhere",
                    )
                ],
            ),
            "queue.overflow[0].queue_id",
        ),
        (
            pb.Queue(id="q", overflow=[pb.OverflowRule(name="m", then=pb.OVERFLOW_ACTION_END)]),
            "queue.overflow[0].when",
        ),
        (
            pb.Queue(
                id="q",
                overflow=[
                    pb.OverflowRule(
                        name="m", when=pb.OVERFLOW_CONDITION_CLOSED, then=pb.OVERFLOW_ACTION_END
                    )
                ],
            ),
            "queue.overflow[0].disposition",
        ),
    ],
)
def test_bad_queue_names_the_field_and_changes_nothing(
    client: Client, queue: pb.Queue, field: str
) -> None:
    details = fails(client, "UpsertQueue", pb.UpsertQueueRequest(queue=queue), INVALID)
    assert details.startswith(f"{field}: "), details
    names = [s.queue.id for s in client.ListQueues(pb.ListQueuesRequest()).queues]
    assert names == ["default"]


def test_a_cycle_of_moves_is_refused(client: Client) -> None:
    def move_to(q: str) -> pb.OverflowRule:
        return pb.OverflowRule(
            name="m", when=pb.OVERFLOW_CONDITION_WAITED, then=pb.OVERFLOW_ACTION_MOVE, queue_id=q
        )

    upsert(client, id="a")
    upsert(client, id="b", overflow=[move_to("a")])
    request = pb.UpsertQueueRequest(queue=pb.Queue(id="a", overflow=[move_to("b")]))
    details = fails(client, "UpsertQueue", request, INVALID)
    assert details.startswith("queue.overflow: moves go round"), details
    assert not client.GetQueue(pb.GetQueueRequest(queue_id="a")).queue.overflow


def test_enqueue_into_a_queue_takes_its_skills_and_priority(client: Client) -> None:
    upsert(
        client,
        id="billing",
        channels=[pb.CHANNEL_CHAT],
        required_skills=[Req(skill="billing", min_level=3)],
        priority=15,
    )
    client.enqueue("d1")
    answer = client.enqueue("b1", queue_id="billing", priority=5)
    i = answer.interaction
    assert i.queue_id == "billing" and i.priority == 20
    assert [(r.skill, r.min_level) for r in i.required_skills] == [("billing", 3)]
    assert answer.position == 1  # first of its queue, though d1 waits in "default"
    assert client.get("b1").queue_id == "billing"
    assert client.get("d1").queue_id == "default"
    status = client.GetQueue(pb.GetQueueRequest(queue_id="billing"))
    assert status.waiting == 1 and status.open


def test_enqueue_refusals_name_the_queue(client: Client) -> None:
    upsert(client, id="voice-only", channels=[pb.CHANNEL_VOICE], max_size=1)
    with pytest.raises(grpc.RpcError) as err:
        client.enqueue("x1", queue_id="nope")
    assert "'nope'" in refused(err.value, grpc.StatusCode.NOT_FOUND)
    with pytest.raises(grpc.RpcError) as err:
        client.enqueue("x2", queue_id="voice-only")
    assert refused(err.value, INVALID) == "channel: queue 'voice-only' does not take CHAT"
    client.enqueue("v1", queue_id="voice-only", channel=pb.CHANNEL_VOICE)
    with pytest.raises(grpc.RpcError) as err:
        client.enqueue("v2", queue_id="voice-only", channel=pb.CHANNEL_VOICE)
    assert "'voice-only'" in refused(err.value, grpc.StatusCode.RESOURCE_EXHAUSTED)
    with pytest.raises(grpc.RpcError) as err:
        client.GetInteraction(pb.GetInteractionRequest(interaction_id="v2"))
    refused(err.value, grpc.StatusCode.NOT_FOUND)
    details = fails(
        client,
        "RemoveQueue",
        pb.RemoveQueueRequest(queue_id="voice-only"),
        grpc.StatusCode.FAILED_PRECONDITION,
    )
    assert "open interactions" in details


def test_routing_profile_is_validated_kept_and_counted(client: Client) -> None:
    with pytest.raises(grpc.RpcError) as err:
        client.agent("a1", routing_profile=[pb.QueueMembership(queue_id="x")])
    assert refused(err.value, INVALID) == "routing_profile[0].queue_id: no queue 'x'"
    with pytest.raises(grpc.RpcError) as err:
        client.agent("a1", routing_profile=[pb.QueueMembership(queue_id="default", priority=11)])
    assert refused(err.value, INVALID).startswith("routing_profile[0].priority: ")
    upsert(client, id="sales")
    agent = client.agent(
        "a1",
        routing_profile=[pb.QueueMembership(queue_id="sales", priority=0, delay_seconds=5)],
    )
    assert [(m.queue_id, m.priority, m.delay_seconds) for m in agent.routing_profile] == [
        ("sales", 10, 5.0)
    ]
    assert client.GetQueue(pb.GetQueueRequest(queue_id="sales")).agents_available == 1
    assert client.GetQueue(pb.GetQueueRequest(queue_id="default")).agents_available == 0
    client.agent("a2")  # no profile: every queue
    assert client.GetQueue(pb.GetQueueRequest(queue_id="default")).agents_available == 1


def test_transfer_to_a_queue_changes_it_and_keeps_the_place(client: Client) -> None:
    upsert(client, id="sales")
    client.agent("a1")
    client.enqueue("i1")
    client.Accept(pb.AcceptRequest(interaction_id="i1", agent_id="a1"))
    before = client.get("i1").enqueued_at
    moved = client.Transfer(
        pb.TransferRequest(
            interaction_id="i1",
            mode=pb.TRANSFER_MODE_COLD,
            queue=pb.QueueTarget(queue_id="sales"),
        )
    )
    assert moved.queue_id == "sales" and moved.enqueued_at == before
    history = client.get("i1").history
    changed = [e for e in history if e.type == pb.EVENT_TYPE_QUEUE_CHANGED]
    assert [e.queue_id for e in changed] == ["sales"]
    explained = client.Explain(pb.ExplainRequest(interaction_id="i1"))
    assert explained.queue_id == "sales" and explained.queue_open


def test_transfer_to_an_unknown_queue_is_not_found_and_changes_nothing(client: Client) -> None:
    client.agent("a1")
    client.enqueue("i1")
    client.Accept(pb.AcceptRequest(interaction_id="i1", agent_id="a1"))
    request = pb.TransferRequest(
        interaction_id="i1", mode=pb.TRANSFER_MODE_COLD, queue=pb.QueueTarget(queue_id="nope")
    )
    fails(client, "Transfer", request, grpc.StatusCode.NOT_FOUND)
    still = client.get("i1")
    assert still.state == pb.INTERACTION_STATE_ASSIGNED and still.queue_id == "default"


def test_list_interactions_filters_and_pages(client: Client) -> None:
    upsert(client, id="q1")
    for k in range(5):
        client.enqueue(f"a{k}", queue_id="q1", priority=10 * k)
    client.enqueue("e1", channel=pb.CHANNEL_EMAIL, customer_id="c7")
    seen: list[str] = []
    token = ""
    while True:
        page = client.ListInteractions(
            pb.ListInteractionsRequest(queue_id="q1", page_size=2, page_token=token)
        )
        seen += [i.id for i in page.interactions]
        assert all(not i.history for i in page.interactions)
        token = page.next_page_token
        if not token:
            break
    assert seen == ["a4", "a3", "a2", "a1", "a0"]
    by_channel = client.ListInteractions(pb.ListInteractionsRequest(channel=pb.CHANNEL_EMAIL))
    assert [i.id for i in by_channel.interactions] == ["e1"]
    by_customer = client.ListInteractions(pb.ListInteractionsRequest(customer_id="c7"))
    assert [i.id for i in by_customer.interactions] == ["e1"]
    queued = client.ListInteractions(pb.ListInteractionsRequest(state=pb.INTERACTION_STATE_QUEUED))
    assert len(queued.interactions) == 6
    for request, field in (
        (pb.ListInteractionsRequest(page_size=1001), "page_size"),
        (pb.ListInteractionsRequest(page_token="!!"), "page_token"),
        (pb.ListInteractionsRequest(page_token=page_token_out("x")), "page_token"),
        (pb.ListInteractionsRequest(state=pb.INTERACTION_STATE_COMPLETED), "state"),
        (pb.ListInteractionsRequest(channel=pb.Channel.ValueType(99)), "channel"),
    ):
        assert fails(client, "ListInteractions", request, INVALID).startswith(f"{field}: ")


def test_restart_keeps_queues_profiles_and_each_interactions_queue(running: Running) -> None:
    client = running.client()
    upsert(
        client,
        id="billing",
        priority=3,
        hours=pb.Hours(time_zone="UTC", weekly=[pb.DayHours(day="sun", intervals=["10:00-11:00"])]),
    )
    client.agent(
        "a1",
        state=pb.AGENT_STATE_NOT_READY,
        routing_profile=[pb.QueueMembership(queue_id="billing", priority=4, delay_seconds=2.5)],
    )
    client.enqueue("b1", queue_id="billing")
    queue_before = client.GetQueue(pb.GetQueueRequest(queue_id="billing")).queue
    running.stop()
    again = start_server(fast_policy(), running.settings)
    try:
        c = again.client()
        assert c.GetQueue(pb.GetQueueRequest(queue_id="billing")).queue == queue_before
        profile = c.get_agent("a1").routing_profile
        assert [(m.queue_id, m.priority, m.delay_seconds) for m in profile] == [("billing", 4, 2.5)]
        assert c.get("b1").queue_id == "billing"
        listed = c.ListInteractions(pb.ListInteractionsRequest(queue_id="billing"))
        assert [i.id for i in listed.interactions] == ["b1"]
    finally:
        again.stop()
        drop_prefix(running.settings.prefix)


def test_an_agent_takes_only_the_work_of_its_profiles_queues(client: Client) -> None:
    upsert(client, id="billing")
    client.agent(
        "bill", skills={"billing": 9}, routing_profile=[pb.QueueMembership(queue_id="billing")]
    )
    general = client.enqueue("d1", required_skills=[Req(skill="billing", min_level=1)])
    assert not general.interaction.HasField("offer")  # "default" is not bill's
    billing = client.enqueue("b1", queue_id="billing")
    assert billing.interaction.offer.agent_id == "bill"
    client.agent("any", skills={"billing": 1})  # no profile: every queue
    assert client.get("d1").offer.agent_id == "any"


@pytest.mark.parametrize(
    ("profile", "field"),
    [
        ([pb.QueueMembership(queue_id="")], "routing_profile[0].queue_id"),
        ([pb.QueueMembership(queue_id="default", priority=-1)], "routing_profile[0].priority"),
        (
            [pb.QueueMembership(queue_id="default", delay_seconds=86_401)],
            "routing_profile[0].delay_seconds",
        ),
        (
            [pb.QueueMembership(queue_id="default", delay_seconds=float("nan"))],
            "routing_profile[0].delay_seconds",
        ),
        (
            [pb.QueueMembership(queue_id="default"), pb.QueueMembership(queue_id="default")],
            "routing_profile[1].queue_id",
        ),
        ([pb.QueueMembership(queue_id=f"q{k}") for k in range(65)], "routing_profile"),
    ],
)
def test_a_bad_profile_names_the_field_and_changes_nothing(
    client: Client, profile: list[pb.QueueMembership], field: str
) -> None:
    request = pb.UpsertAgentRequest(agent_id="a1", routing_profile=profile)
    assert fails(client, "UpsertAgent", request, INVALID).startswith(f"{field}: ")
    fails(client, "GetAgent", pb.GetAgentRequest(agent_id="a1"), grpc.StatusCode.NOT_FOUND)


def test_enqueue_with_a_bad_queue_id_names_it(client: Client) -> None:
    for bad in ("q\x00", "x" * 129):
        with pytest.raises(grpc.RpcError) as err:
            client.enqueue("i1", queue_id=bad)
        assert refused(err.value, INVALID).startswith("queue_id: ")
    with pytest.raises(grpc.RpcError) as err:
        client.enqueue("i1", required_skills=[Req(skill=f"s{k}") for k in range(8)], queue_id="q")
    refused(err.value, grpc.StatusCode.NOT_FOUND)
    upsert(client, id="q", required_skills=[Req(skill="extra")])
    with pytest.raises(grpc.RpcError) as err:
        client.enqueue("i1", required_skills=[Req(skill=f"s{k}") for k in range(8)], queue_id="q")
    assert refused(err.value, INVALID).startswith("required_skills: with queue 'q'")


def test_a_freed_agent_serves_its_highest_priority_queue_first(client: Client) -> None:
    upsert(client, id="low")
    upsert(client, id="high")
    client.agent(
        "ann",
        state=pb.AGENT_STATE_NOT_READY,
        routing_profile=[
            pb.QueueMembership(queue_id="low", priority=1),
            pb.QueueMembership(queue_id="high", priority=10),
        ],
    )
    client.enqueue("l1", queue_id="low", channel=pb.CHANNEL_VOICE, priority=90)
    client.enqueue("h1", queue_id="high", channel=pb.CHANNEL_VOICE)
    client.SetAgentState(pb.SetAgentStateRequest(agent_id="ann", state=pb.AGENT_STATE_AVAILABLE))
    assert client.get("h1").offer.agent_id == "ann"
    assert not client.get("l1").HasField("offer")
    why = client.Explain(pb.ExplainRequest(interaction_id="l1"))
    assert why.queue_id == "low" and why.exclusions == {"no_capacity": 1}


def test_a_profiles_delay_holds_the_agent_back_live(client: Client) -> None:
    client.agent(
        "late", routing_profile=[pb.QueueMembership(queue_id="default", delay_seconds=0.6)]
    )
    client.enqueue("d1")
    assert not client.get("d1").HasField("offer")
    why = client.Explain(pb.ExplainRequest(interaction_id="d1"))
    assert why.exclusions == {"queue_delay": 1}
    wait_for(lambda: client.get("d1").offer.agent_id == "late", what="offered after the delay")
