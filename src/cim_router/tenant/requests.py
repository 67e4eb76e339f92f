"""Request ids: a retried mutating call returns the first call's outcome instead of
applying twice.

Each outcome is written to the store in the same atomic commit as the change it made, so
it exists exactly when the change does. The router remembers recent outcomes (with the
sequence number of their commit) and asks the store only for ids it cannot rule out.
"""

from __future__ import annotations

from collections import OrderedDict

from cim_router.tenant.records import RequestOutcome

MAX_REMEMBERED = 100_000  # per tenant; older outcomes are still found in the store


class RequestLog:
    """The outcomes of one tenant's calls made since it was loaded."""

    def __init__(self, retention_seconds: float) -> None:
        self.retention = retention_seconds
        self._known: OrderedDict[str, tuple[RequestOutcome, int, float]] = OrderedDict()
        # Until then a miss in memory is not proof: the id may be stored from before the
        # load, or evicted from memory.
        self._complete_after = float("inf")

    def reset(self, now: float) -> None:
        """Forget everything (a reload): outcomes from before are in the store."""
        self._known.clear()
        self._complete_after = now + self.retention

    def remember(self, outcome: RequestOutcome, seq: int, now: float) -> None:
        self._known[outcome.request_id] = (outcome, seq, now)
        self._known.move_to_end(outcome.request_id)
        while self._known:
            _, (_, _, at) = next(iter(self._known.items()))
            if at >= now - self.retention and len(self._known) <= MAX_REMEMBERED:
                break
            if at >= now - self.retention:  # evicted while still valid: ask the store
                self._complete_after = max(self._complete_after, now + self.retention)
            self._known.popitem(last=False)

    def get(self, request_id: str) -> tuple[RequestOutcome, int] | None:
        found = self._known.get(request_id)
        return None if found is None else (found[0], found[1])

    def must_ask_store(self, now: float) -> bool:
        """Whether a miss in memory still needs a look in the store."""
        return now < self._complete_after
