"""What every feature's cog does for a command, written once: one service call in the
roster-checked context at the bot's clock's "now", then the private answer.

A command's own code keeps only what differs: which service, which options, and what the
answer says when it is more than the result's own text.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime
from typing import Any, ClassVar, Protocol, TypeVar, runtime_checkable

import discord

from bot.delivery import Delivery
from bot.discord_app import CohortBot
from bot.discord_chat import chat_user
from cogs._shared.context import as_caller, in_context
from cogs._shared.replies import defer_private, send_long

__all__ = ["FeatureCog", "Sender", "Service", "forward", "text_of"]

T = TypeVar("T")

Callback = Callable[..., Awaitable[None]]
#: A service call whose result is only shown (``text_of``).
Service = Callable[..., Awaitable[object]]
#: How an answer is sent: ``send_long`` (any length, in parts) or ``reply_private`` (one message).
Sender = Callable[[discord.Interaction, str], Awaitable[None]]


@runtime_checkable
class _Renders(Protocol):
    def render(self) -> str: ...


def text_of(result: object) -> str:
    """What a service result says: itself (text), its ``render()``, or its ``text``."""
    if isinstance(result, str):
        return result
    if isinstance(result, _Renders):
        return result.render()
    text = getattr(result, "text", None)
    if not isinstance(text, str):
        raise TypeError(f"{type(result).__name__} has no text to show")
    return text


def forward(
    func: Service, /, *, rename: Mapping[str, str] | None = None, **how: Any
) -> Callable[[Callback], Callback]:
    """A command that is one service call: its options are the service's keyword arguments
    (``rename``: option name -> parameter name; a member or user as the roster knows them,
    ``ChatUser``), answered as ``FeatureCog.answer`` does (``how``: its ``defer``, ``show``,
    ``told``, ``send``, ``cohort``, ``wake``). The decorated callback gives only the options'
    types and defaults; its body never runs."""
    renamed = dict(rename or {})

    def decorate(callback: Callback) -> Callback:
        @functools.wraps(callback)
        async def run(cog: FeatureCog, interaction: discord.Interaction, **options: Any) -> None:
            kwargs: dict[str, Any] = {
                renamed.get(name, name): _argument(value) for name, value in options.items()
            }
            await cog.answer(interaction, func, **how, **kwargs)

        # discord.py reads the options from the signature, resolved where the callback lives.
        run.__signature__ = inspect.signature(callback, eval_str=True)  # type: ignore[attr-defined]
        return run

    return decorate


def _argument(value: object) -> object:
    return chat_user(value) if isinstance(value, discord.User | discord.Member) else value


@functools.cache
def _takes_now(func: Callable[..., Any]) -> bool:
    return "now" in inspect.signature(func).parameters


class FeatureCog:
    """Mixed into each feature's cog (before ``commands.Cog`` or ``commands.GroupCog``)."""

    #: The feature's scheduled job, woken after a command whose change it delivers.
    job: ClassVar[str | None] = None

    def __init__(self, bot: CohortBot) -> None:
        self.bot = bot
        super().__init__()

    def now(self) -> datetime:
        """The bot's clock (the demo and the tests fast-forward it), never the system's."""
        return self.bot.clock.now()

    def after(self, result: object) -> None:
        """What the feature does once any command's change committed; nothing by default."""

    def wake(self) -> None:
        """Deliver what a command decided now rather than at the job's next tick."""
        if self.job is not None:
            self.bot.scheduler.wake(self.job)

    async def delivery(self, result: Any) -> Delivery:
        """Who the messages a change decided reached: the outbox's delivery of the result's
        ``message_key`` (sent now when it can be)."""
        return await self.bot.outbox.delivery([result.message_key])

    async def call(
        self,
        interaction: discord.Interaction,
        func: Callable[..., Awaitable[T]],
        /,
        *args: Any,
        cohort: bool = True,
        wake: bool = False,
        **kwargs: Any,
    ) -> T:
        """``func(session, caller, cohort, *args, **kwargs)`` in the command context (without
        the cohort when ``cohort`` is False); a service that takes ``now`` gets the bot's
        clock's unless one is given. Then ``after``, and the job woken when ``wake``."""
        if _takes_now(func):
            kwargs.setdefault("now", self.now())
        if cohort:
            result = await in_context(self.bot, interaction, func, *args, **kwargs)
        else:
            result = await as_caller(self.bot, interaction, func, *args, **kwargs)
        self.after(result)
        if wake:
            self.wake()
        return result

    async def answer(
        self,
        interaction: discord.Interaction,
        func: Service,
        /,
        *args: Any,
        defer: bool = False,
        show: Callable[[Any], str] = text_of,
        told: Callable[[Delivery], str] | None = None,
        send: Sender = send_long,
        **options: Any,
    ) -> None:
        """``call`` (``options``: its own and the service's), then what the result says
        (``show``) as the private answer: in parts (``send_long``) or one message
        (``send=reply_private``). ``defer``: work that can take a few seconds says "thinking"
        first; ``told``: the answer goes on to say who was told (``delivery``), e.g.
        ``to_them``."""
        if defer:
            await defer_private(interaction)
        result = await self.call(interaction, func, *args, **options)
        text = show(result)
        if told is not None:
            text += told(await self.delivery(result))
        await send(interaction, text)
