"""Insights: who is drifting away, computed weekly from activity every feature records.

``warning`` is the pure rule (activity in, flags with reasons in words out); ``thresholds``
reads its knobs from the programme file; ``service`` gathers a module's activity from the
database and asks ``warning``.
"""

# Modules other features may import (tests/unit/test_layers.py); the rest is internal.
PUBLIC_MODULES: tuple[str, ...] = ("service", "thresholds", "warning")
