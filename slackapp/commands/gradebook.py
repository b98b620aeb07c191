"""``/gradebook`` on Slack beyond export/programme (in the table): weights, release,
adjustments, the audit trail and component imports, each the same service call and roster
check as ``cogs/gradebook/cog.py``.

A private answer on Slack cannot carry a file: every export goes to the caller's direct
messages by Slack's external upload flow, and the answer says so. An import names a CSV the
tutor shared with the bot first (a command cannot carry a file).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

from bot.errors import UserError
from bot.gradebook import service
from bot.gradebook.export import to_csv
from slackapp.commands.common import member, send_file, shared_file
from slackapp.commands.parse import Option, Shape
from slackapp.commands.table import Call, SlackCommand

#: How long an answer may be before the audit trail goes as a file (Slack shows 4,000).
TRAIL_INLINE_CHARS = 3000
_COMPONENTS = ("discussion", "peer_review", "peer_score", "attendance")


def number(values: Mapping[str, Any], name: str) -> float | None:
    """An optional decimal option (Discord's number options); one sentence if it is not."""
    raw = values.get(name)
    if raw is None:
        return None
    try:
        return float(str(raw).replace(",", "."))
    except ValueError:
        raise UserError(f"`{name}` must be a number, not `{raw}`.") from None


def required_number(values: Mapping[str, Any], name: str) -> float:
    """A required decimal option (the parser made sure it is there)."""
    value = number(values, name)
    if value is None:
        raise UserError(f"`{name}` is required.")
    return value


async def weights(call: Call, values: Mapping[str, Any]) -> str:
    changes = {name: number(values, name) for name in _COMPONENTS}
    result = await call.as_caller(
        service.set_weights,
        values["module"],
        changes,
        participation_share=number(values, "participation_share"),
        reason=values.get("reason"),
        now=call.now,
    )
    return result.text


async def release(call: Call, values: Mapping[str, Any]) -> str:
    result = await call.as_caller(service.release_participation, values["module"], now=call.now)
    return result.text  # the class is told by the outbox


async def adjust(call: Call, values: Mapping[str, Any]) -> str:
    component = str(values["component"]).strip().lower()
    if component not in _COMPONENTS:
        raise UserError(f"`component` must be one of {', '.join(_COMPONENTS)}, not `{component}`.")
    points = required_number(values, "points")
    student = await member(call, values["student"])
    result = await call.as_caller(
        service.adjust,
        values["module"],
        student,
        component,
        points,
        values["reason"],
        now=call.now,
        # The command runs once per Slack trigger (the app claims it): a fresh key per run.
        request_id=f"slack:{uuid.uuid4().hex}",
    )
    return result.text


async def audit(call: Call, values: Mapping[str, Any]) -> str:
    raw = values.get("student")
    student = await member(call, raw) if raw is not None else None
    trail = await call.as_caller(
        service.audit_trail, values["module"], student=student, item=values.get("item")
    )
    body = "\n".join(line.text for line in trail.lines) or "No grade changes recorded."
    text = f"**{trail.header}**\n{body}"
    if len(text) <= TRAIL_INLINE_CHARS:
        return text
    name = f"audit-{trail.module_code}.csv"
    shown = text[:TRAIL_INLINE_CHARS].rsplit("\n", 1)[0]
    return await send_file(
        call, f"{shown}\n… the whole trail is in {name}.", name, to_csv(trail.csv_rows())
    )


async def components_import(call: Call, values: Mapping[str, Any]) -> str:
    csv = await shared_file(call, str(values["file"]))
    result = await call.as_caller(
        service.import_components,
        values["module"],
        lambda: csv.read(service.MAX_IMPORT_BYTES),
        now=call.now,
    )
    return result.text


_MODULE = Option("module", "Module code", required=True)
_FORMAT = Option("format", "csv (default) or xlsx")

COMMANDS: tuple[SlackCommand, ...] = (
    SlackCommand(
        Shape(
            ("gradebook", "weights"),
            (
                _MODULE,
                Option("discussion", "Weight of discussion prompts"),
                Option("peer_review", "Weight of peer reviews completed"),
                Option("peer_score", "Weight of the peer assessment score received"),
                Option("attendance", "Weight of tutorial attendance"),
                Option("participation_share", "Weight in the module mark preview (0: left out)"),
                Option("reason", "Why (kept in the audit trail)"),
            ),
        ),
        weights,
    ),
    SlackCommand(Shape(("gradebook", "release"), (_MODULE,)), release),
    SlackCommand(
        Shape(
            ("gradebook", "adjust"),
            (
                _MODULE,
                Option(
                    "student", "The student: @name, or their e-mail", required=True, kind="user"
                ),
                Option("component", "discussion, peer_review, peer_score or attendance", True),
                Option("points", "Points to add (negative to remove)", required=True),
                Option("reason", "Why (shown to the student, kept in the audit trail)", True),
            ),
        ),
        adjust,
    ),
    SlackCommand(
        Shape(
            ("gradebook", "audit"),
            (
                _MODULE,
                Option("student", "Only this student's entries (@name)", kind="user"),
                Option("item", "Only this item: D3, X2, T5, weights, participation, ..."),
            ),
        ),
        audit,
    ),
    SlackCommand(
        Shape(
            ("gradebook", "components-import"),
            (
                _MODULE,
                Option(
                    "file",
                    "Link to the CSV you shared with the bot (student, component, weight, mark)",
                    required=True,
                ),
            ),
        ),
        components_import,
    ),
)
