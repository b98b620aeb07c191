"""aiohttp endpoints served while the bot runs: health, metrics (later: calendar feeds, exports)."""
