"""One declaration per slash command: its name, description, metadata (``extras``) and the
descriptions of its options, in one decorator instead of ``command`` + ``describe`` stacked on
every command of every cog."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from discord import app_commands

__all__ = ["slash"]

Callback = Callable[..., Any]


def slash(
    group: app_commands.Group | None,
    name: str,
    description: str,
    meta: dict[str, Any],
    /,
    **options: str,
) -> Callable[[Callback], app_commands.Command[Any, ..., Any]]:
    """``group``: the group the command belongs to (None: the cog's own group or the top
    level); ``meta``: from ``cogs._shared.metadata.extras``; ``options``: each option's
    description. Other decorators (choices, autocomplete) stack under it as before."""

    def declare(func: Callback) -> app_commands.Command[Any, ..., Any]:
        if options:
            func = app_commands.describe(**options)(func)
        make = app_commands.command if group is None else group.command
        command: app_commands.Command[Any, ..., Any] = make(
            name=name, description=description, extras=meta
        )(func)
        return command

    return declare
