"""Every Slack command, declared once: its options (the parser's ``Shape``) and its handler.

A handler gets the call (who, where, the bot's services) and the parsed values and returns the
text of its private answer; it opens the roster-checked context, calls one service and renders
what it returns, exactly as the Discord cog for the same command does. Adding a command is one
more ``SlackCommand`` in ``COMMANDS`` (and its name in the manifest).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Concatenate, ParamSpec, Protocol, TypeVar

from bot import __version__
from bot.access.context import CommandContext, open_context
from bot.access.identity import ChatUser
from bot.access.permissions import Caller
from bot.calendar import personal
from bot.calendar import service as calendar
from bot.chat import FileAttachment, OutgoingMessage
from bot.clock import Clock
from bot.config import Settings
from bot.db.engine import Database
from bot.db.models import Cohort
from bot.discussions import service
from bot.discussions.live import LiveDiscussions
from bot.errors import UserError
from bot.gradebook import privacy
from bot.gradebook.export import FORMATS
from bot.gradebook.reader import Exporter, ExportRequest, MarksReader
from bot.outbox import Outbox
from bot.runtime import ScheduledWork
from bot.teams import service as teams
from bot.text import about_text
from slackapp.chat import SlackChat
from slackapp.commands.parse import Option, Shape

P = ParamSpec("P")
T = TypeVar("T")


class Services(Protocol):
    """What a command may use of the running bot (``slackapp.app.SlackApplication``)."""

    db: Database
    clock: Clock
    settings: Settings
    chat: SlackChat
    marks: MarksReader
    exporter: Exporter
    discussions: LiveDiscussions
    work: ScheduledWork
    outbox: Outbox


@dataclass(frozen=True)
class Call:
    """One command invocation: the workspace (the roster's "server"), the caller, the bot."""

    services: Services
    team_id: str | None
    user: ChatUser

    @property
    def now(self) -> datetime:
        return self.services.clock.now()

    def context(self) -> AbstractAsyncContextManager[CommandContext]:
        """The roster-checked transaction, for services that open it themselves."""
        return open_context(self.services.db, self.team_id, self.user)

    async def in_context(
        self,
        func: Callable[Concatenate[Any, Caller, Cohort, P], Awaitable[T]],
        /,
        *args: P.args,
        **kwargs: P.kwargs,
    ) -> T:
        """``func(session, caller, cohort, ...)`` in one roster-checked transaction."""
        async with open_context(self.services.db, self.team_id, self.user) as ctx:
            return await func(ctx.session, ctx.caller, ctx.cohort, *args, **kwargs)

    async def as_caller(
        self,
        func: Callable[Concatenate[Any, Caller, P], Awaitable[T]],
        /,
        *args: P.args,
        **kwargs: P.kwargs,
    ) -> T:
        """``func(session, caller, ...)`` for a service that needs no cohort."""
        async with open_context(self.services.db, self.team_id, self.user) as ctx:
            return await func(ctx.session, ctx.caller, *args, **kwargs)


Handler = Callable[[Call, Mapping[str, Any]], Awaitable[str]]
Check = Callable[[Call, Mapping[str, Any]], Awaitable[None]]


@dataclass(frozen=True)
class SlackCommand:
    shape: Shape
    run: Handler
    #: Optional fields the modal asks for too when the text leaves them out (a long text).
    ask: tuple[str, ...] = ()
    #: Checks what was given before a modal asks for the rest (refuses early, changes nothing).
    check: Check | None = None
    #: Fields only a modal asks for, never options (as Discord's forms: an answer's text).
    form: tuple[Option, ...] = ()

    @property
    def path(self) -> tuple[str, ...]:
        return self.shape.path

    @property
    def form_shape(self) -> Shape:
        """The options and the form-only fields: what a submitted modal is read against."""
        return Shape(self.path, self.shape.options + self.form) if self.form else self.shape

    def to_ask(self, given: Mapping[str, Any], missing: tuple[str, ...]) -> tuple[Option, ...]:
        """The options a modal must ask for, in declared order (empty: run at once)."""
        wanted = set(missing) | {name for name in self.ask if name not in given}
        wanted |= {o.name for o in self.form}
        if not missing and not wanted:
            return ()
        return tuple(o for o in self.form_shape.options if o.name in wanted)


# --------------------------------------------------------------------------- handlers


async def about(call: Call, values: Mapping[str, Any]) -> str:
    return about_text(__version__)


async def marks(call: Call, values: Mapping[str, Any]) -> str:
    view = await call.services.marks.student_marks(
        call.team_id, call.user, values.get("module"), now=call.now
    )
    return "\n\n".join([f"**{view.title}**", *(view.parts or ("(nothing)",))])


async def calendar_upcoming(call: Call, values: Mapping[str, Any]) -> str:
    result = await call.as_caller(personal.upcoming, now=call.now)
    return result.render()


async def calendar_timezone(call: Call, values: Mapping[str, Any]) -> str:
    result = await call.as_caller(personal.set_timezone, zone=values["zone"])
    return result.text


async def send_file(call: Call, text: str, filename: str, data: bytes) -> str:
    """A file only the caller sees: Slack's private answers cannot carry one, so it goes to
    their direct messages with the bot (the external upload flow)."""
    await call.services.chat.dm(
        call.user.platform_user_id,
        OutgoingMessage(text=filename, files=(FileAttachment(filename, data),)),
    )
    return f"{text}\nThe file `{filename}` is in your direct messages with cohortbot."


async def calendar_ics(call: Call, values: Mapping[str, Any]) -> str:
    result = await call.in_context(
        personal.calendar_file, now=call.now, public_url=call.services.settings.public_url
    )
    return await send_file(call, result.render(), result.filename, result.data)


async def privacy_export(call: Call, values: Mapping[str, Any]) -> str:
    file = await call.as_caller(privacy.export_personal_data, now=call.now)
    return await send_file(call, file.summary, file.filename, file.data)


async def gradebook_export(call: Call, values: Mapping[str, Any]) -> str:
    request = ExportRequest(
        call.team_id, call.user, values.get("module"), values.get("format", "csv"), call.now
    )
    file = await call.services.exporter.export(request)
    summary = f"{file.summary}. Columns: see docs/gradebook.md."
    return await send_file(call, summary, file.filename, file.data)


async def calendar_reminders(call: Call, values: Mapping[str, Any]) -> str:
    result = await call.as_caller(personal.set_reminders, enabled=values["enabled"])
    return result.text


async def calendar_quiet_hours(call: Call, values: Mapping[str, Any]) -> str:
    result = await call.as_caller(
        personal.set_quiet_hours, start=values.get("start"), end=values.get("end")
    )
    return result.text


async def calendar_reset_feed(call: Call, values: Mapping[str, Any]) -> str:
    result = await call.as_caller(personal.reset_feed, public_url=call.services.settings.public_url)
    return result.text


async def prompt_close(call: Call, values: Mapping[str, Any]) -> str:
    live = call.services.discussions
    info = await live.prompts.close_early(call.context, values["prompt"], now=call.now)
    await live.run_due()  # lock the thread and post the summary now
    return f"Prompt #{info.id} “{info.title}” closes now; its thread is locked."


async def prompt_mine(call: Call, values: Mapping[str, Any]) -> str:
    live = call.services.discussions
    mine = await live.prompts.my_scores(call.context, values.get("prompt"), now=call.now)
    return mine.render()


async def deadline_requests(call: Call, values: Mapping[str, Any]) -> str:
    result = await call.in_context(calendar.pending_requests, module_code=values["module"])
    return result.render()


async def calendar_change(call: Call, func: Any, **kwargs: Any) -> str:
    """A calendar service call, then the notice dispatcher woken for what it planned (the
    Discord cogs' ``calendar_change``)."""
    result = await call.in_context(func, **kwargs, now=call.now)
    call.services.work.wake_calendar(result.next_due_at)
    return str(result.render())


async def tutorial_add(call: Call, values: Mapping[str, Any]) -> str:
    return await calendar_change(
        call,
        calendar.add_tutorial,
        module_code=values["module"],
        title=values["title"],
        start=values["start"],
        duration=values["duration"],
        join_url=values.get("join_link"),
        repeat=values.get("repeat", "none"),
        until=values.get("until"),
        reminders=values.get("reminders"),
    )


async def deadline_add(call: Call, values: Mapping[str, Any]) -> str:
    return await calendar_change(
        call,
        calendar.add_deadline,
        module_code=values["module"],
        kind=values["kind"],
        title=values["title"],
        due=values["due"],
        offsets=values.get("offsets"),
    )


async def tutorial_move(call: Call, values: Mapping[str, Any]) -> str:
    return await calendar_change(
        call,
        calendar.move_tutorial,
        event_id=values["tutorial"],
        start=values["start"],
        sequence=values.get("session"),
    )


async def tutorial_cancel(call: Call, values: Mapping[str, Any]) -> str:
    return await calendar_change(
        call, calendar.cancel_tutorial, event_id=values["tutorial"], sequence=values.get("session")
    )


async def tutorial_attendance(call: Call, values: Mapping[str, Any]) -> str:
    result = await call.in_context(
        calendar.attendance,
        event_id=values["tutorial"],
        sequence=values.get("session"),
        now=call.now,
    )
    return result.render()


async def teams_show(call: Call, values: Mapping[str, Any]) -> str:
    return await call.in_context(teams.show, module_code=values["module"], now=call.now)


async def member(call: Call, value: str) -> ChatUser:
    """The member a ``user`` option names, or one sentence saying nobody fits."""
    found = await call.services.chat.find_user(value)
    if found is None:
        raise UserError(
            f"No member `{value}` in this workspace: mention them (@name) or give their e-mail."
        )
    return found


async def prompt_grade(call: Call, values: Mapping[str, Any]) -> str:
    result = await call.in_context(
        service.grade,
        values["prompt"],
        student=await member(call, values["student"]),
        quality=values.get("quality"),
        feedback=values.get("feedback"),
        now=call.now,
    )
    if result.released:
        call.services.discussions.wake()
    return result.reply


def _prompt_fields(values: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "module_code": values["module"],
        "title": values["title"],
        "opens": values["opens"],
        "closes": values["closes"],
        "rubric": values.get("rubric", "standard"),
        "private_answers": bool(values.get("private_answers", False)),
    }


async def prompt_check(call: Call, values: Mapping[str, Any]) -> None:
    """Everything but the text, before the tutor types it (as the Discord form does)."""
    if all(name in values for name in ("module", "title", "opens", "closes")):
        await call.in_context(service.prepare_prompt, **_prompt_fields(values), now=call.now)


async def prompt_create(call: Call, values: Mapping[str, Any]) -> str:
    info = await call.in_context(
        service.create_prompt, **_prompt_fields(values), body=values["text"], now=call.now
    )
    call.services.discussions.wake(info.opens_at)
    return info.scheduled_text


async def prompt_list(call: Call, values: Mapping[str, Any]) -> str:
    module = str(values["module"])
    prompts = await call.in_context(service.list_prompts, module_code=module)
    if not prompts:
        return f"{module.upper()} has no discussion prompts yet."
    return "\n".join(p.line for p in prompts)


# --------------------------------------------------------------------------- the table

_MODULE = Option("module", "Module code, e.g. MATH70097", required=True)
_FORMAT = Option("format", "csv (default) or xlsx", choices=FORMATS)
_TUTORIAL = Option("tutorial", "Tutorial number", required=True, kind="integer")

COMMANDS: tuple[SlackCommand, ...] = (
    SlackCommand(Shape(("about",)), about),
    SlackCommand(Shape(("marks",), (Option("module", "Module code (leave out for all)"),)), marks),
    SlackCommand(Shape(("calendar", "upcoming")), calendar_upcoming),
    SlackCommand(
        Shape(
            ("calendar", "timezone"),
            (Option("zone", "An IANA time zone such as Europe/London", required=True),),
        ),
        calendar_timezone,
    ),
    SlackCommand(
        Shape(
            ("prompt", "create"),
            (
                _MODULE,
                Option("title", "Short title (names the answers thread)", required=True),
                Option("opens", "When it is posted, e.g. 2026-01-19 09:00", required=True),
                Option("closes", "Deadline, e.g. 2026-01-23 17:00", required=True),
                Option("rubric", "Preset (standard, light, reflective) and changes"),
                Option("private_answers", "Post before you see others", kind="boolean"),
                Option("text", "The prompt text", long=True),
            ),
        ),
        prompt_create,
        ask=("text",),
        check=prompt_check,
    ),
    SlackCommand(Shape(("prompt", "list"), (_MODULE,)), prompt_list),
    SlackCommand(
        Shape(
            ("prompt", "close"),
            (Option("prompt", "Prompt number (see /prompt list)", required=True, kind="integer"),),
        ),
        prompt_close,
    ),
    SlackCommand(
        Shape(
            ("prompt", "grade"),
            (
                Option("prompt", "Prompt number", required=True, kind="integer"),
                Option("student", "The student (@mention or e-mail)", required=True, kind="user"),
                Option("quality", "Quality points, e.g. 3 or 2.5"),
                Option("feedback", "Feedback they see", long=True),
            ),
        ),
        prompt_grade,
    ),
    SlackCommand(
        Shape(
            ("prompt", "mine"),
            (Option("prompt", "Prompt number (leave out for all)", kind="integer"),),
        ),
        prompt_mine,
    ),
    SlackCommand(
        Shape(
            ("calendar", "reminders"),
            (Option("enabled", "true to get DM reminders, false to stop them", True, "boolean"),),
        ),
        calendar_reminders,
    ),
    SlackCommand(
        Shape(
            ("calendar", "quiet-hours"),
            (
                Option("start", "Start, 24-hour HH:MM in your zone"),
                Option("end", "End, HH:MM"),
            ),
        ),
        calendar_quiet_hours,
    ),
    SlackCommand(Shape(("calendar", "reset-feed")), calendar_reset_feed),
    SlackCommand(Shape(("calendar", "ics")), calendar_ics),
    SlackCommand(Shape(("privacy", "export")), privacy_export),
    SlackCommand(Shape(("gradebook", "export"), (_MODULE, _FORMAT)), gradebook_export),
    SlackCommand(Shape(("gradebook", "programme"), (_FORMAT,)), gradebook_export),
    SlackCommand(
        Shape(
            ("deadline", "add"),
            (
                _MODULE,
                Option(
                    "kind",
                    "What kind of date this is",
                    required=True,
                    choices=("submission_deadline", "marking_period_end", "feedback_return"),
                ),
                Option("title", "The assessment item, e.g. Coursework 1", required=True),
                Option("due", "When, e.g. 2026-03-02 12:00 or 2026-03-02 AoE", required=True),
                Option("offsets", "Notice offsets before it (default 7d,48h,24h,1h)"),
            ),
        ),
        deadline_add,
    ),
    SlackCommand(Shape(("deadline", "requests"), (_MODULE,)), deadline_requests),
    SlackCommand(
        Shape(
            ("tutorial", "add"),
            (
                _MODULE,
                Option("title", "What the session is about", required=True),
                Option("start", "First session, e.g. 2026-03-02 18:00", required=True),
                Option("duration", "Length (1h, 1h30m) or end time (19:30)", required=True),
                Option("join_link", "Where to join"),
                Option("repeat", "none, weekly or fortnightly"),
                Option("until", "Last date of a repeating tutorial"),
                Option("reminders", "Reminders before each session, e.g. 1d,1h"),
            ),
        ),
        tutorial_add,
    ),
    SlackCommand(
        Shape(
            ("tutorial", "move"),
            (
                _TUTORIAL,
                Option("start", "New start of that session (or the series)", required=True),
                Option("session", "Session number; leave out for the series", kind="integer"),
            ),
        ),
        tutorial_move,
    ),
    SlackCommand(
        Shape(
            ("tutorial", "cancel"),
            (
                _TUTORIAL,
                Option("session", "Session number; leave out for the series", kind="integer"),
            ),
        ),
        tutorial_cancel,
    ),
    SlackCommand(
        Shape(
            ("tutorial", "attendance"),
            (
                _TUTORIAL,
                Option("session", "Session number (default: the latest started)", kind="integer"),
            ),
        ),
        tutorial_attendance,
    ),
    SlackCommand(Shape(("teams", "show"), (_MODULE,)), teams_show),
)

# Each feature's commands in its own module (they import the types above: imported here, last).
from slackapp.commands import calendar as _calendar  # noqa: E402
from slackapp.commands import dashboard as _dashboard  # noqa: E402
from slackapp.commands import deadlines as _deadlines  # noqa: E402
from slackapp.commands import discussions as _discussions  # noqa: E402
from slackapp.commands import gradebook as _gradebook  # noqa: E402
from slackapp.commands import peer as _peer  # noqa: E402
from slackapp.commands import privacy as _privacy  # noqa: E402
from slackapp.commands import teams as _teams  # noqa: E402

COMMANDS += (
    _discussions.COMMANDS
    + _deadlines.COMMANDS
    + _peer.COMMANDS
    + _gradebook.COMMANDS
    + _privacy.COMMANDS
    + _teams.COMMANDS
    + _dashboard.COMMANDS
    + _calendar.COMMANDS
)

BY_PATH: dict[tuple[str, ...], SlackCommand] = {c.path: c for c in COMMANDS}
SHAPES: dict[tuple[str, ...], Shape] = {c.path: c.shape for c in COMMANDS}


def slash_names() -> list[str]:
    """The slash commands to declare in the app manifest (one per group)."""
    return sorted({f"/{c.path[0]}" for c in COMMANDS})
