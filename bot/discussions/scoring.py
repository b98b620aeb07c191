"""Scores of a prompt computed from the stored evidence, and their credits in the ledger.

The pure rubric (``rubric.score_student``) does the arithmetic; this module turns stored rows
into its ``PostFact`` values:

- authors are roster people (``str(person_id)``), or ``u<platform id>`` for someone not on the
  roster; ``is_student`` comes from the module's roster, never from chat roles;
- a post edited after its author's close time counts with the words it had at that time (the
  revision history keeps them), so editing after the deadline cannot earn points;
- mentions are mapped from platform ids to the same author keys.

Ledger credits follow the agreed convention (rubric points for discussion_post,
discussion_reply and quality_points). ``sync_ledger`` makes the ledger match the current scores:
unchanged credits stay, changed ones are reversed and credited again under a new key, so the
ledger stays append-only and re-running it changes nothing.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.db.models import (
    Contribution,
    ContributionRevision,
    DiscussionPrompt,
    DiscussionScore,
    Enrolment,
    EnrolmentStatus,
    LedgerEntry,
    LedgerSource,
    Person,
    PromptStatus,
    Role,
)
from bot.discussions.rubric import (
    QUALITY_NOT_GRADED,
    PostFact,
    Rubric,
    StudentScore,
    score_student,
)
from bot.due import extended_due, load_grants, prompt_item
from bot.gradebook import ledger

ITEM_TYPE = "discussion_prompt"
QUALITY_NOT_RELEASED = "quality not yet released"
_SOURCES: Mapping[str, LedgerSource] = {
    "discussion_post": LedgerSource.DISCUSSION_POST,
    "discussion_reply": LedgerSource.DISCUSSION_REPLY,
    "quality_points": LedgerSource.QUALITY_POINTS,
}


def author_key(person_id: int | None, platform_id: str) -> str:
    return str(person_id) if person_id is not None else f"u{platform_id}"


@dataclass(frozen=True)
class Student:
    person: Person
    active: bool


@dataclass
class PromptEvidence:
    """Everything scoring needs about one prompt, loaded in a few queries."""

    prompt: DiscussionPrompt
    rubric: Rubric
    students: dict[int, Student]
    contributions: list[Contribution]
    revisions: dict[int, list[ContributionRevision]]
    #: person -> the end of the extension that applies to them (``bot.due``).
    extensions: dict[int, datetime]
    scores: dict[int, DiscussionScore]
    person_by_platform: dict[str, int]

    def close_for(self, person_id: int) -> datetime:
        return extended_due(self.prompt.closes_at, self.extensions.get(person_id))


async def load_evidence(session: AsyncSession, prompt: DiscussionPrompt) -> PromptEvidence:
    rows = await session.execute(
        select(Person, Enrolment.status)
        .join(Enrolment, Enrolment.person_id == Person.id)
        .where(Enrolment.module_id == prompt.module_id, Enrolment.role == Role.STUDENT)
        .order_by(Person.display_name, Person.id)
    )
    students = {
        person.id: Student(person, status == EnrolmentStatus.ACTIVE) for person, status in rows
    }
    contributions = list(
        (
            await session.scalars(
                select(Contribution)
                .where(Contribution.prompt_id == prompt.id)
                .order_by(Contribution.created_at, Contribution.id)
            )
        ).all()
    )
    revisions: dict[int, list[ContributionRevision]] = defaultdict(list)
    edited = [c.id for c in contributions if c.edited_at is not None]
    for chunk in _chunks(edited, 500):
        for revision in (
            await session.scalars(
                select(ContributionRevision)
                .where(ContributionRevision.contribution_id.in_(chunk))
                .order_by(ContributionRevision.revision)
            )
        ).all():
            revisions[revision.contribution_id].append(revision)
    item = prompt_item(prompt)
    grants = await load_grants(session, [item])
    extensions = {pid: answer.due_at for pid, answer in grants.extended(item).items()}
    scores = {
        s.person_id: s
        for s in (
            await session.scalars(
                select(DiscussionScore).where(DiscussionScore.prompt_id == prompt.id)
            )
        ).all()
    }
    mentioned = {str(uid) for c in contributions for uid in c.mentions}
    person_by_platform: dict[str, int] = {
        c.author_platform_id: c.person_id for c in contributions if c.person_id is not None
    }
    unknown = sorted(mentioned - set(person_by_platform))
    for chunk_ids in _chunks(unknown, 500):
        for pid, platform_id in (
            await session.execute(
                select(Person.id, Person.platform_user_id).where(
                    Person.platform_user_id.in_(chunk_ids)
                )
            )
        ).all():
            person_by_platform[str(platform_id)] = pid
    return PromptEvidence(
        prompt=prompt,
        rubric=Rubric.from_dict(prompt.rubric),
        students=students,
        contributions=contributions,
        revisions=dict(revisions),
        extensions=extensions,
        scores=scores,
        person_by_platform=person_by_platform,
    )


def _chunks(items: list[int] | list[str], size: int) -> Iterable[list[object]]:
    for start in range(0, len(items), size):
        yield list(items[start : start + size])


def _words_at(
    contribution: Contribution, revisions: list[ContributionRevision], at: datetime
) -> int:
    """The words the post had at ``at``: edits made afterwards do not count."""
    for revision in revisions:
        if revision.replaced_at > at:
            return revision.words
    return contribution.words


def score_all(
    evidence: PromptEvidence, *, with_quality: bool, person_ids: Iterable[int] | None = None
) -> dict[int, StudentScore]:
    """Every student's score (or those asked for); quality only when ``with_quality``."""
    wanted = list(person_ids) if person_ids is not None else list(evidence.students)
    result: dict[int, StudentScore] = {}
    for person_id in wanted:
        close = evidence.close_for(person_id)
        posts = [
            PostFact(
                message_id=c.message_id,
                author_id=author_key(c.person_id, c.author_platform_id),
                created_at=c.created_at,
                words=_words_at(c, evidence.revisions.get(c.id, []), close),
                parent_message_id=c.parent_message_id,
                mentions=tuple(
                    author_key(evidence.person_by_platform.get(str(uid)), str(uid))
                    for uid in c.mentions
                ),
                deleted=c.deleted_at is not None,
                is_student=c.person_id is not None and c.person_id in evidence.students,
            )
            for c in evidence.contributions
        ]
        stored = evidence.scores.get(person_id)
        quality = stored.quality_points if stored is not None and with_quality else None
        score = score_student(
            evidence.rubric,
            str(person_id),
            posts,
            evidence.prompt.closes_at,
            evidence.extensions.get(person_id),
            quality,
        )
        if not with_quality and stored is not None and stored.quality_points is not None:
            score = _replace_explanation(score, QUALITY_NOT_GRADED, QUALITY_NOT_RELEASED)
        result[person_id] = score
    return result


def released_scores(evidence: PromptEvidence) -> dict[int, StudentScore]:
    """The scores a release holds: every active student's, and anyone's who posted."""
    posted = {c.person_id for c in evidence.contributions if c.person_id is not None}
    wanted = [pid for pid, s in evidence.students.items() if s.active or pid in posted]
    return score_all(evidence, with_quality=True, person_ids=wanted)


def store_score(
    session: AsyncSession,
    evidence: PromptEvidence,
    prompt_id: int,
    person_id: int,
    score: StudentScore,
    *,
    now: datetime,
) -> None:
    """Write one released score; its DM is owed again (a changed score is announced anew)."""
    row = evidence.scores.get(person_id)
    if row is None:
        row = DiscussionScore(prompt_id=prompt_id, person_id=person_id)
        session.add(row)
    row.score = score.score
    row.explanation = score.explanation
    row.updated_at = now
    row.notify_claimed_at = None
    row.notified_at = None
    row.notify_error = None


def _replace_explanation(score: StudentScore, old: str, new: str) -> StudentScore:
    return replace(score, explanation=score.explanation.replace(old, new))


# --------------------------------------------------------------------------- ledger


def _base_key(prompt_id: int, person_id: int, kind: str, ref: str) -> str:
    return f"discussion:{prompt_id}:{person_id}:{kind}:{ref}"


async def sync_ledger(
    session: AsyncSession,
    prompt: DiscussionPrompt,
    scores: Mapping[int, StudentScore],
    *,
    kinds: frozenset[str] = frozenset(_SOURCES),
    now: datetime,
) -> int:
    """Make the ledger's live credits for these students equal their scores' credits.

    Returns how many rows were appended (credits plus reversals). Idempotent.
    """
    if not scores:
        return 0
    entries = (
        await session.scalars(
            select(LedgerEntry).where(
                LedgerEntry.item_type == ITEM_TYPE,
                LedgerEntry.item_id == prompt.id,
                LedgerEntry.person_id.in_(list(scores)),
            )
        )
    ).all()
    keys = {e.idempotency_key for e in entries}
    live: dict[int, list[LedgerEntry]] = defaultdict(list)
    for entry in entries:
        if entry.idempotency_key.endswith("#reversed"):
            continue
        if f"{entry.idempotency_key}#reversed" in keys:
            continue
        live[entry.person_id].append(entry)
    appended = 0
    to_credit: list[ledger.Credit] = []
    for person_id, score in scores.items():
        wanted: dict[tuple[str, str], Decimal] = {}
        for credit in score.credits:
            if credit.kind not in kinds:
                continue
            wanted[(credit.kind, credit.message_id or "tutor")] = credit.points
        have = [e for e in live.get(person_id, []) if e.source.value in kinds]
        for entry in have:
            held = (entry.source.value, entry.source_ref)
            if held in wanted and wanted[held] == entry.points:
                del wanted[held]
                continue
            if await ledger.reverse(session, entry.idempotency_key, "discussion score changed"):
                appended += 1
        for (kind, ref), points in wanted.items():
            base = _base_key(prompt.id, person_id, kind, ref)
            version = sum(1 for k in keys if k == base or k.startswith(base + "@"))
            key = base if version == 0 else f"{base}@{version + 1}"
            keys.add(key)
            to_credit.append(
                ledger.Credit(
                    idempotency_key=key,
                    module_id=prompt.module_id,
                    person_id=person_id,
                    source=_SOURCES[kind],
                    item_type=ITEM_TYPE,
                    item_id=prompt.id,
                    source_ref=ref,
                    points=points,
                    occurred_at=now,
                    note=prompt.title[:200],
                )
            )
    appended += await ledger.credit(session, to_credit)
    return appended


POST_KINDS = frozenset({"discussion_post", "discussion_reply"})


async def follow_evidence(session: AsyncSession, prompt_id: int, *, now: datetime) -> int:
    """Make a closed prompt's ledger credits follow its recorded evidence; returns rows added.

    The one path by which recorded posts reach the ledger: the close credits what was
    posted on time, and the recorder calls it again whenever it records something in a prompt
    already past its close (a late post or answer, one read back after a restart, an edit or
    a deletion), so ``/marks`` and the exports never wait for the release. Before the release
    only post and reply credits move (quality is not released); after it, the stored mark
    follows too and the student is told again, as for a tutor's change. An open prompt is
    left alone: its close credits it. Idempotent.
    """
    prompt = await session.get(DiscussionPrompt, prompt_id)
    if prompt is None or prompt.status != PromptStatus.CLOSED:
        return 0
    evidence = await load_evidence(session, prompt)
    if prompt.released_at is None:
        return await sync_ledger(
            session, prompt, score_all(evidence, with_quality=False), kinds=POST_KINDS, now=now
        )
    scores = released_scores(evidence)
    for person_id, score in scores.items():
        row = evidence.scores.get(person_id)
        if row is not None and row.score == score.score and row.explanation == score.explanation:
            continue
        store_score(session, evidence, prompt.id, person_id, score, now=now)
    added = await sync_ledger(session, prompt, scores, now=now)
    await session.flush()
    return added
