"""ForgetCustomer on one tenant: the in-memory store, a manual clock."""

from __future__ import annotations

from cim_router.domain.interaction import InteractionState
from cim_router.tenant.caller import acting_as
from tests.tenant.harness import Harness, run

SECRET = {"card": "4111-SECRET", "note": "calls about her divorce"}


async def _customer_with_two(h: Harness) -> None:
    """c1: i1 completed (after a chat with ann), i2 waiting; c2: i3 waiting."""
    await h.agent("ann", {"billing": 5})
    await h.enqueue("i1", required={"billing": 1}, customer_id="c1", context=dict(SECRET))
    await h.accept("i1", "ann")
    await h.complete("i1", "ann")
    await h.complete("i1", "ann")  # ends wrap-up: COMPLETED
    await h.set_state("ann", h.agent_record("ann").agent.state.OFFLINE)
    await h.enqueue("i2", customer_id="c1", context={"order": "A-77"})
    await h.enqueue("i3", customer_id="c2", context={"order": "B-1"})


def _mentions(h: Harness, *ids: str) -> list[object]:
    data = h.store.data("t")
    return [e for e in h.store.events("t") if e.interaction_id in ids] + [
        data.history.get(i) for i in ids if data.history.get(i)
    ]


def test_forget_erases_context_history_index_and_stream_entries() -> None:
    async def body() -> None:
        h = await Harness().start()
        await _customer_with_two(h)
        assert _mentions(h, "i1", "i2")  # what there is to erase
        before = {n: h.router().counters.get(n, 0) for n in ("completed", "answered")}
        done = await h.forget("c1")
        assert done.interaction_ids == ("i1", "i2")
        assert done.history_events >= 6 and done.stream_events == done.history_events
        assert done.index_erased
        data = h.store.data("t")
        assert "c1" not in data.customers and "c1" not in data.customer_interactions
        assert _mentions(h, "i1", "i2") == []
        for iid in ("i1", "i2"):
            stored = data.interactions[iid]
            assert stored.interaction.customer_id == "" and stored.interaction.context == {}
            assert stored.linked_interaction_id == ""
            live = h.get(iid)
            assert live.interaction.customer_id == "" and live.interaction.context == {}
        assert data.interactions["i1"].interaction.state == InteractionState.COMPLETED
        assert data.interactions["i3"].interaction.customer_id == "c2"  # someone else's
        assert data.interactions["i3"].interaction.context == {"order": "B-1"}
        assert _mentions(h, "i3")
        assert {n: h.router().counters.get(n, 0) for n in before} == before

    run(body)


def test_the_second_link_is_erased_and_a_second_forget_erases_nothing() -> None:
    async def body() -> None:
        h = await Harness().start()
        await _customer_with_two(h)
        assert h.get("i2").linked_interaction_id == "i1"
        assert h.get("i2").interaction.context["card"] == SECRET["card"]  # carried over
        await h.forget("c1")
        again = await h.forget("c1")
        assert again.interaction_ids == () and not again.index_erased
        assert again.history_events == 0 and again.stream_events == 0
        nobody = await h.forget("never-seen")
        assert nobody.interaction_ids == () and not nobody.index_erased

    run(body)


def test_an_open_interaction_forgotten_keeps_routing() -> None:
    async def body() -> None:
        h = await Harness().start()
        await _customer_with_two(h)
        await h.forget("c1")
        await h.agent("bo")
        offered = h.get("i2")
        assert offered.interaction.state == InteractionState.OFFERED
        assert offered.offer is not None and offered.offer.agent_id == "bo"
        await h.accept("i2", "bo")
        assert h.get("i2").interaction.customer_id == ""
        # The customer comes back: a new interaction starts afresh, with no link.
        back = await h.enqueue("i4", customer_id="c1")
        assert back.linked_interaction_id == "" and "card" not in back.interaction.context

    run(body)


def test_forgotten_stays_forgotten_after_a_restart_and_a_reloaded_one_can_be_forgotten() -> None:
    async def body() -> None:
        h = await Harness().start()
        await _customer_with_two(h)
        h = await h.restart()  # i2 reloaded from the store
        assert h.get("i2").interaction.customer_id == "c1"
        done = await h.forget("c1")
        assert done.interaction_ids == ("i1", "i2")
        h = await h.restart()
        assert h.get("i2").interaction.customer_id == ""
        assert h.get("i2").interaction.context == {}
        assert (await h.forget("c1")).interaction_ids == ()
        assert _mentions(h, "i1", "i2") == []

    run(body)


def test_router_events_after_a_call_are_the_routers_and_calls_are_their_callers() -> None:
    async def body() -> None:
        h = await Harness().start()
        await h.agent("ann")
        with acting_as("key-desk-1"):
            await h.enqueue("i1")
        offered = [e for e in h.store.events("t") if e.interaction_id == "i1"]
        assert {e.caller for e in offered} == {"key-desk-1"}
        await h.advance(h.policy.offer_timeout_seconds + 0.1)
        expired = [e for e in h.store.events("t") if e.type.name == "OFFER_EXPIRED"]
        assert expired and {e.caller for e in expired} == {"router"}
        history = h.store.data("t").history["i1"]
        assert [e.caller for e in history][-1] == "router"

    run(body)


def test_an_indexed_id_that_now_belongs_to_someone_else_is_left_alone() -> None:
    async def body() -> None:
        h = await Harness().start()
        await _customer_with_two(h)
        # As when c1's old interactions expired and their ids were used again: by c2, and
        # by an interaction with no customer id.
        await h.enqueue("i5", context={"order": "C-3"})
        h.store.data("t").customer_interactions["c1"].update({"i3", "i5"})
        done = await h.forget("c1")
        assert done.interaction_ids == ("i1", "i2")
        assert h.get("i3").interaction.customer_id == "c2"
        assert h.get("i5").interaction.context == {"order": "C-3"} and _mentions(h, "i5")
        assert h.store.data("t").interactions["i3"].interaction.context == {"order": "B-1"}
        assert _mentions(h, "i3")

    run(body)
