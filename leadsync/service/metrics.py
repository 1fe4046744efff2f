"""Prometheus metrics for ``leadsync run``, on a registry of their own (no global state).

Cycle counters and the duration histogram are fed by ``observe`` after every cycle; API
calls and the remaining allowance are read from ``Connector.usage()`` at scrape time, so
they are exact whenever Prometheus asks.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Protocol

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from jobs.runner import CycleOutcome
from leadsync.records import ApiUsage
from leadsync.store.runs import RunCounts

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

#: Cycles take from well under a second (nothing changed) to many minutes (a backfill).
DURATION_BUCKETS = (0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600)


class HasUsage(Protocol):
    def usage(self) -> ApiUsage: ...


class _UsageCollector(Collector):
    def __init__(self, connectors: Mapping[str, HasUsage]) -> None:
        self._connectors = connectors

    def collect(self) -> Iterable[Metric]:
        calls = CounterMetricFamily(
            "leadsync_api_calls", "CRM API calls made since start", labels=["connector"]
        )
        remaining = GaugeMetricFamily(
            "leadsync_api_remaining",
            "CRM API allowance left, as the CRM last reported it",
            labels=["connector"],
        )
        limit = GaugeMetricFamily(
            "leadsync_api_limit",
            "CRM API allowance, as the CRM last reported it",
            labels=["connector"],
        )
        for name, connector in self._connectors.items():
            usage = connector.usage()
            calls.add_metric([name], usage.calls)
            if usage.remaining is not None:
                remaining.add_metric([name], usage.remaining)
            if usage.limit is not None:
                limit.add_metric([name], usage.limit)
        return [calls, remaining, limit]


class ServiceMetrics:
    """Every series ``/metrics`` serves."""

    def __init__(self, connectors: Mapping[str, HasUsage]) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.cycles = Counter(
            "leadsync_cycles",
            "Sync cycles finished, by connector and status",
            ["connector", "status"],
            registry=self.registry,
        )
        self.pulled = Counter(
            "leadsync_records_pulled",
            "Records read from the CRM (new, changed, unchanged or skipped)",
            ["connector"],
            registry=self.registry,
        )
        self.written = Counter(
            "leadsync_records_written",
            "Records written back to the CRM",
            ["connector"],
            registry=self.registry,
        )
        self.rejected = Counter(
            "leadsync_records_rejected",
            "Record writes the CRM rejected",
            ["connector"],
            registry=self.registry,
        )
        self.duration = Histogram(
            "leadsync_cycle_duration_seconds",
            "Wall time of one sync cycle",
            ["connector"],
            buckets=DURATION_BUCKETS,
            registry=self.registry,
        )
        self.webhooks = Counter(
            "leadsync_webhooks",
            "Webhook deliveries, by outcome",
            ["outcome"],
            registry=self.registry,
        )
        for name in connectors:
            # Series exist from the start, so rate() works on the first increments.
            for counter in (self.pulled, self.written, self.rejected):
                counter.labels(name)
        self.registry.register(_UsageCollector(connectors))

    def observe(self, outcome: CycleOutcome) -> None:
        """Count one finished cycle (a ``CycleRunner`` observer)."""
        self.cycles.labels(outcome.connector, outcome.status).inc()
        self.duration.labels(outcome.connector).observe(outcome.duration_seconds)
        if outcome.report is None:
            return
        # The same totals the dashboard's cycle rows and ``leadsync status`` show.
        totals = RunCounts.of(outcome.report.to_dict())
        for connector, n in totals.pulled.items():
            self.pulled.labels(connector).inc(n)
        for connector, n in totals.written.items():
            self.written.labels(connector).inc(n)
        for connector, n in totals.rejected.items():
            self.rejected.labels(connector).inc(n)

    def render(self) -> bytes:
        """The Prometheus text exposition of every series."""
        return generate_latest(self.registry)
