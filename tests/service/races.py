"""Storms of concurrent clients against a live router, and the invariants that must hold
through them and once they have passed (used by tests/service/test_races.py).

A `Storm` drives one server through many grpc.aio channels at once (one per client), all
on one event loop. Every response is a snapshot the router took inside one unit of work,
so each is checked on its own as it arrives (`interaction_problems`, `agent_problems`).
What spans records (an agent's load against what it holds and is offered) is checked on a
read of everything that nothing changed under (`stable_world`, `world_problems`); and a
waiting interaction must not be left waiting while an agent could take it (`not_stuck`).

A seed fixes what each client chooses to do; how the calls interleave is the machine's.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING

from cim_router._pb import router_pb2 as pb

if TYPE_CHECKING:
    pass
from tests.service.race_checks import (
    ASSIGNED,
    AVAILABLE,
    CANCELLED,
    CHANNELS,
    CLOSED,
    COLD,
    COMPLETED,
    NOT_READY,
    OFFERED,
    OFFLINE,
    QUEUED,
    SKILLS,
    WARM,
    WRAP_UP,
    Code,
    capacities,
    counts,
    text,
)
from tests.service.race_storm import StormBase


class Storm(StormBase):
    """A storm's moves: agents hired, changed and removed, interactions enqueued and
    answered, transferred and escalated, as each client's seed chooses."""

    def pick_agent(
        self, rng: random.Random, prefer: Callable[[pb.Agent], bool] | None = None
    ) -> str:
        """An agent; one that `prefer`s, by its latest answer, when there is one."""
        liked = [a for a, x in sorted(self.agents.items()) if prefer is not None and prefer(x)]
        return rng.choice(liked or sorted(self.profiles))

    async def set_state(self, rng: random.Random, agent_id: str, state: int = 0) -> None:
        state = state or rng.choices((AVAILABLE, NOT_READY, OFFLINE), (0.55, 0.3, 0.15))[0]
        req = pb.SetAgentStateRequest(
            agent_id=agent_id, state=pb.AgentState.ValueType(state), reason="storm"
        )
        out = await self.call(self.stub(rng).SetAgentState, req)
        if out.value is not None:
            self.expect(out.value.state == state, f"SetAgentState({text(req)}): {text(out.value)}")
        else:  # going OFFLINE with work in hand is refused; so is an agent being removed
            self.refused(out, f"SetAgentState({text(req)})", agent_id)
            gone = out.code == Code.NOT_FOUND
            self.expect(state == OFFLINE or gone, f"SetAgentState({text(req)}): {out.details}")

    async def leave_and_return(self, rng: random.Random, agent_id: str, back: float = 0.5) -> None:
        """The end of a shift: at times RemoveAgent at once (refused while the agent holds
        or is offered work); else, or if refused, NOT_READY, the work in hand (by the
        latest answers) completed and the offers rejected, then RemoveAgent. A removed
        agent is hired again with its profile, at once (with chance `back`) or later
        (calls naming it meanwhile find it gone)."""
        self.left.add(agent_id)
        if not (rng.random() < 0.5 and await self.remove(rng, agent_id)):
            await self.set_state(rng, agent_id, NOT_READY)
            mine = [i for i in self.known.values() if agent_id in (i.agent_id, i.offer.agent_id)]
            for i in mine:
                if i.offer.agent_id == agent_id:
                    await self.reject(rng, i.id, agent_id)
                elif i.state == ASSIGNED:
                    await self.complete(rng, i.id, agent_id)
            if not await self.remove(rng, agent_id):
                return
        if rng.random() >= back:
            return  # gone for now; a later UpsertAgent of it may bring it back
        hired = await self.call(self.stub(rng).UpsertAgent, self.profiles[agent_id])
        self.expect(hired.ok, f"UpsertAgent({agent_id}) again: {hired.code.name} {hired.details}")

    async def remove(self, rng: random.Random, agent_id: str) -> bool:
        out = await self.call(self.stub(rng).RemoveAgent, pb.RemoveAgentRequest(agent_id=agent_id))
        self.refused(out, f"RemoveAgent({agent_id})", agent_id)
        return out.ok

    async def resize(self, rng: random.Random, agent_id: str) -> None:
        """UpsertAgent with other capacities, often below what the agent holds by its
        latest answer (the router must refuse what would leave it over capacity), and at
        times a state (OFFLINE is refused while it holds work)."""
        profile = self.profiles[agent_id]
        caps = dict.fromkeys(CHANNELS, 0) | counts(profile.capacity)  # every one, zeros too
        load = counts(self.agents[agent_id].load) if agent_id in self.agents else {}
        for channel in (pb.CHANNEL_VOICE, pb.CHANNEL_CHAT, pb.CHANNEL_EMAIL):
            caps[channel] = rng.randint(0, 3)
        if load and rng.random() < 0.5:
            busy = rng.choice(sorted(load))
            caps[busy] = load[busy] - 1
        req = pb.UpsertAgentRequest()
        req.CopyFrom(profile)
        del req.capacity[:]
        req.capacity.extend(capacities(caps))
        req.state = pb.AgentState.ValueType(
            rng.choice((pb.AGENT_STATE_UNSPECIFIED, pb.AGENT_STATE_UNSPECIFIED, AVAILABLE, OFFLINE))
        )
        out = await self.call(self.stub(rng).UpsertAgent, req)
        if out.value is not None:
            got = counts(out.value.capacity)
            self.expect(
                got == {c: n for c, n in caps.items() if n},
                f"UpsertAgent({text(req)}) answered capacity {got}",
            )
        else:
            self.refused(out, f"UpsertAgent({text(req)})")
            if "capacity[" in out.details:
                self.tally["UpsertAgent", "refused: capacity below load"] += 1
            else:  # or it holds work and may not go OFFLINE
                self.expect(req.state == OFFLINE, f"UpsertAgent({text(req)}): {out.details}")

    # --- interactions ---------------------------------------------------------------------

    def new_request(
        self, rng: random.Random, channels: Sequence[tuple[int, float]]
    ) -> pb.EnqueueRequest:
        self._serial += 1
        channel = rng.choices([c for c, _ in channels], [w for _, w in channels])[0]
        required = [
            pb.SkillRequirement(skill=s, min_level=rng.randint(1, 4))
            for s in rng.sample(SKILLS, rng.choice((0, 0, 1, 1, 2)))
        ]
        return pb.EnqueueRequest(
            interaction_id=f"i{self._serial}",
            channel=pb.Channel.ValueType(channel),
            required_skills=required,
            priority=rng.randrange(101),
            customer_id=f"c{rng.randrange(12)}" if rng.random() < 0.3 else "",
            customer_tier=rng.choice(("standard", "gold", "vip")),
        )

    async def enqueue(self, rng: random.Random, channels: Sequence[tuple[int, float]]) -> None:
        """A new interaction, sometimes from several clients at once: exactly one of them
        creates it, and every one answers with it."""
        req = self.new_request(rng, channels)
        copies = 3 if rng.random() < 0.25 else 1
        outs = await asyncio.gather(
            *(self.call(self.stub(rng).Enqueue, req) for _ in range(copies))
        )
        made = [o for o in outs if o.value is not None and o.value.created]
        self.expect(all(o.ok for o in outs), f"Enqueue({text(req)}): {[o.code for o in outs]}")
        self.expect(len(made) == 1, f"{req.interaction_id}: {len(made)} of {copies} created it")
        if any(o.ok for o in outs):
            self.requests[req.interaction_id] = req

    async def repeat_enqueue(self, rng: random.Random) -> None:
        """An id enqueued again: the same request answers with it; another is refused."""
        if not self.requests:
            return
        iid = rng.choice(sorted(self.requests))
        req = pb.EnqueueRequest()
        req.CopyFrom(self.requests[iid])
        same = rng.random() < 0.5
        if not same:
            req.priority = (req.priority + 1) % 101
        out = await self.call(self.stub(rng).Enqueue, req)
        if same:
            self.expect(
                out.value is not None and not out.value.created,
                f"Enqueue of {iid} again: {out.code.name} {out.details}",
            )
        else:
            self.expect(out.code == Code.ALREADY_EXISTS, f"Enqueue of {iid} changed: {out.code}")

    def pick_interaction(self, rng: random.Random, open_share: float = 0.9) -> str | None:
        """An interaction, most often one that is open by the latest answer about it."""
        if not self.requests:
            return None
        live = [k for k, v in self.known.items() if v.state not in CLOSED]
        if live and rng.random() < open_share:
            return rng.choice(live)
        return rng.choice(sorted(self.requests))

    def open_count(self) -> int:
        return sum(1 for v in self.known.values() if v.state in (QUEUED, OFFERED, ASSIGNED))

    async def read(self, rng: random.Random, iid: str) -> pb.Interaction | None:
        out = await self.call(
            self.stub(rng).GetInteraction, pb.GetInteractionRequest(interaction_id=iid)
        )
        self.expect(out.ok, f"GetInteraction({iid}): {out.code.name} {out.details}")
        return out.value

    async def accept(self, rng: random.Random, iid: str, agent_id: str) -> None:
        req = pb.AcceptRequest(interaction_id=iid, agent_id=agent_id)
        out = await self.call(self.stub(rng).Accept, req)
        if out.value is not None:
            i = out.value
            self.expect(i.state == ASSIGNED and i.agent_id == agent_id, f"Accept: {text(i)}")
            self.expect(not i.HasField("transfer") and not i.HasField("offer"), f"Accept: {i}")
        else:
            self.refused(out, f"Accept({text(req)})", agent_id)

    async def reject(self, rng: random.Random, iid: str, agent_id: str) -> None:
        req = pb.RejectRequest(interaction_id=iid, agent_id=agent_id, reason="storm")
        out = await self.call(self.stub(rng).Reject, req)
        if out.value is not None:
            i = out.value
            again = i.HasField("offer") and i.offer.agent_id == agent_id
            self.expect(not again and agent_id != i.agent_id, f"Reject by {agent_id}: {text(i)}")
        else:
            self.refused(out, f"Reject({text(req)})", agent_id)

    async def cancel(self, rng: random.Random, iid: str) -> None:
        req = pb.CancelRequest(interaction_id=iid, reason="storm")
        out = await self.call(self.stub(rng).Cancel, req)
        if out.value is not None:
            i = out.value
            self.expect(i.state == CANCELLED, f"Cancel: {text(i)}")
            self.expect(not i.HasField("offer") and not i.HasField("transfer"), f"Cancel: {i}")
        else:
            self.refused(out, f"Cancel({text(req)})")

    async def complete(self, rng: random.Random, iid: str, agent_id: str) -> None:
        req = pb.CompleteRequest(interaction_id=iid, agent_id=agent_id, csat=rng.randint(0, 5))
        out = await self.call(self.stub(rng).Complete, req)
        if out.value is not None:
            i = out.value
            self.expect(i.state in (WRAP_UP, COMPLETED), f"Complete: {text(i)}")
            self.expect(not agent_id or i.agent_id == agent_id, f"Complete({req}): {text(i)}")
            self.expect(not i.HasField("offer") and not i.HasField("transfer"), f"Complete: {i}")
        else:
            self.refused(out, f"Complete({text(req)})")

    async def escalate(self, rng: random.Random, iid: str) -> None:
        req = pb.EscalateRequest(interaction_id=iid, reason="storm")
        out = await self.call(self.stub(rng).Escalate, req)
        if out.value is not None:
            self.expect(out.value.escalation_level >= 1, f"Escalate: {text(out.value)}")
        else:
            self.refused(out, f"Escalate({text(req)})")

    async def cancel_transfer(self, rng: random.Random, iid: str, agent_id: str) -> None:
        req = pb.CancelTransferRequest(interaction_id=iid, agent_id=agent_id, reason="storm")
        out = await self.call(self.stub(rng).CancelTransfer, req)
        if out.value is not None:
            i = out.value
            self.expect(i.state == ASSIGNED, f"CancelTransfer: {text(i)}")
            self.expect(not i.HasField("transfer") and not i.HasField("offer"), f"{i}")
        else:
            self.refused(out, f"CancelTransfer({text(req)})")

    def transfer_request(
        self,
        rng: random.Random,
        iid: str,
        holder: str,
        channels: Sequence[int] = (),
        prefer: Callable[[pb.Agent], bool] | None = None,
    ) -> pb.TransferRequest:
        """A warm or cold transfer to an agent (not the holder, mostly), a skill or the
        queue; onto one of `channels` sometimes."""
        req = pb.TransferRequest(interaction_id=iid, mode=rng.choice((WARM, COLD)), reason="storm")
        kind = rng.choices(("agent", "skills", "queue"), (0.5, 0.3, 0.2))[0]
        if kind == "agent":
            req.agent_id = self.pick_agent(
                rng, lambda a: a.id != holder and (prefer is None or prefer(a))
            )
            req.ignore_skills = rng.random() < 0.3
        elif kind == "skills":
            skill = pb.SkillRequirement(skill=rng.choice(SKILLS), min_level=rng.randint(1, 4))
            req.skills.required_skills.append(skill)
        else:
            req.queue.SetInParent()
        if channels and rng.random() < 0.4:
            req.channel = pb.Channel.ValueType(rng.choice(channels))
        return req

    async def transfer(self, rng: random.Random, req: pb.TransferRequest) -> None:
        out = await self.call(self.stub(rng).Transfer, req)
        named = req.WhichOneof("target") == "agent_id"
        if out.value is None:
            self.refused(out, f"Transfer({text(req)})", req.agent_id)
            why = out.details.partition("cannot take the interaction: ")[2]
            if why:
                self.tally["Transfer", f"refused: target {why}"] += 1
            return
        i = out.value
        if req.mode == WARM:
            self.expect(i.state == ASSIGNED and i.HasField("transfer"), f"warm: {text(i)}")
            channel = i.transfer.channel
        else:
            self.expect(i.state in (QUEUED, OFFERED) and not i.agent_id, f"cold: {text(i)}")
            channel = i.channel
        if req.channel:
            self.expect(channel == req.channel, f"Transfer({text(req)}): {text(i)}")
        if named:
            self.expect(i.offer.agent_id == req.agent_id, f"Transfer({text(req)}): {text(i)}")

    def moves(
        self,
        rng: random.Random,
        i: pb.Interaction,
        channels: Sequence[int] = (),
        prefer: Callable[[pb.Agent], bool] | None = None,
    ) -> list[tuple[float, Callable[[], Awaitable[None]]]]:
        """What a client might do to `i` as it last saw it, weighted; the state may have
        moved on by the time the call arrives, which is the point."""
        iid, holder = i.id, i.agent_id
        offered = i.offer.agent_id if i.HasField("offer") else ""
        anyone = self.pick_agent(rng)
        req = self.transfer_request(rng, iid, holder, channels, prefer)
        moves: list[tuple[float, Callable[[], Awaitable[None]]]] = [
            (0.3, lambda: self.accept(rng, iid, anyone)),
            (0.5, lambda: self.cancel(rng, iid)),
            (0.3, lambda: self.escalate(rng, iid)),
            (0.2, lambda: self.complete(rng, iid, "")),
            (0.2, lambda: self.transfer(rng, req)),
            (0.1, lambda: self.cancel_transfer(rng, iid, "")),
        ]
        if offered:
            moves += [
                (3.0, lambda: self.accept(rng, iid, offered)),
                (1.0, lambda: self.reject(rng, iid, offered)),
            ]
        if i.state == ASSIGNED:
            moves += [
                (2.0, lambda: self.complete(rng, iid, holder)),
                (3.0, lambda: self.transfer(rng, req)),
                (0.5, lambda: self.escalate(rng, iid)),
                (0.3, lambda: self.complete(rng, iid, anyone)),
            ]
            if i.HasField("transfer"):
                # Pending transfers are few and short-lived: when one is seen, call it off
                # often enough that a storm reliably gets one through.
                moves += [(6.0, lambda: self.cancel_transfer(rng, iid, holder))]
        if i.state == WRAP_UP:
            moves += [(2.0, lambda: self.complete(rng, iid, holder))]
        if i.state == QUEUED:
            moves += [(0.5, lambda: self.escalate(rng, iid))]
        return moves

    async def burst(
        self,
        rng: random.Random,
        fanout: int,
        channels: Sequence[int] = (),
        prefer: Callable[[pb.Agent], bool] | None = None,
    ) -> None:
        """Read an interaction, then send it up to `fanout` different calls at once, each
        from its own client."""
        iid = self.pick_interaction(rng)
        if iid is None:  # nothing enqueued yet
            await self.call(self.stub(rng).ListAgents, pb.ListAgentsRequest())
            return
        i = await self.read(rng, iid)
        if i is None:
            return
        moves = self.moves(rng, i, channels, prefer)
        picked = rng.choices([m for _, m in moves], [w for w, _ in moves], k=fanout)
        await asyncio.gather(*(move() for move in picked))

    async def last_word(self) -> None:
        """How a storm ends. A backlog of plain chats arrives, more than the agents have
        room for, then each plain offer still open is answered once, rejected or accepted:
        an agent a reject frees must be offered what waits for it, with nothing else to
        prompt the router (what `not_stuck` then checks). Then each interaction held is
        transferred warm, to an agent or a skill, and left pending for the restart."""
        rng = self.rng("last word")
        room = sum(counts(a.capacity).get(pb.CHANNEL_CHAT, 0) for a in self.agents.values())
        for _ in range(room + 4):
            self._serial += 1
            req = pb.EnqueueRequest(interaction_id=f"i{self._serial}", channel=pb.CHANNEL_CHAT)
            out = await self.call(self.stub(rng).Enqueue, req)
            self.expect(out.ok, f"Enqueue({text(req)}): {out.code.name} {out.details}")
            self.requests[req.interaction_id] = req
        for iid in sorted(self.requests):
            i = await self.read(rng, iid)
            if i is not None and i.HasField("offer") and not i.offer.transfer:
                answer = self.reject if rng.random() < 0.5 else self.accept
                await answer(rng, iid, i.offer.agent_id)
        for iid in sorted(self.requests):
            i = await self.read(rng, iid)
            if i is not None and i.state == ASSIGNED and not i.HasField("transfer"):
                warm = self.transfer_request(rng, iid, i.agent_id)
                warm.mode = WARM
                await self.transfer(rng, warm)

    def report(self, problems: Sequence[str] = ()) -> None:
        """Fail with everything that went wrong, if anything did."""
        wrong = [*self.failures, *self.violations, *problems]
        if wrong:
            shown = "\n  ".join(dict.fromkeys(wrong))
            raise AssertionError(
                f"seed {self.seed}: {len(wrong)} problem(s):\n  {shown}\ncalls: {self.summary()}"
            )

    def summary(self) -> str:
        return ", ".join(f"{m} {c}: {n}" for (m, c), n in sorted(self.tally.items()))
