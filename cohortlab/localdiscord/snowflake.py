"""Discord snowflakes: time-ordered 64-bit ids.

Ids must sort like Discord's (history pagination, ``before``/``after`` cursors and the bot's
idempotency keys all rely on it), so they are built from the clock exactly as Discord builds them.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

DISCORD_EPOCH_MS = 1_420_070_400_000
_INCREMENT_BITS = 12
_WORKER_SHIFT = 17
_TIME_SHIFT = 22


def _now_ms() -> int:
    return int(datetime.now(UTC).timestamp() * 1000)


def snowflake_time_ms(snowflake: int) -> int:
    """Unix milliseconds encoded in a snowflake."""
    return (snowflake >> _TIME_SHIFT) + DISCORD_EPOCH_MS


def snowflake_time(snowflake: int) -> datetime:
    """The aware UTC moment a snowflake was minted."""
    return datetime.fromtimestamp(snowflake_time_ms(snowflake) / 1000, UTC)


def snowflake_at(moment: datetime, *, high: bool = False) -> int:
    """The smallest (or largest) snowflake of a moment: a pagination cursor for a time."""
    ms = int(moment.timestamp() * 1000) - DISCORD_EPOCH_MS
    low_bits = (1 << _TIME_SHIFT) - 1 if high else 0
    return (ms << _TIME_SHIFT) | low_bits


class SnowflakeGenerator:
    """Mints strictly increasing snowflakes even if the clock stalls or steps back."""

    def __init__(self, worker: int = 1, clock_ms: Callable[[], int] = _now_ms) -> None:
        self._worker = worker & 0x1F
        self._clock_ms = clock_ms
        self._last_ms = 0
        self._increment = 0

    def next(self) -> int:
        ms = max(self._clock_ms(), DISCORD_EPOCH_MS)
        if ms <= self._last_ms:
            ms = self._last_ms
            self._increment += 1
            if self._increment >= 1 << _INCREMENT_BITS:
                ms += 1
                self._increment = 0
        else:
            self._increment = 0
        self._last_ms = ms
        return (
            ((ms - DISCORD_EPOCH_MS) << _TIME_SHIFT)
            | (self._worker << _WORKER_SHIFT)
            | (self._increment)
        )
