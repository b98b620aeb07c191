"""Who is calling and what they may do, decided from the bot's own roster, not chat roles."""

# Modules other features may import (tests/unit/test_layers.py); the rest is internal.
PUBLIC_MODULES: tuple[str, ...] = ("context", "identity", "permissions")
