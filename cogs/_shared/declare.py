"""One declaration per slash command. What users read about a command (its description, its
options' help, its metadata) is one row of the table in ``commands.toml``; the cog declares it
with ``@command("exercise create", exercise)`` above the callback, whose signature gives the
options' types and defaults."""

from __future__ import annotations

import tomllib
from collections.abc import Callable, Mapping
from functools import cache
from importlib import resources
from typing import Any

from discord import app_commands

from cogs._shared.metadata import extras

__all__ = ["command", "declared", "slash"]

Callback = Callable[..., Any]
Declare = Callable[[Callback], app_commands.Command[Any, ..., Any]]


def slash(
    group: app_commands.Group | None,
    name: str,
    description: str,
    meta: dict[str, Any],
    /,
    **options: str,
) -> Declare:
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


@cache
def declared() -> Mapping[str, Mapping[str, Any]]:
    """The table's rows by the command's path ("exercise create", "submit")."""
    text = resources.files("cogs._shared").joinpath("commands.toml").read_text(encoding="utf-8")
    rows: dict[str, Mapping[str, Any]] = {}

    def walk(path: tuple[str, ...], table: Mapping[str, Any]) -> None:
        if "description" in table:
            rows[" ".join(path)] = table
            return
        for name, below in table.items():
            walk((*path, name), below)

    walk((), tomllib.loads(text))
    return rows


def command(path: str, group: app_commands.Group | None = None) -> Declare:
    """The command at ``path`` (what users type after the slash), as its row declares it.
    ``group``: the ``app_commands.Group`` it belongs to, when the cog holds one (a
    ``GroupCog``'s commands and top-level ones pass none)."""
    row = declared()[path]
    *parents, name = path.split()
    if group is not None and parents != [group.name]:
        raise ValueError(f"/{path} is not in the group /{group.name}")
    meta = extras(
        row["audience"], dict(row["example"]), setup=row.get("setup"), module=row.get("module")
    )
    declare = slash(group, name, row["description"], meta, **row.get("options", {}))
    choices = {
        option: [app_commands.Choice(name=shown, value=value) for shown, value in offered.items()]
        for option, offered in row.get("choices", {}).items()
    }
    if not choices:
        return declare
    return lambda func: declare(app_commands.choices(**choices)(func))
