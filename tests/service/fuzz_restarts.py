"""Restarts in the fuzz suite: with offers in flight, and at the end, every tenant read
back the same."""

from __future__ import annotations

import time

from cim_router._pb import router_pb2 as pb
from tests.service.conftest import wait_for
from tests.service.fuzz_checks import (
    ALREADY_EXISTS,
    GONE_ON_RETRY,
    NOT_FOUND,
    OK,
    _bytes,
    _text,
    _without_history,
)
from tests.service.fuzz_world import (
    World,
)

WITHDRAWN = {pb.EVENT_TYPE_OFFER_WITHDRAWN, pb.EVENT_TYPE_REQUEUED, pb.EVENT_TYPE_TRANSFER_FAILED}


def restarted(world: World) -> list[str]:
    """Restart on the same Redis and wait for the load's first matching; the tenants."""
    tenants = sorted(world.tenants)
    started = time.monotonic()
    world.restart()
    world.restarts += 1
    world.restart_seconds += time.monotonic() - started
    assert world.serving()
    timers = world.running.server.tenants.timers
    wait_for(lambda: (timers.next_due() or 1e18) > time.time(), 5, "the load's first matching")
    assert world.stored_tenants() == set(tenants)
    assert world.live_tenants() == set(tenants)
    return tenants


def restart_with_offers_in_flight(world: World, tenants: set[str] | None = None) -> None:
    """A restart withdraws the offers in flight (their streams are gone): each goes back
    to the queue, or ends its transfer, and may be offered again. Nothing else changes:
    every tenant loads whole (no quarantine, loads recounted right), each history goes on
    from where it was, and the counters of what was answered, abandoned and done hold."""
    compared = sorted(world.tenants if tenants is None else tenants & world.tenants)
    before = {t: world.snapshot(t) for t in compared}
    restarted(world)
    for tenant in compared:
        was, now = before[tenant], world.snapshot(tenant)
        where = f"{tenant!r} after a restart"
        assert list(was.agents) == list(now.agents), where
        for agent_id, agent in was.agents.items():
            a, b = pb.Agent(), pb.Agent()
            a.CopyFrom(agent)
            b.CopyFrom(now.agents[agent_id])
            a.ClearField("load")
            b.ClearField("load")
            assert _bytes(a) == _bytes(b), f"{where}: {_text(agent)} -> {_text(b)}"
        assert was.interactions.keys() == now.interactions.keys(), where
        for iid, x in was.present().items():
            y = now.interactions[iid]
            assert y is not None, f"{where}: {iid!r} is gone"
            # A history holds the customer's earlier interactions' first: each goes on.
            for of, events in by_interaction(x).items():
                later = by_interaction(y).get(of, [])
                assert later[: len(events)] == events, f"{where}: {iid!r}'s history of {of!r}"
                added = {e.type for e in later[len(events) :]}
                earlier = was.interactions.get(of)
                offered = earlier is not None and earlier.HasField("offer")
                allowed = {pb.EVENT_TYPE_OFFERED} | (WITHDRAWN if offered else set())
                assert added <= allowed, f"{where}: {of!r} got {added}: {_text(y)}"
            if x.HasField("transfer"):
                assert not y.HasField("transfer") or y.transfer == x.transfer, f"{where}: {iid}"
            assert settled(x) == settled(y), f"{where}: {_text(x)}\n-> {_text(y)}"
        for counter in ("answered", "abandoned", "completed", "quarantined"):
            assert getattr(was.stats, counter) == getattr(now.stats, counter), where


def by_interaction(interaction: pb.Interaction) -> dict[str, list[pb.HistoryEvent]]:
    out: dict[str, list[pb.HistoryEvent]] = {}
    for event in interaction.history:
        out.setdefault(event.interaction_id, []).append(event)
    return out


def settled(interaction: pb.Interaction) -> bytes:
    """An interaction but for what a restart may change: offer, transfer, history."""
    out = _without_history(interaction)
    out.ClearField("offer")
    out.ClearField("transfer")
    if out.state == pb.INTERACTION_STATE_OFFERED:
        out.state = pb.INTERACTION_STATE_QUEUED
    return _bytes(out)


def restart_and_compare(world: World) -> None:
    """Settle every offer, restart on the same Redis, and read every tenant back."""
    for tenant in sorted(world.tenants):
        world.settle(tenant)
    before = {t: world.snapshot(t) for t in sorted(world.tenants)}
    tenants = restarted(world)
    for tenant in tenants:
        after = world.snapshot(tenant, check=False)
        quarantined = [k.split(":", 1)[1] for k in after.stats.quarantined_records]
        held = [_text(before[tenant].interactions.get(k)) for k in quarantined]
        assert before[tenant].same_later(after), (
            f"{tenant!r} after a restart: {before[tenant].why_not_same_later(after)}\n"
            f"{before[tenant].diff(after)}\n"
            f"quarantined, as it was before: {held}\nagents: {list(before[tenant].agents)}"
        )
    # Request ids outlive the restart: a retry changes nothing, a reuse is refused.
    for entry in world.recorded[-40:]:
        reply = world.call(entry.method, entry.body, entry.metadata)
        gone = entry.method in GONE_ON_RETRY and reply.code == NOT_FOUND
        assert reply.code == OK or gone, f"retry of {entry.method} after a restart: {reply}"
        other = pb.SetAgentStateRequest(agent_id="nobody", state=pb.AGENT_STATE_AVAILABLE)
        reply = world.call("SetAgentState", other.SerializeToString(), entry.metadata)
        assert reply.code == ALREADY_EXISTS, f"reuse of {entry.request_id!r}: {reply}"
    for tenant in tenants:
        after = world.snapshot(tenant)
        assert before[tenant].same_later(after), (
            f"{tenant!r} after retries: {before[tenant].why_not_same_later(after)}\n"
            f"{before[tenant].diff(after)}"
        )
    assert world.serving()
