"""A real server with an Observer and a metrics endpoint on a free port, and a scraper."""

from __future__ import annotations

import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from prometheus_client import CollectorRegistry
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

from cim_router.observability import Observer, ObserverSettings
from tests.service.conftest import Running, fast_policy, start_server

SKILLS = frozenset({"billing"})


@dataclass
class Scrape:
    """One scrape of /metrics, parsed."""

    samples: list[Sample]
    types: dict[str, str]

    def value(self, name: str, **labels: str) -> float:
        """The sum of the samples called `name` whose labels include `labels`; 0 if none."""
        return sum(
            s.value
            for s in self.samples
            if s.name == name and all(s.labels.get(k) == v for k, v in labels.items())
        )

    def has(self, name: str, **labels: str) -> bool:
        return any(
            s.name == name and all(s.labels.get(k) == v for k, v in labels.items())
            for s in self.samples
        )


def scrape(url: str) -> Scrape:
    with urllib.request.urlopen(url, timeout=10) as response:
        assert response.status == 200
        text = response.read().decode()
    families = list(text_string_to_metric_families(text))
    return Scrape(
        [s for f in families for s in f.samples],
        {f.name: f.type for f in families},
    )


@dataclass
class Observed:
    running: Running
    observer: Observer

    @property
    def url(self) -> str:
        metrics = self.running.server.metrics
        assert metrics is not None
        return metrics.url

    def scrape(self) -> Scrape:
        return scrape(self.url)


def start_observed() -> Observed:
    policy = fast_policy()
    observer = Observer(CollectorRegistry(), policy, ObserverSettings(skill_labels=SKILLS))
    return Observed(start_server(policy, observer=observer, metrics_port=0), observer)


@pytest.fixture
def observed() -> Iterator[Observed]:
    o = start_observed()
    try:
        yield o
    finally:
        o.running.stop()
