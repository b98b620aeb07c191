"""Every button Discord routes by its custom id after a restart (``PersistentButton``) is routed
on Slack too: the same custom id reaches a declared Slack handler (``slackapp.buttons``)."""

from __future__ import annotations

import re

import cogs.calendar.views
import cogs.discussions.views
import cogs.peer.views
import cogs.teams.views
from cogs._shared.guards import PersistentButton
from slackapp.buttons import route

VIEWS = (cogs.calendar.views, cogs.discussions.views, cogs.peer.views, cogs.teams.views)


def test_each_discord_persistent_button_has_a_slack_handler() -> None:
    assert all(VIEWS)  # imported for their button classes
    templates = {
        cls.__name__: cls.__discord_ui_compiled_template__.pattern
        for cls in PersistentButton.__subclasses__()
    }
    assert {"AnswerButton", "ReviewButton", "ConfirmTeams"} <= set(templates)
    assert "CalendarButton" in templates
    for name, template in templates.items():
        for custom_id in _examples(template):
            routed = route(custom_id)
            assert routed is not None, f"{name} ({custom_id}) has no handler on Slack"
            assert routed[1]["id"] == "7"


def _examples(template: str) -> list[str]:
    """Every custom id a template stands for, its item id 7: one per choice of a named group
    of alternatives (``(?P<action>going|maybe)``), so each action is checked on its own."""
    base = re.sub(r"\(\?P<id>\\d\+\)", "7", template)
    choice = re.search(r"\(\?P<\w+>([\w|]+)\)", base)
    if choice is None:
        return [base.replace("\\", "")]
    return [
        example
        for option in choice.group(1).split("|")
        for example in _examples(base[: choice.start()] + option + base[choice.end() :])
    ]
