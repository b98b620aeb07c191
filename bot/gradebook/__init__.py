"""Gradebook: participation marks from the ledger, and the programme's classification preview.

``marks`` and ``classification`` are pure logic on Decimals (never floats) so an exam-board export
is reproducible byte for byte; every result is provisional until the board confirms it.
"""
