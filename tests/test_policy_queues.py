"""`[queues.ID]` tables in the policy file: loaded into `Policy.queues`, every error naming
its key, and the same table shape the store keeps a queue in."""

from __future__ import annotations

from pathlib import Path

import pytest

from cim_router.domain import PolicyError, load_policy
from cim_router.domain.channel import Channel
from cim_router.domain.queue_tables import queue_from_mapping, queue_to_mapping
from cim_router.domain.queues import Then, When

GOOD = """
[queues.billing]
display_name = "Billing"
channels = ["voice", "chat"]
required = { billing = 3 }
preferred = ["french"]
priority = 10
service_level = { seconds = 30, share = 0.9 }
max_size = 50
max_wait_seconds = 900

[queues.billing.hours]
time_zone = "Europe/Paris"
mon = ["09:00-12:00", "13:00-17:00"]
exceptions = { "2026-12-25" = [] }

[[queues.billing.overflow]]
name = "spill"
when = "waited"
threshold = 120
then = "move"
queue = "default"
to_back = true
"""


def test_queues_load_with_hours_and_rules(tmp_path: Path) -> None:
    policy = load_policy(_write(tmp_path, GOOD))
    q = policy.queues["billing"]
    assert q.channels == frozenset({Channel.VOICE, Channel.CHAT})
    assert [(r.skill, r.min_level) for r in q.required] == [("billing", 3)]
    assert [(r.skill, r.min_level) for r in q.preferred] == [("french", 1)]
    assert (q.priority, q.max_size, q.max_wait_seconds) == (10, 50, 900.0)
    assert (q.service_level.seconds, q.service_level.share) == (30.0, 0.9)
    assert q.hours.time_zone == "Europe/Paris" and q.hours.weekly["mon"] == (
        (540, 720),
        (780, 1020),
    )
    (rule,) = q.overflow
    assert (rule.when, rule.then, rule.threshold, rule.queue, rule.keep_place) == (
        When.WAITED,
        Then.MOVE,
        120.0,
        "default",
        False,
    )
    # the store's shape is the file's: a queue survives the round trip
    assert queue_from_mapping("billing", queue_to_mapping(q), "queue") == q


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "policy.toml"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ('[queues.q]\ncolour = "red"\n', "queues.q.colour"),
        ('[queues.q.hours]\ntime_zone = "Mars/Base"\n', "queues.q.hours.time_zone"),
        ('[queues.q.hours]\nmon = ["17:00-09:00"]\n', "queues.q.hours.mon[0]"),
        ('[queues.q.hours]\ntue = ["09:00-12:00", "11:00-13:00"]\n', "queues.q.hours.tue"),
        ('[queues.q.hours]\nexceptions = { "12/25" = [] }\n', "queues.q.hours.exceptions.12/25"),
        ("[queues.q]\npriority = 101\n", "queues.q.priority"),
        ('[queues.q]\nchannels = ["fax"]\n', "queues.q.channels[0]"),
        ("[queues.q]\nservice_level = { share = 1.5 }\n", "queues.q.service_level.share"),
        (
            '[[queues.q.overflow]]\nname = "m"\nwhen = "waited"\nthen = "move"\nqueue = "x"\n',
            "queues.q.overflow[0].queue",
        ),
        (
            '[[queues.q.overflow]]\nname = "m"\nwhen = "soon"\nthen = "end"\n',
            "queues.q.overflow[0].when",
        ),
        (
            '[[queues.q.overflow]]\nname = "e"\nwhen = "closed"\nthen = "end"\n',
            "queues.q.overflow[0].disposition",
        ),
        (
            '[[queues.a.overflow]]\nname = "m"\nwhen = "waited"\nthen = "move"\nqueue = "b"\n'
            '[[queues.b.overflow]]\nname = "m"\nwhen = "waited"\nthen = "move"\nqueue = "a"\n',
            "queues.a.overflow",
        ),
    ],
)
def test_a_bad_queue_names_its_key(tmp_path: Path, text: str, key: str) -> None:
    with pytest.raises(PolicyError) as err:
        load_policy(_write(tmp_path, text))
    assert err.value.key == key, str(err.value)


def test_no_queues_table_means_no_policy_queues(tmp_path: Path) -> None:
    assert load_policy(_write(tmp_path, "matching = 'greedy'\n")).queues == {}


def test_more_than_64_queues_are_refused(tmp_path: Path) -> None:
    text = "".join(f"[queues.q{k}]\n" for k in range(64))  # and "default": 65
    with pytest.raises(PolicyError) as err:
        load_policy(_write(tmp_path, text))
    assert err.value.key == "queues"
