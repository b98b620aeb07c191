"""Every button Discord routes by its custom id after a restart (``PersistentButton``) is routed
on Slack too: the same custom id reaches a declared Slack handler (``slackapp.buttons``)."""

from __future__ import annotations

import re

import cogs.discussions.views
import cogs.peer.views
import cogs.teams.views
from cogs._shared.guards import PersistentButton
from slackapp.buttons import route

VIEWS = (cogs.discussions.views, cogs.peer.views, cogs.teams.views)


def test_each_discord_persistent_button_has_a_slack_handler() -> None:
    assert all(VIEWS)  # imported for their button classes
    templates = {
        cls.__name__: cls.__discord_ui_compiled_template__.pattern
        for cls in PersistentButton.__subclasses__()
    }
    assert {"AnswerButton", "ReviewButton", "ConfirmTeams"} <= set(templates)
    for name, template in templates.items():
        custom_id = re.sub(r"\(\?P<id>\\d\+\)", "7", template).replace("\\", "")
        routed = route(custom_id)
        assert routed is not None, f"{name} ({custom_id}) has no handler on Slack"
        assert routed[1]["id"] == "7"
