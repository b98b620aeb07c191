"""What students ask of prompts: their own scores, and answering through the bot."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.access.permissions import Caller, require_student
from bot.chat import MessageLinks, OutgoingMessage
from bot.db.models import (
    Cohort,
    Contribution,
    DiscussionPrompt,
    Module,
    PromptStatus,
    Role,
)
from bot.discussions import scoring
from bot.discussions.answers import ANSWER_MAX_CHARS, format_relayed
from bot.discussions.lateness import student_close
from bot.discussions.prompts import PromptInfo, find_prompt, prompt_info
from bot.discussions.render import when
from bot.discussions.rubric import Rubric
from bot.due import is_late
from bot.errors import UserError

# --------------------------------------------------------------------------- students


@dataclass(frozen=True)
class MyScore:
    prompt: PromptInfo
    summary: str
    released: bool
    feedback: str | None
    extension_until: datetime | None


@dataclass(frozen=True)
class MyScores:
    rows: list[MyScore]
    note: str | None = None

    def render(self) -> str:
        """``/prompt mine``'s answer on every platform: a paragraph per prompt."""
        if not self.rows:
            return self.note or "Nothing to show."
        lines = []
        for row in self.rows:
            state = "released" if row.released else "provisional"
            line = f"#{row.prompt.id} **{row.prompt.title}** ({row.prompt.module_code}, {state}): "
            line += row.summary
            if row.extension_until is not None:
                line += f"; your extension runs to {when(row.extension_until)}"
            if row.feedback:
                line += f"\n> Feedback: {row.feedback}"
            lines.append(line)
        return "\n".join(lines)


async def my_scores(
    session: AsyncSession,
    caller: Caller,
    cohort: Cohort,
    *,
    prompt_id: int | None,
    now: datetime,
) -> MyScores:
    """The caller's own provisional scores and why; quality and feedback once released."""
    if prompt_id is not None:
        prompt, module = await find_prompt(session, cohort, prompt_id)
        if not caller.is_student_in(module.id):
            if caller.is_staff_for(module.id):
                return MyScores([], f"You teach {module.code}; `/prompt scores` shows the table.")
            require_student(caller, module)
        prompts = [(prompt, module)]
    else:
        student_modules = [m for m, r in caller.roles.items() if r == Role.STUDENT]
        if not student_modules:
            return MyScores(
                [], "You are not a student in any module, so there are no scores to show."
            )
        rows = await session.execute(
            select(DiscussionPrompt, Module)
            .join(Module, Module.id == DiscussionPrompt.module_id)
            .where(
                DiscussionPrompt.module_id.in_(student_modules),
                DiscussionPrompt.status.in_(
                    [PromptStatus.OPEN, PromptStatus.CLOSING, PromptStatus.CLOSED]
                ),
            )
            .order_by(DiscussionPrompt.opens_at, DiscussionPrompt.id)
        )
        prompts = [(p, m) for p, m in rows.all()]
    result: list[MyScore] = []
    for prompt, module in prompts:
        if prompt.status in (PromptStatus.SCHEDULED, PromptStatus.CANCELLED):
            continue
        evidence = await scoring.load_evidence(session, prompt)
        released = prompt.released_at is not None
        me = caller.person.id
        score = scoring.score_all(evidence, with_quality=released, person_ids=[me])[me]
        stored = evidence.scores.get(me)
        result.append(
            MyScore(
                prompt_info(prompt, module),
                score.summary,
                released,
                stored.feedback if stored is not None and released else None,
                evidence.extensions.get(me),
            )
        )
    if not result:
        return MyScores([], "No discussion prompt of yours has opened yet.")
    return MyScores(result)


@dataclass(frozen=True)
class AnswerPlan:
    prompt_id: int
    thread_id: str
    #: The relayed answer, its header naming the student (``named_user_ids``).
    messages: list[OutgoingMessage]
    add_member: str | None
    late: bool
    note: str


async def _answer_target(
    session: AsyncSession, caller: Caller, cohort: Cohort, prompt_id: int, now: datetime
) -> tuple[DiscussionPrompt, Module, bool]:
    """Whether the caller may answer now through the form, and if so whether it is late."""
    prompt, module = await find_prompt(session, cohort, prompt_id)
    require_student(caller, module)
    if prompt.status in (PromptStatus.SCHEDULED, PromptStatus.OPENING):
        raise UserError(f"Prompt #{prompt.id} opens {when(prompt.opens_at)}.")
    if prompt.status == PromptStatus.CANCELLED or prompt.thread_id is None:
        raise UserError(f"Prompt #{prompt.id} is not taking answers.")
    close = await student_close(session, prompt, caller.person.id)
    late = is_late(now, close)
    thread_open = prompt.status == PromptStatus.OPEN and not is_late(now, prompt.closes_at)
    if thread_open and not prompt.private_answers:
        raise UserError(f"Post your answer in the prompt's thread <#{prompt.thread_id}>.")
    if late:
        if prompt.released_at is not None:
            raise UserError(
                f"Marks for prompt #{prompt.id} have been released; answers are no longer taken."
            )
        if Rubric.from_dict(prompt.rubric).late_policy == "not_counted":
            raise UserError(
                f"Prompt #{prompt.id} closed {when(close)}, and late posts are not counted "
                "under its rubric; ask your tutor about an extension."
            )
    return prompt, module, late


async def begin_answer(
    session: AsyncSession, caller: Caller, cohort: Cohort, prompt_id: int, *, now: datetime
) -> PromptInfo:
    """Check before showing the answer form, so nobody types an answer that will be refused."""
    prompt, module, _ = await _answer_target(session, caller, cohort, prompt_id, now)
    return prompt_info(prompt, module)


async def submit_answer(
    session: AsyncSession,
    caller: Caller,
    cohort: Cohort,
    prompt_id: int,
    *,
    text: str,
    reply_to: str | None,
    links: MessageLinks,
    now: datetime,
) -> AnswerPlan:
    """What to post for a student's answer form; the adapter posts it and adds them.

    ``reply_to`` is a pasted link, read (and the header's link built) by the platform's
    ``links``: the core knows no platform's link shape."""
    prompt, _, late = await _answer_target(session, caller, cohort, prompt_id, now)
    body = text.strip()
    if not body:
        raise UserError("Your answer is empty.")
    if len(body) > ANSWER_MAX_CHARS:
        raise UserError(
            f"Your answer is {len(body)} characters; the limit is {ANSWER_MAX_CHARS:,}."
        )
    link = None
    if reply_to and reply_to.strip():
        parent_id = links.message_id(reply_to)
        parent = None
        if parent_id is not None:
            parent = (
                await session.execute(
                    select(Contribution).where(
                        Contribution.message_id == parent_id,
                        Contribution.prompt_id == prompt.id,
                        Contribution.deleted_at.is_(None),
                    )
                )
            ).scalar_one_or_none()
        if parent is None or parent.person_id == caller.person.id:
            raise UserError(
                "“Replying to” must be the link (or id) of a classmate's post in this prompt's "
                "thread; leave it empty for your own answer."
            )
        link = links.link(cohort.guild_id, prompt.thread_id or "", parent.message_id)
    user_id = caller.person.platform_user_id
    assert user_id is not None  # the caller acted through the platform, so it is linked
    assert prompt.thread_id is not None
    messages = [
        OutgoingMessage(text, named_user_ids=(user_id,))
        for text in format_relayed(user_id, body, reply_link=link)
    ]
    if late:
        note = (
            f"Your answer to prompt #{prompt.id} is posted in <#{prompt.thread_id}>; it is late, "
            "so it earns points under the late policy shown with the prompt."
        )
    elif prompt.private_answers:
        note = (
            f"Your answer to prompt #{prompt.id} is posted. You can now read and reply to the "
            f"others in <#{prompt.thread_id}>."
        )
    else:
        note = f"Your answer to prompt #{prompt.id} is posted in <#{prompt.thread_id}>."
    return AnswerPlan(
        prompt.id,
        prompt.thread_id,
        messages,
        user_id if prompt.private_answers else None,
        late,
        note,
    )
