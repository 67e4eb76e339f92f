"""docs/measures.md and tenant/measures.py say the same: the same measures, and the doc's
worked example computes, by the code, to the figures the doc states."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from cim_router.domain.policy import Policy
from cim_router.tenant.measures import MEASURES, Tally, measures, occupancy

DOC = (Path(__file__).resolve().parents[1] / "docs" / "measures.md").read_text()


def _block(kind: str) -> dict[str, float]:
    found = re.search(rf"```{kind}\n(.*?)```", DOC, re.S)
    assert found is not None, f"no ```{kind} block in docs/measures.md"
    pairs = (line.split("=") for line in found.group(1).strip().splitlines())
    return {name.strip(): float(value) for name, value in pairs}


def test_the_doc_defines_exactly_the_measures_of_the_code() -> None:
    defined = re.findall(r"^### `(\w+)`$", DOC, re.M)
    assert len(defined) == len(set(defined))
    assert set(defined) == {*MEASURES, "occupancy"}


def test_the_worked_example_computes_to_the_figures_stated() -> None:
    counts = _block("tally")
    tally = Tally(**{k: type(getattr(Tally(), k))(v) for k, v in counts.items()})
    stated = _block("measures")
    computed: dict[str, float | None] = {**measures(tally), "occupancy": occupancy(3, 12)}
    assert set(stated) == set(computed)
    for name, value in stated.items():
        assert computed[name] == pytest.approx(value, abs=5e-5), name


def test_the_policy_keys_the_doc_names_exist_with_their_defaults() -> None:
    p = Policy()
    assert "`short_abandon_seconds` (default 5)" in DOC and p.short_abandon_seconds == 5.0
    assert "`fcr_window_days` (default 7" in DOC and p.fcr_window_days == 7
    assert "`time_zone` (default `UTC`" in DOC and p.time_zone == "UTC"


def test_the_hold_and_feedback_policy_keys_the_doc_names_exist_with_their_defaults() -> None:
    p = Policy()
    assert "`hold_limit_seconds` (default 0" in DOC and p.hold_limit_seconds == 0.0
    assert "`feedback_window_seconds` (default 604800" in DOC
    assert p.feedback_window_seconds == 604800.0
