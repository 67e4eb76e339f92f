"""Every contact-centre measure, defined once (docs/measures.md says the same in words):
GetStats and the metrics both compute them here, from the same tallies.

A `Tally` counts what happened to the interactions of one queue and channel over some
span (the last 15 minutes, since local midnight); the measures are ratios of its counts.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

# A customer who hangs up within this many seconds never really waited: such abandons
# count neither for nor against the service level (the policy may change it).
SHORT_ABANDON_SECONDS = 5.0


@dataclass
class Tally:
    """Counts over a span; all of them add up when spans are merged."""

    offered: int = 0  # interactions that entered the queue (enqueued or moved in)
    answered: int = 0  # first accepted by an agent
    answered_in_sla: int = 0  # ... within the queue's service-level seconds
    wait_seconds: float = 0.0  # summed over the answered: enqueue to first accept
    abandoned: int = 0  # the customer left before an agent took it
    short_abandoned: int = 0  # ... within SHORT_ABANDON_SECONDS
    handled: int = 0  # conversations ended (Complete), wrap-up excluded
    handle_seconds: float = 0.0  # summed over the handled: accept to Complete
    wrap_seconds: float = 0.0  # summed over the handled: wrap-up time
    transferred: int = 0  # transfers started (warm or cold) of handled work
    csat_count: int = 0
    csat_sum: int = 0
    contacts: int = 0  # enqueues with a customer id
    repeats: int = 0  # ... of a customer served within the FCR window before
    overflowed: int = 0  # moved to another queue or ended by an overflow rule
    outbound: int = 0  # enqueued outbound (proactive work; callbacks are counted apart)
    callbacks: int = 0  # waiting work turned into a callback
    callback_attempts: int = 0  # callback attempts that ended (Complete), any outcome
    holds: int = 0  # holds ended (Resume, or the interaction completed, cancelled, transferred)
    hold_seconds: float = 0.0  # ... summed: their length

    def add(self, other: Tally) -> Tally:
        mine, theirs = self.__dict__, other.__dict__
        for name in COUNT_NAMES:
            mine[name] += theirs[name]
        return self

    def as_dict(self) -> dict[str, float]:
        return {name: getattr(self, name) for name in COUNT_NAMES}


COUNT_NAMES = tuple(f.name for f in fields(Tally))


def service_level(t: Tally) -> float | None:
    """Answered within the target over answered plus abandoned, short abandons excluded
    from both; None when there is nothing to measure (not 1: nothing happened)."""
    counted = t.answered + t.abandoned - t.short_abandoned
    return t.answered_in_sla / counted if counted > 0 else None


def average_speed_of_answer(t: Tally) -> float | None:
    """Mean wait of the answered, in seconds."""
    return t.wait_seconds / t.answered if t.answered else None


def average_handle_time(t: Tally) -> float | None:
    """Mean talk (or chat) time plus wrap-up of the handled, in seconds."""
    return (t.handle_seconds + t.wrap_seconds) / t.handled if t.handled else None


def abandonment_rate(t: Tally) -> float | None:
    """Abandoned over offered less overflowed (work a rule sent on had no outcome here),
    short abandons excluded from both."""
    counted = t.offered - t.overflowed - t.short_abandoned
    return (t.abandoned - t.short_abandoned) / counted if counted > 0 else None


def transfer_rate(t: Tally) -> float | None:
    return t.transferred / t.handled if t.handled else None


def csat_mean(t: Tally) -> float | None:
    return t.csat_sum / t.csat_count if t.csat_count else None


def average_hold_time(t: Tally) -> float | None:
    """Mean length of the holds that ended, in seconds."""
    return t.hold_seconds / t.holds if t.holds else None


def first_contact_resolution(t: Tally) -> float | None:
    """Contacts not followed by another of the same customer within the FCR window; None
    (not 1) while nobody has called."""
    return 1.0 - t.repeats / t.contacts if t.contacts else None


def occupancy(busy: int, staffed: int) -> float | None:
    """Seats in use (held or offered) over seats of logged-in agents, now."""
    return busy / staffed if staffed else None


MEASURES = {
    "service_level": service_level,
    "average_speed_of_answer": average_speed_of_answer,
    "average_handle_time": average_handle_time,
    "abandonment_rate": abandonment_rate,
    "transfer_rate": transfer_rate,
    "csat_mean": csat_mean,
    "first_contact_resolution": first_contact_resolution,
    "average_hold_time": average_hold_time,
}


def measures(t: Tally) -> dict[str, float | None]:
    """Every measure of a tally, by name."""
    return {name: fn(t) for name, fn in MEASURES.items()}
