"""Prometheus metrics, one registry per running app (tests run several apps in one process)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.events = self._counter(
            "cohortbot_events_handled", "Gateway events handled, by type.", ["event"]
        )
        self.commands = self._counter(
            "cohortbot_commands", "Commands invoked, by name and outcome.", ["command", "outcome"]
        )
        self.notices = self._counter(
            "cohortbot_notices",
            "Notices delivered, by outcome (sent, late, skipped, failed).",
            ["outcome"],
        )
        self.db_latency = Histogram(
            "cohortbot_database_latency_seconds",
            "Round-trip time of the health-check query.",
            registry=self.registry,
            buckets=(0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0),
        )

    def _counter(self, name: str, documentation: str, labels: list[str]) -> Counter:
        """A labelled counter in this app's registry."""
        return Counter(name, documentation, labels, registry=self.registry)

    def render(self) -> bytes:
        return generate_latest(self.registry)
