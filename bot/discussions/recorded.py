"""The discussion service calls whose answer depends on the recorder's queue or cache, with
that rule kept here instead of in the cog.

The recorder (``bot.discussions.recorder``) queues thread posts and writes them in batches, and
it caches each prompt's close time. So a score read must first write what is queued (else a post
made a second ago does not count yet), and a change of close time (closing early, an extension)
must drop the cache (else a late post is judged against the old time until it expires). The
queue is written *before* the command's session opens, so the session's first read sees it.
"""

from __future__ import annotations

from datetime import datetime

from bot.access.context import ContextOpener
from bot.access.identity import ChatUser
from bot.delivery import DISCORD, Platform
from bot.discussions import service
from bot.discussions.recorder import Recorder

__all__ = ["ContextOpener", "RecordedPrompts"]


class RecordedPrompts:
    """``bot.discussions.service`` calls that flush the recorder first or refresh its cache."""

    def __init__(self, recorder: Recorder) -> None:
        self.recorder = recorder

    # ------------------------------------------------------------ reads: flush first

    async def score_table(
        self,
        context: ContextOpener,
        prompt_id: int,
        *,
        now: datetime,
        platform: Platform = DISCORD,
    ) -> service.ScoreTable:
        await self.recorder.flush()
        async with context() as ctx:
            return await service.score_table(
                ctx.session, ctx.caller, ctx.cohort, prompt_id, now=now, platform=platform
            )

    async def my_scores(
        self, context: ContextOpener, prompt_id: int | None, *, now: datetime
    ) -> service.MyScores:
        await self.recorder.flush()
        async with context() as ctx:
            return await service.my_scores(
                ctx.session, ctx.caller, ctx.cohort, prompt_id=prompt_id, now=now
            )

    async def release(
        self, context: ContextOpener, prompt_id: int, *, now: datetime
    ) -> service.ReleaseResult:
        await self.recorder.flush()
        async with context() as ctx:
            return await service.release(ctx.session, ctx.caller, ctx.cohort, prompt_id, now=now)

    # -------------------------------------------- close-time changes: forget the cache

    async def close_early(
        self, context: ContextOpener, prompt_id: int, *, now: datetime
    ) -> service.PromptInfo:
        async with context() as ctx:
            info = await service.close_early(
                ctx.session, ctx.caller, ctx.cohort, prompt_id, now=now
            )
        self.recorder.forget_close_times()
        return info

    async def grant_extension(
        self,
        context: ContextOpener,
        prompt_id: int,
        *,
        student: ChatUser,
        until: str,
        reason: str,
        now: datetime,
    ) -> service.ExtensionResult:
        async with context() as ctx:
            result = await service.grant_extension(
                ctx.session,
                ctx.caller,
                ctx.cohort,
                prompt_id,
                student=student,
                until=until,
                reason=reason,
                now=now,
            )
        self.recorder.forget_close_times()
        return result
