"""Each Slack command takes the options its Discord twin takes (``tests/e2e/command_tree.json``,
the snapshot of what Discord is sent), and the parity table says what is on Slack so far.

Run with ``-s`` to see the table (command, Discord, Slack).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from slackapp.commands.table import COMMANDS

TREE = Path(__file__).resolve().parents[1] / "e2e" / "command_tree.json"
SUBCOMMAND, GROUP = 1, 2


def discord_commands() -> dict[tuple[str, ...], tuple[tuple[str, bool], ...]]:
    """Every Discord command path with its options as (name, required)."""
    found: dict[tuple[str, ...], tuple[tuple[str, bool], ...]] = {}

    def walk(path: tuple[str, ...], options: list[dict[str, Any]]) -> None:
        nested = [o for o in options if o.get("type") in (SUBCOMMAND, GROUP)]
        if not nested:
            found[path] = tuple((o["name"], bool(o.get("required"))) for o in options)
        for o in nested:
            walk((*path, o["name"]), o.get("options") or [])

    for command in json.loads(TREE.read_text())["commands"]:
        walk((command["name"],), command.get("options") or [])
    return found


def slack_commands() -> dict[tuple[str, ...], tuple[tuple[str, bool], ...]]:
    return {c.path: tuple((o.name, o.required) for o in c.shape.options) for c in COMMANDS}


def _options(options: tuple[tuple[str, bool], ...]) -> str:
    return " ".join(f"{name}{'' if required else '?'}" for name, required in options) or "-"


def parity_table() -> list[tuple[str, str, str]]:
    discord, slack = discord_commands(), slack_commands()
    rows = []
    for path in sorted(discord):
        on_slack = _options(slack[path]) if path in slack else "not yet"
        rows.append((f"/{' '.join(path)}", _options(discord[path]), on_slack))
    return rows


def test_every_slack_command_takes_its_discord_options() -> None:
    discord, slack = discord_commands(), slack_commands()
    assert set(slack) <= set(discord), "a Slack command Discord does not have"
    differing = {
        path: (discord[path], opts) for path, opts in slack.items() if discord[path] != opts
    }
    assert differing == {}


def test_the_parity_table_lists_every_discord_command() -> None:
    rows = parity_table()
    width = max(len(r[0]) for r in rows)
    print(f"\n{'command':<{width}}  Discord / Slack")
    for command, on_discord, on_slack in rows:
        print(f"{command:<{width}}  {on_discord}  |  {on_slack}")
    done = [r for r in rows if r[2] != "not yet"]
    print(f"{len(done)} of {len(rows)} commands on Slack")
    assert len(rows) == len(discord_commands())
    assert {r[0] for r in done} == {f"/{' '.join(c.path)}" for c in COMMANDS}
