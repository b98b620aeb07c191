"""Point discord.py at Discord or at a Discord-compatible server.

discord.py 2.7 builds every REST call (interaction callbacks and webhooks included) from
``discord.http.Route.BASE`` and connects to ``DiscordWebSocket.DEFAULT_GATEWAY`` without asking
``/gateway/bot``; setting both is all it takes to make the bot reach no other host.
This module is part of the Discord wiring and may import discord.
"""

from __future__ import annotations

import discord.http
import yarl
from discord.gateway import DiscordWebSocket


def configure_endpoints(api_base: str, gateway_url: str) -> None:
    """Set the REST base and gateway URL process-wide (discord.py keeps them on classes)."""
    discord.http.Route.BASE = api_base.rstrip("/")
    DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(gateway_url)
