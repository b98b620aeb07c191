"""The app manifest declares what the adapter listens to: every command group of the command
table, the events it handles, interactivity, and Socket Mode by default."""

from __future__ import annotations

import re
from pathlib import Path

from slackapp.commands.table import slash_names

MANIFEST = Path(__file__).resolve().parents[2] / "slackapp" / "manifest.yml"


def _listed(section: str) -> list[str]:
    """The ``- item`` lines under ``section:`` (the manifest is plain YAML lists)."""
    text = MANIFEST.read_text(encoding="utf-8")
    block = text.split(f"{section}:", 1)[1]
    items: list[str] = []
    for line in block.splitlines()[1:]:
        match = re.match(r"\s*- ([\w:./]+)", line)
        if match is None:
            if line.strip() and not line.strip().startswith("#"):
                break
            continue
        items.append(match.group(1))
    return items


def test_every_command_group_is_declared() -> None:
    declared = re.findall(r"- command: (/\S+)", MANIFEST.read_text(encoding="utf-8"))
    assert sorted(declared) == slash_names()


def test_the_events_and_scopes_the_adapter_needs() -> None:
    events = _listed("bot_events")
    assert {"message.channels", "message.groups", "member_joined_channel"} <= set(events)
    scopes = _listed("bot")
    needed = {"commands", "chat:write", "channels:history", "users:read.email", "files:write"}
    assert needed <= set(scopes)


def test_socket_mode_and_interactivity_are_on() -> None:
    text = MANIFEST.read_text(encoding="utf-8")
    assert "socket_mode_enabled: true" in text
    assert re.search(r"interactivity:\n\s+is_enabled: true", text)
