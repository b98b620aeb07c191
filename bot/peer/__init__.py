"""Peer-assessed exercises: who reviews whom, and what the reviews add up to.

``allocation`` and ``aggregation`` are pure (no I/O, no database, no chat platform) so the
fairness rules (never self, never the same study group, even workloads, no repeated pairs) and
the statistics can be checked exhaustively with property-based tests and benchmarked on their
own; the peer service only moves rows in and out.
"""

# Modules other features may import (tests/unit/test_layers.py); the rest is internal.
PUBLIC_MODULES: tuple[str, ...] = ()
