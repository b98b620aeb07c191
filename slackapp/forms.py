"""What a button may answer besides a sentence, and what a submitted form answers.

A click on Slack carries a ``trigger_id`` that opens one modal within three seconds; so a
button handler may return a form to open (a command's own modal, ``CommandForm``, or a view
of its own, ``Modal``). A view of its own is submitted to the handler declared for its
``callback_id`` in ``slackapp.buttons.FORMS``, which answers with a ``FormAnswer``: field
errors keep the modal open with the sentence under the field (Slack's
``response_action: errors``), otherwise it closes and the text reaches the person privately.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from slackapp.commands.table import Call

#: Callback ids of the bot's own modals start with it (a command's modal has its own id).
FORM_PREFIX = "cb:form:"


@dataclass(frozen=True)
class CommandForm:
    """Open the modal of the command ``path``, with ``values`` already given (the same
    fields, the same handler and answer as when the command text leaves them out)."""

    path: tuple[str, ...]
    values: Mapping[str, Any]


@dataclass(frozen=True)
class Modal:
    """Open this modal view; its ``callback_id`` names the form handler of its submission."""

    view: dict[str, Any]


@dataclass(frozen=True)
class FormAnswer:
    """A submitted form's outcome: errors by block id (the modal stays open, nothing
    changed) or the text of the private answer once it closes (None: nothing to say)."""

    errors: dict[str, str] = field(default_factory=dict)
    text: str | None = None


#: ``(call, private metadata, typed value per block, claim key) -> answer``. The handler
#: claims the key in the same transaction as its change, so a double submit records once
#: and a refused submit (rolled back) leaves the form free to be submitted again.
FormHandler = Callable[
    ["Call", Mapping[str, Any], Mapping[str, str | None], str], Awaitable[FormAnswer]
]

ButtonAnswer = str | CommandForm | Modal


def typed_values(view: Mapping[str, Any]) -> dict[str, str | None]:
    """What the person typed, by block id (every input's action id is ``value``)."""
    state = (view.get("state") or {}).get("values") or {}
    return {block: (fields.get("value") or {}).get("value") for block, fields in state.items()}
