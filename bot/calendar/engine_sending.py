"""Sending a claimed notice through the chat port, and verifying against the channel history
that an earlier attempt did not already deliver it (see ``bot.calendar.engine``)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any, TypeVar

from bot.calendar import messages as M
from bot.calendar.engine_outcomes import (
    _count_sent,
    _fail,
    _mark_sent,
    _release,
    _retry_later,
    _skip,
)
from bot.calendar.engine_state import (
    NoticeChat,
    _Claimed,
    _inflight,
    _Run,
)
from bot.chat import Button, ButtonStyle, ChatError, ChatErrorKind, OutgoingMessage, Posted

log = logging.getLogger("bot.calendar.engine")  # one logger name for the whole engine
_T = TypeVar("_T")


def _settle(task: asyncio.Future[Any]) -> None:
    if not task.cancelled():
        task.exception()


async def _net(call: Awaitable[_T], seconds: float) -> _T:
    """A chat call that neither our timeout nor a cancelled dispatcher interrupts.

    A request that has left may land whatever we do, so it is never cancelled: giving up on
    it only means leaving the notice claimed for the lease recovery to verify. (Cancelling
    discord.py mid-request is unsafe as well: cancelled during a global 429 wait, its global
    rate-limit gate stays shut.)
    """
    task = asyncio.ensure_future(call)
    _inflight.add(task)
    task.add_done_callback(_inflight.discard)
    task.add_done_callback(_settle)
    return await asyncio.wait_for(asyncio.shield(task), seconds)


def _leave_claimed(run: _Run, n: _Claimed, doing: str) -> None:
    log.warning(
        "notice %s: no answer within %.0f s while %s; left claimed, so after the lease it is "
        "verified against the channel history and sent only if it never arrived",
        n.id,
        run.config.send_timeout,
        doing,
    )
    run.report.retrying += 1
    run.report.outcomes.append((n.id, "in doubt"))


async def _attempt(run: _Run, n: _Claimed, doing: str, call: Awaitable[_T]) -> _T | None:
    """One send or edit; on a refusal the notice is retried or failed, on no answer it stays
    claimed for the lease recovery to verify. ``None``: not delivered, already recorded."""
    try:
        return await call
    except ChatError as exc:
        if exc.retryable:
            await _retry_later(run, n, str(exc))
        else:
            await _fail(run, n, str(exc))
    except TimeoutError:
        _leave_claimed(run, n, doing)
    return None


def _buttons(specs: Sequence[M.ButtonSpec]) -> tuple[Button, ...]:
    return tuple(
        Button(b.label, b.custom_id, ButtonStyle(b.style), disabled=b.disabled) for b in specs
    )


async def _deliver_all(run: _Run, claimed: list[_Claimed]) -> None:
    config = run.config
    gate = asyncio.Semaphore(config.concurrency)
    loop = asyncio.get_running_loop()
    claimed_at = loop.time()

    async def one(notice: _Claimed) -> None:
        async with gate:
            if loop.time() - claimed_at > config.lease.total_seconds() / 2:
                await _release(run, notice)
                return
            try:
                await _deliver(run, notice)
            except Exception:
                log.exception("notice %s: unexpected failure while delivering", notice.id)
                await _retry_later(run, notice, "unexpected error")

    await asyncio.gather(*(one(n) for n in claimed))


async def _deliver(run: _Run, n: _Claimed) -> None:
    chat, config, report = run.chat, run.config, run.report
    if n.verify:
        try:
            found = await _net(_find_sent(chat, n), config.send_timeout)
        except TimeoutError:
            _leave_claimed(run, n, "reading the history to verify it")
            return
        except ChatError as exc:
            log.warning("notice %s: cannot read history to verify (%s); will retry", n.id, exc)
            await _retry_later(run, n, f"verify failed: {exc}")
            return
        if found is not None:
            channel_id, message_id, via = found
            await _mark_sent(run, n, channel_id, message_id, via, note="recovered")
            report.recovered += 1
            _count_sent(run, n)
            log.info("notice %s: found already sent as message %s", n.id, message_id)
            return

    if n.kind == M.TUTORIAL_CARD_EDIT:
        await _edit_card(run, n)
        return

    if n.personal and n.kind in M.REMINDER_KINDS and not n.dm_reminders:
        await _skip(run, n, "the person turned DM reminders off")
        return

    rendered = _render(n, run.clock())

    async def send() -> tuple[Posted, str, str | None]:
        if not n.personal:
            if n.target_channel_id is None:
                raise ChatError(ChatErrorKind.UNAVAILABLE, "the module has no linked channel yet")
            message = _outgoing(n, rendered.text, rendered.buttons, role=True)
            posted = await _net(chat.post(n.target_channel_id, message), config.send_timeout)
            return posted, "channel", None
        return await _deliver_personal(run, n, rendered)

    sent = await _attempt(run, n, "sending it", send())
    if sent is None:
        return
    posted, via, note = sent
    if via == "fallback":
        report.fallbacks += 1
    await _mark_sent(run, n, posted.channel_id, posted.message_id, via, note=note)
    _count_sent(run, n)


async def _deliver_personal(
    run: _Run, n: _Claimed, rendered: M.Rendered
) -> tuple[Posted, str, str | None]:
    chat, config = run.chat, run.config
    if n.user_id is None:
        raise ChatError(ChatErrorKind.NOT_FOUND, "the person has no linked chat account")
    message = _outgoing(n, rendered.text, rendered.buttons, role=False)
    try:
        posted = await _net(chat.dm(n.user_id, message), config.send_timeout)
        return posted, "dm", None
    except ChatError as exc:
        if exc.kind not in (ChatErrorKind.DM_CLOSED, ChatErrorKind.FORBIDDEN):
            raise
        log.info("notice %s: DM to %s refused (%s); falling back", n.id, n.user_id, exc.kind)
    if n.module_channel_id is None:
        raise ChatError(ChatErrorKind.NOT_FOUND, "DMs closed and the module has no channel")
    text = M.fallback_text(n.kind, n.user_id, rendered, n.payload)
    keep = () if n.kind in M.PRIVATE_KINDS else rendered.buttons
    fallback = replace(_outgoing(n, text, keep, role=False), mention_user_ids=(n.user_id,))
    posted = await _net(chat.post(n.module_channel_id, fallback), config.send_timeout)
    return posted, "fallback", "DM closed (403): sent as a mention in the module channel"


def _render(n: _Claimed, now: datetime) -> M.Rendered:
    """The notice as sent at ``now`` (a late one states the time left then, not as planned)."""
    if n.kind == M.TUTORIAL_CARD:
        if n.card is None:
            raise ValueError(f"tutorial card notice {n.id} has no occurrence")
        return M.render_card(n.card)
    return M.render(n.kind, n.payload, personal=n.personal, zone=n.zone, now=now)


def _outgoing(
    n: _Claimed, text: str, buttons: Sequence[M.ButtonSpec], *, role: bool
) -> OutgoingMessage:
    parts = [text]
    if n.late:
        parts.append(M.LATE_NOTE)
    parts.append(M.marker(n.id))
    return OutgoingMessage(
        text="\n".join(parts),
        buttons=_buttons(buttons),
        mention_role_id=n.role_id if role and n.kind not in M.CARD_KINDS else None,
    )


async def _edit_card(run: _Run, n: _Claimed) -> None:
    """Editing is idempotent: the card is re-rendered from the occurrence as it is now."""
    if n.card is None or n.card_message_id is None or n.module_channel_id is None:
        await _skip(run, n, "the card was never posted")
        return
    card_notice = int(str(n.payload.get("card_notice_id", 0)))
    rendered = M.render_card(n.card)
    message = OutgoingMessage(
        text=rendered.text + "\n" + M.marker(card_notice), buttons=_buttons(rendered.buttons)
    )
    channel_id, message_id = n.module_channel_id, n.card_message_id

    async def edit() -> bool:
        await _net(run.chat.edit(channel_id, message_id, message), run.config.send_timeout)
        return True

    if await _attempt(run, n, "editing the card", edit()) is None:
        return
    await _mark_sent(run, n, channel_id, message_id, "edit")
    _count_sent(run, n)


async def _find_sent(chat: NoticeChat, n: _Claimed) -> tuple[str, str, str] | None:
    """Where an earlier attempt already delivered this notice, if it did."""
    places: list[tuple[str, str]] = []
    if n.kind == M.TUTORIAL_CARD_EDIT:
        return None
    if n.personal:
        if n.user_id is not None:
            places.append((await chat.dm_channel_id(n.user_id), "dm"))
        if n.module_channel_id is not None:
            places.append((n.module_channel_id, "fallback"))
    elif n.target_channel_id is not None:
        places.append((n.target_channel_id, "channel"))
    for channel_id, via in places:
        async for message in chat.history(channel_id, after_id=n.search_after.get(channel_id)):
            if message.author_is_bot and M.has_marker(message.content, n.id):
                return channel_id, message.id, via
    return None
