"""Releasing a prompt's marks to students, and reading back how the release DMs went."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.access.permissions import Caller
from bot.db.models import Cohort, DiscussionScore, MarkRelease, Person, PromptStatus
from bot.db.ops import insert_ignore
from bot.delivery import Delivery, Missed, reason_of
from bot.discussions import scoring
from bot.discussions.prompts import PromptInfo, audit_prompt, prompt_info, staff_prompt
from bot.discussions.render import when
from bot.due import reached
from bot.errors import UserError

# --------------------------------------------------------------------------- release


@dataclass(frozen=True)
class ReleaseResult:
    prompt: PromptInfo
    students: int


async def release(
    session: AsyncSession, caller: Caller, cohort: Cohort, prompt_id: int, *, now: datetime
) -> ReleaseResult:
    """Make the marks visible: store them, credit the ledger; the due work tells each student."""
    prompt, module = await staff_prompt(session, caller, cohort, prompt_id)
    if prompt.status in (PromptStatus.SCHEDULED, PromptStatus.CANCELLED):
        raise UserError(f"Prompt #{prompt.id} has not opened yet; there are no marks to release.")
    if prompt.status != PromptStatus.CLOSED:
        raise UserError(
            f"Prompt #{prompt.id} is still open until {when(prompt.closes_at)}; "
            "close it first with `/prompt close`."
        )
    if prompt.released_at is not None:
        raise UserError(
            f"Marks for prompt #{prompt.id} were already released {when(prompt.released_at)}; "
            "later grade changes reach students on their own."
        )
    evidence = await scoring.load_evidence(session, prompt)
    running = sorted(
        (until, pid) for pid, until in evidence.extensions.items() if not reached(until, now)
    )
    if running:
        until, pid = running[-1]
        name = evidence.students[pid].person.display_name if pid in evidence.students else "A"
        raise UserError(
            f"{name}'s extension runs until {when(until)}; release the marks after it ends."
        )
    scores = scoring.released_scores(evidence)
    for person_id, score in scores.items():
        scoring.store_score(session, evidence, prompt.id, person_id, score, now=now)
    prompt.released_at = now
    await insert_ignore(
        session,
        MarkRelease,
        [
            {
                "module_id": module.id,
                "item_type": scoring.ITEM_TYPE,
                "item_id": prompt.id,
                "released_at": now,
                "released_by_id": caller.person.id,
            }
        ],
        conflict=["module_id", "item_type", "item_id"],
    )
    await scoring.sync_ledger(session, prompt, scores, now=now)
    await audit_prompt(
        session,
        caller,
        prompt,
        module,
        "discussion_released",
        after={str(pid): s.score for pid, s in scores.items()},
        at=now,
    )
    await session.flush()
    return ReleaseResult(prompt_info(prompt, module), len(scores))


async def release_delivery(session: AsyncSession, prompt_id: int) -> Delivery:
    """Who has been told their released mark, as the mark messages recorded it."""
    rows = await session.execute(
        select(Person.display_name, DiscussionScore.notified_at, DiscussionScore.notify_error)
        .join(Person, Person.id == DiscussionScore.person_id)
        .where(DiscussionScore.prompt_id == prompt_id)
    )
    told, pending, missed = 0, 0, []
    for name, notified_at, error in rows.all():
        if notified_at is None:
            pending += 1
        elif error:
            missed.append(Missed(name, reason_of(error)))
        else:
            told += 1
    return Delivery(told, tuple(missed), pending)
