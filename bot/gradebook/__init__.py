"""Gradebook: participation marks from the ledger, and the programme's classification preview.

``marks`` and ``classification`` are pure logic on Decimals (never floats) so an exam-board export
is reproducible byte for byte; every result is provisional until the board confirms it.
"""

# Modules other features may import (tests/unit/test_layers.py); the rest is internal.
PUBLIC_MODULES: tuple[str, ...] = ("audit", "export", "exporting", "ledger", "loading")
