"""aiohttp endpoints served while the bot runs: health, metrics, calendar feeds, dashboard."""
