"""A straightforward NumPy-vectorised scorer of the same policy, as a baseline to beat.

It holds agents and interactions as dense arrays and evaluates every rule over all of them
at once: what one would write first with NumPy, without the core's indexes.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from bench.instances import CAPACITY, N_SKILLS, AgentSpec, InteractionSpec
from cim_router._core_common import N_CHANNELS, CoreParams

F64 = npt.NDArray[np.float64]


class NumpyScorer:
    def __init__(
        self, params: CoreParams, agents: list[AgentSpec], interactions: list[InteractionSpec]
    ) -> None:
        self.p = params
        self.agent_ids = [a.id for a in agents]
        na = len(agents)
        self.prof = np.zeros((na, N_SKILLS), dtype=np.int16)
        for k, a in enumerate(agents):
            for s, lv in a.skills:
                self.prof[k, s] = lv
        self.tier = np.array([a.tier for a in agents], dtype=np.int16)
        self.available = np.array([a.state == 1 for a in agents])
        self.idle_since = np.array([a.idle_since for a in agents])
        self.load = np.zeros((na, N_CHANNELS), dtype=np.int16)
        self.capacity = np.tile(np.array(CAPACITY, dtype=np.int16), (na, 1))
        self.exclusive = np.array(params.exclusive)
        self.aht = np.tile(np.array(params.aht_seed), (na, 1))
        ni = len(interactions)
        self.inter_ids = [i.id for i in interactions]
        self.by_id = {i.id: k for k, i in enumerate(interactions)}
        self.channel = np.array([i.channel for i in interactions], dtype=np.int64)
        # Minimum level per skill; 0 where not required.
        self.need = np.zeros((ni, N_SKILLS), dtype=np.int16)
        for k, i in enumerate(interactions):
            for s, lv in i.required:
                self.need[k, s] = lv
        self.enq = np.array([i.enqueued_at for i in interactions])
        self.aging_per_second = np.array([params.aging_rate / i.sla for i in interactions])
        esc = params.esc_min_tier
        self.min_tier = np.array([esc[min(i.escalation, len(esc) - 1)] for i in interactions])
        self.base = np.array(
            [i.priority + i.tier_bonus + params.esc_bonus * i.escalation for i in interactions]
        )
        self.specs = interactions

    def _relaxed_need(
        self, need: npt.NDArray[np.int16], enq: F64 | float, now: float
    ) -> npt.NDArray[np.int16]:
        drop = np.zeros(np.shape(enq), dtype=np.int16)
        for after, d in zip(self.p.relax_after, self.p.relax_drop, strict=True):
            drop = np.where(now >= np.asarray(enq) + after, np.int16(d), drop)
        relaxed = np.maximum(need - np.asarray(drop)[..., None], 1)
        return np.where(need > 0, relaxed, 0).astype(np.int16)

    def _room(self, channel: int) -> npt.NDArray[np.bool_]:
        room: npt.NDArray[np.bool_] = self.load[:, channel] < self.capacity[:, channel]
        busy = (
            self.load.sum(axis=1)
            if self.exclusive[channel]
            else (self.load[:, self.exclusive].sum(axis=1))
        )
        out: npt.NDArray[np.bool_] = room & (busy == 0)
        return out

    def best_agent(self, interaction_id: str, now: float) -> str | None:
        k = self.by_id[interaction_id]
        spec = self.specs[k]
        ch = spec.channel
        need = self._relaxed_need(self.need[k : k + 1], self.enq[k], now)[0]
        req = np.nonzero(need)[0]
        ok = self.available & self._room(ch) & (self.tier >= self.min_tier[k])
        ok &= np.all(self.prof[:, req] >= need[req], axis=1)
        idx = np.nonzero(ok)[0]
        if idx.size == 0:
            return None
        p = self.p
        prof = self.prof[idx]
        if len(req):
            skill = prof[:, req].sum(axis=1) * (1.0 / (10.0 * len(req)))
        else:
            skill = np.ones(idx.size)
        pref_skills = [s for s, _ in spec.preferred]
        step = sum(now >= spec.enqueued_at + a for a in p.relax_after)
        if pref_skills and not (step and p.relax_drop_pref[step - 1]):
            pref = prof[:, pref_skills].sum(axis=1) * (1.0 / (10.0 * len(pref_skills)))
        else:
            pref = np.zeros(idx.size)
        tier = 1.0 - np.abs(self.tier[idx] - spec.target_tier) / 4.0
        idle = np.clip((now - self.idle_since[idx]) * (1.0 / p.idle_cap), 0.0, 1.0)
        aht = p.aht_ref / (p.aht_ref + self.aht[idx, ch])
        total = (
            p.w_skill * skill + p.w_pref * pref + p.w_tier * tier + p.w_idle * idle + p.w_aht * aht
        )
        # Highest score, then longest idle, then lowest id (ids sort like their index here).
        order = np.lexsort((idx, self.idle_since[idx], -total))
        return self.agent_ids[int(idx[order[0]])]

    def best_interaction(self, agent_index: int, now: float) -> str | None:
        room = np.array([self._room(c)[agent_index] for c in range(N_CHANNELS)])
        if not self.available[agent_index] or not room.any():
            return None
        need = self._relaxed_need(self.need, self.enq, now)
        ok = room[self.channel] & np.all(self.prof[agent_index] >= need, axis=1)
        ok &= self.tier[agent_index] >= self.min_tier
        idx = np.nonzero(ok)[0]
        if idx.size == 0:
            return None
        wait = np.maximum(now - self.enq[idx], 0.0)
        aging = np.minimum(self.aging_per_second[idx] * wait, self.p.aging_cap)
        urgency = self.base[idx] + aging
        order = np.lexsort((idx, self.enq[idx], -urgency))
        return self.inter_ids[int(idx[order[0]])]
