"""Moved to ``bot.timeparse`` (time parsing and formatting are every feature's, not the
calendar's); this module re-exports it so existing imports keep working."""

from __future__ import annotations

from bot.timeparse import *  # noqa: F403
from bot.timeparse import __all__ as __all__
