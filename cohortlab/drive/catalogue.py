"""Every Discord slash command with its declared metadata (audience, example, setup), read from
the cog classes without starting a bot: the permission matrix runs the same list on both
platforms, and a command the other platform lacks is named, not silently left out."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
from functools import cache
from typing import Any

from discord import app_commands
from discord.ext import commands

from bot.discord_app import discover_cogs

Command = app_commands.Command[Any, ..., Any]


def _modules(name: str) -> list[Any]:
    package = importlib.import_module(name)
    found = [package]
    for info in pkgutil.iter_modules(getattr(package, "__path__", [])):
        found.append(importlib.import_module(f"{name}.{info.name}"))
    return found


@cache
def catalogue() -> dict[str, Command]:
    """Qualified name ("prompt create") -> the command, as the cogs declare them."""
    found: dict[str, Command] = {}

    def walk(prefix: str, item: Any) -> None:
        name = f"{prefix} {item.name}".strip()
        if isinstance(item, app_commands.Group):
            for sub in item.commands:
                walk(name, sub)
        elif isinstance(item, app_commands.Command):
            found[name] = item

    for extension in discover_cogs():
        for module in _modules(extension):
            for _, cls in inspect.getmembers(module, inspect.isclass):
                if not issubclass(cls, commands.Cog) or cls.__module__ != module.__name__:
                    continue
                group = cls.__cog_group_name__ if cls.__cog_is_app_commands_group__ else ""
                for item in cls.__cog_app_commands__:
                    walk(str(group), item)
    return dict(sorted(found.items()))


def parity_rows() -> list[tuple[str, str, str]]:
    """(command, Discord, Slack) for every command: "yes", or why it is missing."""
    from slackapp.commands.table import BY_PATH

    return [
        (
            f"/{name}",
            "yes",
            "yes" if tuple(name.split()) in BY_PATH else "not yet (no Slack handler)",
        )
        for name in catalogue()
    ]


def parity_table() -> str:
    rows = parity_rows()
    width = max(len(r[0]) for r in rows)
    lines = [f"{'command':<{width}}  Discord  Slack"]
    lines += [f"{c:<{width}}  {d:<7}  {s}" for c, d, s in rows]
    done = sum(1 for r in rows if r[2] == "yes")
    lines.append(f"{done} of {len(rows)} commands on both platforms")
    return "\n".join(lines)
