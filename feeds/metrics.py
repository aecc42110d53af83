"""What /metrics tells Prometheus (prometheus-client).

Counted where things happen: requests (routed or replayed), render-cache look-ups, renders,
harvests. The sources' state is read from the store at each scrape, so every instance
reports the same truth however many harvest, and a separate harvest worker's sources
show up on the web instances. With `feeds serve --workers N` the processes count into
shared files (prometheus-client's multiprocess mode, PROMETHEUS_MULTIPROC_DIR), so a
scrape through the shared port sees them all.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from functools import lru_cache

from prometheus_client import (
    CONTENT_TYPE_PLAIN_0_0_4,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector

from feeds.store import SourceState

# Our names are plain: the classic text format says the same, and every Prometheus reads it.
CONTENT_TYPE = CONTENT_TYPE_PLAIN_0_0_4
SECONDS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)
HARVEST_SECONDS = (0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120)

REQUESTS = Counter(
    "feeds_http_requests", "HTTP requests answered, by route and status", ["route", "status"]
)
REPLAYED = Counter("feeds_http_replayed", "Requests answered by replaying an answer served before")
RENDER_CACHE = Counter(
    "feeds_render_cache_lookups", "Render-cache look-ups, by result (hit, miss)", ["result"]
)
RENDERS = Histogram(
    "feeds_render_seconds", "Time to read and render a view on a miss", ["view"], buckets=SECONDS
)
HARVESTS = Counter(
    "feeds_harvests", "Harvests of a source, by result", ["site", "source", "status"]
)
HARVEST_TIME = Histogram(
    "feeds_harvest_seconds", "Time to harvest one source", ["status"], buckets=HARVEST_SECONDS
)


@lru_cache(maxsize=4096)
def requests(route: str, status: int) -> Counter:
    """The counter child for a route and status, looked up once: replays count it."""
    return REQUESTS.labels(route, str(status))


class SourcesCollector(Collector):
    """The sources as the store knows them at this scrape."""

    def __init__(self, states: Sequence[SourceState] | None, revision: int | None) -> None:
        self.states = states
        self.revision = revision

    def collect(self) -> Iterator[Metric]:
        store_up = GaugeMetricFamily("feeds_store_up", "Whether the store answered this scrape")
        store_up.add_metric([], 0 if self.states is None else 1)
        yield store_up
        if self.states is None:
            return
        if self.revision is not None:
            yield GaugeMetricFamily(
                "feeds_store_revision", "The store's revision", value=self.revision
            )
        labels = ["site", "source"]
        items = GaugeMetricFamily("feeds_source_items", "Items kept of a source", labels=labels)
        failing = GaugeMetricFamily(
            "feeds_source_failing", "1 while a source's last harvest failed", labels=labels
        )
        failures = GaugeMetricFamily(
            "feeds_source_consecutive_failures", "Failed harvests in a row", labels=labels
        )
        success = GaugeMetricFamily(
            "feeds_source_last_success_timestamp_seconds",
            "When a source was last harvested without error",
            labels=labels,
        )
        for state in self.states:
            key = [state.site, state.source]
            items.add_metric(key, state.items)
            failing.add_metric(key, 1 if state.failures else 0)
            failures.add_metric(key, state.failures)
            if state.last_success is not None:
                success.add_metric(key, state.last_success.timestamp())
        total = GaugeMetricFamily("feeds_sources_failing", "Sources whose last harvest failed")
        total.add_metric([], sum(1 for s in self.states if s.failures))
        yield from (items, failing, failures, success, total)


def exposition(states: Sequence[SourceState] | None, revision: int | None) -> bytes:
    """The text Prometheus scrapes: this process's (or all workers') counts and the store's
    view of the sources."""
    sources = CollectorRegistry()
    sources.register(SourcesCollector(states, revision))
    directory = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if directory:
        counted = CollectorRegistry()
        multiprocess.MultiProcessCollector(counted, path=directory)  # type: ignore[no-untyped-call]
    else:
        counted = REGISTRY
    return generate_latest(counted) + generate_latest(sources)
