"""Tools around cohortbot that the bot itself never needs: the local Discord-compatible server,
the sandbox that wires it to a real bot, the demo and its sample records.

Kept outside ``bot/`` so the core stays platform-free; ``tests/unit/test_layers.py`` checks that
nothing in ``bot/`` or ``cogs/`` imports this package.
"""
