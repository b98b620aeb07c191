"""The platform-neutral shape of a cohort at work: people who command, post, click and read
their DMs, and a clock that moves the term on. ``discord.py`` and ``slack.py`` implement it over
the local servers and the real applications; tests and the demo are written against this.
"""

from __future__ import annotations

import abc
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, TypeVar

from bot.access.context import open_context
from bot.access.identity import ChatUser
from bot.clock import ManualClock
from bot.db.engine import Database

PLATFORMS = ("discord", "slack")

T = TypeVar("T")


class NotOnPlatform(Exception):
    """What the script asked for does not exist on this platform (yet); the reason says why."""


@dataclass(frozen=True)
class File:
    """A file a person hands the bot (an option of a command)."""

    name: str
    data: bytes
    content_type: str = "application/octet-stream"


@dataclass
class Reply:
    """The bot's private answer to a command, a click or a form: ``text`` as read
    (``cohortlab.drive.text.readable``); ``form`` when a form is open for the person (one it
    opened, or a refused one kept open to fix); ``post`` when the answer carries buttons to
    press (Discord's "Try again" under a refused form)."""

    text: str = ""
    raw: str = ""
    form: bool = False
    files: list[tuple[str, bytes]] = field(default_factory=list)
    post: Post | None = None


@dataclass
class Post:
    """A message in a channel, a thread or a DM, as its readers see it."""

    text: str
    author: str
    buttons: tuple[str, ...] = ()
    #: The platform's own handle (a Discord Message, a Slack (channel, ts)).
    ref: Any = None
    #: The id the core records the message under (``ChatMessage.id``: a snowflake on Discord,
    #: "<channel>/<ts>" on Slack), for tests that look a post up in the evidence.
    message_id: str = ""


@dataclass(frozen=True)
class Thread:
    """Where a prompt's answers go: a Discord thread, a Slack message's thread."""

    ref: Any


class Person(abc.ABC):
    """Someone on the roster, acting through their chat client."""

    cohort: Cohort
    name: str
    #: The platform's member id (what the roster links them by).
    platform_id: str

    @property
    def display_name(self) -> str:
        """The name others see ("Amara Okafor"), the same on both platforms."""
        return self.cohort.chat_user(self).display_name

    @property
    def mention(self) -> str:
        """How a post names this person so the bot counts it as a reply to them (the same
        ``<@id>`` markup on Discord and Slack)."""
        return f"<@{self.platform_id}>"

    @abc.abstractmethod
    async def command(self, name: str, *, where: str | None = None, **options: Any) -> Reply:
        """``/name`` with options (people as ``Person``, files as ``File``) in the module's
        channel (``where``: a module code; None: outside any module)."""

    @abc.abstractmethod
    async def fill_form(self, **fields: Any) -> Reply:
        """Fill and submit the form the bot last opened for this person."""

    @abc.abstractmethod
    async def post(self, where: str | Thread, text: str) -> Post:
        """Write in a module's channel or in a thread."""

    @abc.abstractmethod
    async def edit(self, post: Post, text: str) -> None:
        """Change what this person wrote."""

    @abc.abstractmethod
    async def click(self, post: Post, button: str) -> Reply:
        """Press the button whose id starts with ``button`` on a post (in a channel or a DM);
        ``Reply.form`` when it opened a form (``fill_form`` fills it)."""

    @abc.abstractmethod
    async def choose(self, post: Post, control: str, choice: str) -> Reply:
        """Answer a question on a post with ``choice``: the control's id starts with
        ``control`` (Discord: a menu; Slack: one button per choice)."""

    @abc.abstractmethod
    def dms(self) -> list[Post]:
        """What the bot sent this person directly, oldest first."""

    def answers(self) -> list[Post]:
        """The bot's private answers with buttons to press later, oldest first: Discord's
        ephemeral messages (a dry run's "Create these teams"); Slack sends such buttons by DM
        (``dms``), its ephemeral answers are not listed."""
        return []

    async def wait_dm(self, contains: str, *, timeout: float = 10.0) -> Post:  # noqa: ASYNC109
        """The first DM containing ``contains`` (readable text)."""
        return await self.cohort.wait_for(
            lambda: next((p for p in self.dms() if contains in p.text), None),
            what=f"a DM to {self.name} containing {contains!r}; got "
            f"{[p.text[:120] for p in self.dms()]}",
            timeout=timeout,
        )


class Cohort(abc.ABC):
    """The example cohort on one platform, the real bot serving it, and the term's clock."""

    platform: str
    db: Database
    clock: ManualClock
    #: The running application (``bot.discord_app.Application`` or ``SlackApplication``).
    app: Any
    #: Where a command given outside any module channel is typed ("#general" on Discord).
    outside: str
    #: The workspace (Slack team id) or server (Discord guild id) the roster is bound to.
    guild_id: str

    # ----------------------------------------------------------------- people

    @abc.abstractmethod
    def tutors(self, module: str | None = None) -> list[Person]: ...

    @abc.abstractmethod
    def students(self, module: str | None = None) -> list[Person]: ...

    @abc.abstractmethod
    def admins(self) -> list[Person]: ...

    @abc.abstractmethod
    def modules_of(self, person: Person) -> list[str]: ...

    @abc.abstractmethod
    def by_email(self, email: str) -> Person: ...

    @abc.abstractmethod
    def offers(self, command: str) -> bool:
        """Whether ``/command`` (e.g. "prompt create") exists on this platform."""

    def why_not(self, command: str) -> str:
        """The reason a command is missing here, for a skipped test or the parity table."""
        return f"/{command} is not on {self.platform.capitalize()} yet"

    @abc.abstractmethod
    def chat_user(self, person: Person) -> ChatUser:
        """Who the platform says ``person`` is (what the bot's roster check reads)."""

    async def as_person(self, person: Person, func: Any, /, *args: Any, **kwargs: Any) -> Any:
        """``func(session, caller, cohort, ...)`` as ``person``, in one roster-checked
        transaction: how a test sets up what a command of the other platform would have made."""
        async with open_context(self.db, self.guild_id, self.chat_user(person)) as ctx:
            return await func(ctx.session, ctx.caller, ctx.cohort, *args, **kwargs)

    @abc.abstractmethod
    def channel_name(self, module: str) -> str:
        """The module channel's name as its members see it (without "#")."""

    async def leave(self, person: Person) -> None:
        """``person`` leaves the server (Discord) or workspace; ``rejoin`` brings them back."""
        raise NotOnPlatform(
            f"a member leaving is not an event the bot handles on {self.platform.capitalize()}"
        )

    async def rejoin(self, person: Person) -> None:
        raise NotOnPlatform(f"members do not leave on {self.platform.capitalize()}")

    @property
    def web_url(self) -> str:
        """The bot's web server (the dashboard and calendar feeds)."""
        return str(self.app.web.url)

    def tutor(self, module: str) -> Person:
        return self.tutors(module)[0]

    def other_tutor(self, module: str) -> Person:
        """A tutor who does not teach ``module``."""
        mine = self.tutors(module)
        return next(t for t in self.tutors() if t not in mine)

    # ------------------------------------------------------------------ time

    async def advance(self, delta: timedelta) -> None:
        """Move the term on and run whatever became due, as the scheduler would."""
        self.clock.advance(delta)
        await self.run_due()

    async def advance_to(self, moment: datetime) -> None:
        await self.advance(moment - self.clock.now())

    @abc.abstractmethod
    async def run_due(self) -> None: ...

    # ------------------------------------------------------------------ reads

    @abc.abstractmethod
    def posts(self, where: str | Thread) -> list[Post]:
        """A module channel's (or a thread's) messages, oldest first."""

    async def wait_post(
        self,
        where: str | Thread,
        contains: str,
        *,
        by_bot: bool = True,
        skip: Sequence[Post] = (),
        timeout: float = 10.0,  # noqa: ASYNC109
    ) -> Post:
        """The first post in ``where`` containing ``contains`` (readable text)."""
        seen = {repr(p.ref) for p in skip}

        def find() -> Post | None:
            for post in self.posts(where):
                if by_bot and post.author != "cohortbot":
                    continue
                if contains in post.text and repr(post.ref) not in seen:
                    return post
            return None

        return await self.wait_for(
            find,
            what=f"a post containing {contains!r} in {where}; got "
            f"{[p.text[:120] for p in self.posts(where)][-12:]}",
            timeout=timeout,
        )

    @abc.abstractmethod
    def link_of(self, post: Post) -> str:
        """The post's link as a person copies it from their client ("Copy link")."""

    @abc.abstractmethod
    async def prompt_thread(self, prompt_id: int) -> Thread:
        """Where answers to an open prompt go."""

    @abc.abstractmethod
    async def wait_for(
        self,
        check: Callable[[], T | None],
        *,
        what: str,
        timeout: float = 10.0,  # noqa: ASYNC109
    ) -> T:
        """Until ``check()`` is truthy (re-checked on every change of the local server)."""

    @abc.abstractmethod
    async def stop(self) -> None: ...
