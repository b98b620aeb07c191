"""Prometheus metrics, one registry per running app (tests run several apps in one process)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.events = Counter(
            "cohortbot_events_handled",
            "Gateway events handled, by type.",
            ["event"],
            registry=self.registry,
        )
        self.commands = Counter(
            "cohortbot_commands",
            "Commands invoked, by name and outcome.",
            ["command", "outcome"],
            registry=self.registry,
        )
        self.notices = Counter(
            "cohortbot_notices",
            "Notices delivered, by outcome (sent, late, skipped, failed).",
            ["outcome"],
            registry=self.registry,
        )
        self.db_latency = Histogram(
            "cohortbot_database_latency_seconds",
            "Round-trip time of the health-check query.",
            registry=self.registry,
            buckets=(0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0),
        )

    def render(self) -> bytes:
        return generate_latest(self.registry)
