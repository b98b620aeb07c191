"""The slash commands users see (names, options, descriptions, choices) and their metadata
stay as recorded in ``command_tree.json``: a refactoring of how cogs declare commands must not
change what Discord is sent. After a deliberate change, rewrite the file with
``COHORTBOT_WRITE_COMMAND_TREE=1``."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from discord import app_commands

from cogs._shared.declare import declared
from cohortlab.sandbox import Sandbox

pytestmark = pytest.mark.e2e

SNAPSHOT = Path(__file__).with_name("command_tree.json")


def _dump(sandbox: Sandbox) -> Any:
    tree = sandbox.app.bot.tree
    payload = sorted((c.to_dict(tree) for c in tree.get_commands()), key=lambda c: c["name"])
    extras = {
        c.qualified_name: c.extras
        for c in tree.walk_commands()
        if isinstance(c, app_commands.Command)
    }
    # One JSON round trip so tuples and lists compare alike.
    return json.loads(json.dumps({"commands": payload, "extras": extras}, sort_keys=True))


async def test_registered_commands_are_unchanged(sandbox: Sandbox) -> None:
    tree = _dump(sandbox)
    if os.environ.get("COHORTBOT_WRITE_COMMAND_TREE"):
        SNAPSHOT.write_text(json.dumps(tree, indent=1, sort_keys=True) + "\n")
    assert tree == json.loads(SNAPSHOT.read_text())


async def test_every_row_of_the_command_table_is_a_registered_command(sandbox: Sandbox) -> None:
    """cogs/_shared/commands.toml holds no row for a command that no cog declares."""
    registered = {
        c.qualified_name
        for c in sandbox.app.bot.tree.walk_commands()
        if isinstance(c, app_commands.Command)
    }
    assert set(declared()) == registered
