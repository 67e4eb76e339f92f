"""A scripted day of one tenant's interactions, with every figure of its measures worked
out by hand: what the harness tests and the gRPC tests both check.

The tenant's time zone is America/New_York (UTC-5 in December): "today" starts at
2026-12-01 00:00 local, 05:00 UTC. Two interactions come before it: one 30 hours before
(customer cat, served then) and one half an hour before midnight local, which a midnight
in UTC would wrongly count (customer bob, served then). The FCR window is one day.
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from cim_router.domain.agent import AgentState
from cim_router.domain.channel import Channel
from cim_router.domain.policy import Policy
from cim_router.domain.queues import Queue
from cim_router.tenant.records import TransferMode
from tests.tenant.harness import Harness

ZONE = "America/New_York"
MIDNIGHT = datetime(2026, 12, 1, tzinfo=ZoneInfo(ZONE)).timestamp()
# The day's two queues, left at the defaults: the policy's targets and time zone are theirs.
QUEUES = {name: Queue(name) for name in ("sales", "support")}
POLICY = Policy(time_zone=ZONE, fcr_window_days=1, short_abandon_seconds=5.0, queues=QUEUES)
END = MIDNIGHT + 7 * 3600  # when the day's figures are read
HOUR = 3600.0

# Expected "today" counts and measures, by (queue, channel); voice SLA 20 s, chat 60 s;
# wrap-up voice 30 s, chat 5 s.
SALES_VOICE = {
    "offered": 4,  # s1, s2, s3, s4
    "answered": 2,  # s1 after 10 s, s2 after 30 s
    "answered_in_sla": 1,  # s1
    "abandoned": 2,  # s3 after 3 s (short), s4 after 40 s
    "short_abandoned": 1,
    "handled": 2,
    "transferred": 0,
    "csat_count": 2,  # 5 and 3
    "service_level": 1 / 3,  # 1 / (2 + 2 - 1)
    "asa_seconds": 20.0,  # (10 + 30) / 2
    "aht_seconds": 190.0,  # (120 + 200 + 30 + 30) / 2
    "abandonment_rate": 1 / 3,  # (2 - 1) / (4 - 1)
    "transfer_rate": 0.0,
    "csat_mean": 4.0,
    # contacts s1 (bob), s2 (cat); s1 repeats y1 (bob served 1.5 h before): counted
    # against y1's queue, sales voice; cat was served 32 h before s2: not a repeat.
    "first_contact_resolution": 0.5,
}
SUPPORT_CHAT = {
    "offered": 2,  # p1, p2
    "answered": 2,  # p1 after 50 s, p2 after 70 s
    "answered_in_sla": 1,
    "abandoned": 0,
    "short_abandoned": 0,
    "handled": 2,
    "transferred": 1,  # p1, warm to bea
    "csat_count": 1,
    "service_level": 0.5,
    "asa_seconds": 60.0,
    "aht_seconds": 130.0,  # (200 (bea, from her accept) + 50 + 5 + 5) / 2
    "abandonment_rate": 0.0,
    "transfer_rate": 0.5,
    "csat_mean": 4.0,
    "first_contact_resolution": 0.5,  # p2 repeats p1 (dan), 1 of 2 contacts
}
TENANT = {
    "offered": 6,
    "answered": 4,
    "answered_in_sla": 2,
    "abandoned": 2,
    "short_abandoned": 1,
    "handled": 4,
    "transferred": 1,
    "csat_count": 3,
    "service_level": 0.4,  # 2 / (4 + 2 - 1)
    "asa_seconds": 40.0,  # 160 / 4
    "aht_seconds": 160.0,  # (570 + 70) / 4
    "abandonment_rate": 0.2,  # 1 / 5
    "transfer_rate": 0.25,
    "csat_mean": 4.0,  # 12 / 3
    "first_contact_resolution": 0.5,  # 2 repeats of 4 contacts
}


async def serve(
    h: Harness,
    iid: str,
    channel: Channel,
    queue: str,
    wait: float,
    talk: float,
    customer: str = "",
    csat: int = 0,
) -> None:
    """Enqueue with ann not ready, let her take it after `wait`, talk, complete, wrap up."""
    await h.enqueue(iid, channel, queue_id=queue, customer_id=customer)
    await h.advance(wait)
    await h.set_state("ann", AgentState.AVAILABLE)
    await h.accept(iid, "ann")
    await h.advance(talk)
    await h.complete(iid, "ann", csat)
    await h.advance(60)  # wrap-up ends; ann is AVAILABLE again
    await h.set_state("ann", AgentState.NOT_READY)


async def abandon(h: Harness, iid: str, queue: str, after: float) -> None:
    await h.enqueue(iid, Channel.VOICE, queue_id=queue)
    await h.advance(after)
    await h.cancel(iid)


async def play_day(h: Harness) -> None:
    """The scripted day, on a harness whose clock stands before MIDNIGHT - 30 h."""
    h.clock.set(MIDNIGHT - 30 * HOUR)
    await h.agent("ann", state=AgentState.NOT_READY)
    await h.agent("bea", state=AgentState.NOT_READY)
    await serve(h, "c0", Channel.CHAT, "support", 10, 100, customer="cat")
    h.clock.set(MIDNIGHT - 1800)
    await serve(h, "y1", Channel.VOICE, "sales", 5, 60, customer="bob")
    h.clock.set(MIDNIGHT + HOUR)
    await serve(h, "s1", Channel.VOICE, "sales", 10, 120, customer="bob", csat=5)
    h.clock.set(MIDNIGHT + 2 * HOUR)
    await serve(h, "s2", Channel.VOICE, "sales", 30, 200, customer="cat", csat=3)
    h.clock.set(MIDNIGHT + 3 * HOUR)
    await abandon(h, "s3", "sales", 3)
    h.clock.set(MIDNIGHT + 4 * HOUR)
    await abandon(h, "s4", "sales", 40)
    h.clock.set(MIDNIGHT + 5 * HOUR)
    await h.enqueue("p1", Channel.CHAT, queue_id="support", customer_id="dan")
    await h.advance(50)
    await h.set_state("ann", AgentState.AVAILABLE)
    await h.accept("p1", "ann")
    await h.advance(100)
    await h.set_state("bea", AgentState.AVAILABLE)
    await h.transfer("p1", TransferMode.WARM, agent_id="bea")
    await h.advance(10)
    await h.accept("p1", "bea")
    await h.set_state("ann", AgentState.NOT_READY)
    await h.advance(200)
    await h.complete("p1", "bea", 4)
    await h.advance(60)
    await h.set_state("bea", AgentState.NOT_READY)
    h.clock.set(MIDNIGHT + 6 * HOUR)
    await serve(h, "p2", Channel.CHAT, "support", 70, 50, customer="dan")
    h.clock.set(END)
