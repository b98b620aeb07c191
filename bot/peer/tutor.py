"""Tutor commands on a running exercise: allocate now, status, reassign, top up, moderate."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from sqlalchemy.ext.asyncio import AsyncSession

from bot.access.identity import ChatUser
from bot.access.permissions import Caller
from bot.db.models import AssignmentStatus, Cohort, ExerciseStatus, PeerResult, Role
from bot.due import extends
from bot.errors import UserError
from bot.gradebook import audit, ledger
from bot.peer import render
from bot.peer.allocating import (
    AllocationSummary,
    allocate_exercise,
    fill_short,
    lock_exercise,
    short_authors,
)
from bot.peer.allocation import Assignment, barred
from bot.peer.assigning import add_assignments, describe_reassignment, reassign_reviews
from bot.peer.common import roster_person, staff_exercise
from bot.peer.notices import cancel_requests, enqueue_withdrawn, tell_mark_changed
from bot.peer.policy import ACTIVE, due_of, tenth
from bot.peer.reads import assignments, current_submissions, kin_of, module_people, names_of
from bot.peer.release import score_credit, stored_results
from bot.peer.results import final_mark, recompute
from bot.peer.rubric import format_score
from bot.teams.groups import shared

# --------------------------------------------------------------------------- tutor commands


async def allocate_now(
    session: AsyncSession, caller: Caller, cohort: Cohort, *, exercise_id: int, now: datetime
) -> AllocationSummary:
    exercise, _module = await staff_exercise(session, caller, cohort, exercise_id)
    if exercise.status != ExerciseStatus.OPEN:
        raise UserError(
            f"Exercise #{exercise.id} was already allocated"
            + (f" {render.when(exercise.allocated_at)}" if exercise.allocated_at else "")
            + "; use `/exercise reassign` to move single reviews."
        )
    subs = await current_submissions(session, exercise.id)
    if not subs:
        raise UserError(
            f"Nobody has submitted to exercise #{exercise.id} yet; nothing to allocate."
        )
    summary = await allocate_exercise(session, exercise.id, now, on_demand=True)
    if summary is None:
        raise UserError(f"Exercise #{exercise.id} is being allocated already.")
    return summary


@dataclass(frozen=True)
class StudentLine:
    name: str
    submitted: str
    reviews_done: int
    reviews_assigned: int
    reviews_pending: int
    received_done: int
    received_assigned: int
    result: str
    flagged: str | None


@dataclass(frozen=True)
class StatusReport:
    exercise_id: int
    title: str
    module_code: str
    state: str
    header: list[str]
    students: list[StudentLine] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


async def exercise_status(
    session: AsyncSession, caller: Caller, cohort: Cohort, *, exercise_id: int, now: datetime
) -> StatusReport:
    """Submitted, allocated, reviews done and pending per student, and the current marks."""
    exercise, module = await staff_exercise(session, caller, cohort, exercise_id)
    students = await module_people(session, module.id, Role.STUDENT)
    subs = await current_submissions(session, exercise.id)
    all_rows = await assignments(session, exercise.id)
    results: dict[int, PeerResult] = {}
    if exercise.status == ExerciseStatus.RELEASED:
        results = await stored_results(session, exercise.id)
    elif exercise.status == ExerciseStatus.ALLOCATED:
        results, _ = await recompute(session, exercise, now)
    people = students | set(subs) | {r.reviewer_id for r in all_rows}
    names = await names_of(session, people)
    lines: list[StudentLine] = []
    for pid in sorted(people, key=lambda p: names.get(p, "").lower()):
        sub = subs.get(pid)
        if sub is None:
            submitted = "not submitted"
        else:
            submitted = f"v{sub.version}" + (" late" if sub.late else "")
        mine = [r for r in all_rows if r.reviewer_id == pid]
        theirs = [r for r in all_rows if r.author_id == pid and r.status in ACTIVE]
        res = results.get(pid)
        if res is None or (res.n_reviews == 0 and res.moderated is None):
            result_text = "—"
        else:
            result_text = (
                f"mark {format_score(res.final) if res.final is not None else '—'}"
                f" (median {format_score(res.median) if res.median is not None else '—'}, "
                f"corrected {format_score(res.corrected) if res.corrected is not None else '—'}"
                + (", moderated" if res.moderated is not None else "")
                + ")"
            )
        flag = (
            res.flag_reason if res is not None and res.flagged and res.moderated is None else None
        )
        lines.append(
            StudentLine(
                name=names.get(pid, "?"),
                submitted=submitted,
                reviews_done=sum(1 for r in mine if r.status == AssignmentStatus.DONE),
                reviews_assigned=sum(1 for r in mine if r.status in ACTIVE),
                reviews_pending=sum(1 for r in mine if r.status == AssignmentStatus.PENDING),
                received_done=sum(1 for r in theirs if r.status == AssignmentStatus.DONE),
                received_assigned=len(theirs),
                result=result_text,
                flagged=flag,
            )
        )
    done = sum(1 for r in all_rows if r.status == AssignmentStatus.DONE)
    pending = sum(1 for r in all_rows if r.status == AssignmentStatus.PENDING)
    moved = sum(1 for r in all_rows if r.status == AssignmentStatus.REASSIGNED)
    late = sum(1 for s in subs.values() if s.late)
    resub = sum(1 for s in subs.values() if s.version > 1)
    state = str(exercise.status.value)
    header = [
        f"**#{exercise.id} {exercise.title}** ({module.code}) — {state}",
        f"Submissions close {render.when(exercise.submission_due_at)} · reviews due "
        f"{render.when(exercise.review_due_at)} · k={exercise.reviews_per_submission} · "
        f"mark: {exercise.aggregation}",
        f"Submitted: {len(subs)} of {len(students)} students ({late} late, {resub} resubmitted)",
        f"Reviews: {done} done, {pending} pending, {moved} reassigned",
    ]
    extra = [
        due_of(exercise, r)
        for r in all_rows
        if r.status == AssignmentStatus.PENDING
        and extends(exercise.review_due_at, due_of(exercise, r))
    ]
    if extra:
        header.append(
            f"Extra time (late or reassigned work): {len(extra)} review(s) open until "
            f"{render.when(max(extra))}"
        )
    flagged = [ln for ln in lines if ln.flagged]
    if flagged:
        header.append(f"Flagged for moderation: {len(flagged)}")
    return StatusReport(
        exercise_id=exercise.id,
        title=exercise.title,
        module_code=module.code,
        state=state,
        header=header,
        students=lines,
        notes=list(exercise.allocation_notes or []),
    )


async def reassign_reviewer(
    session: AsyncSession,
    caller: Caller,
    cohort: Cohort,
    *,
    exercise_id: int,
    reviewer: ChatUser,
    author: ChatUser | None = None,
    to: ChatUser | None = None,
    now: datetime,
) -> str:
    """Move a reviewer's pending reviews (one, or all) to spare capacity or to a named person."""
    exercise, module = await staff_exercise(session, caller, cohort, exercise_id)
    if exercise.status != ExerciseStatus.ALLOCATED:
        raise UserError(
            f"Exercise #{exercise.id} is {exercise.status.value}; only allocated "
            "exercises have reviews to move."
        )
    who = await roster_person(session, reviewer, "reviewer")
    pending = await assignments(session, exercise.id, [AssignmentStatus.PENDING])
    mine = [a for a in pending if a.reviewer_id == who.id]
    if author is not None:
        whose = await roster_person(session, author, "author")
        mine = [a for a in mine if a.author_id == whose.id]
    if not mine:
        raise UserError(
            f"{who.display_name} has no pending review"
            + (f" of {author.display_name}'s submission" if author is not None else "")
            + f" in exercise #{exercise.id}."
        )
    if to is None:
        outcome = await reassign_reviews(
            session, exercise, mine, reason="tutor", now=now, notify_dropped=True
        )
        detail = await describe_reassignment(session, outcome)
        return f"Moved {len(mine)} review(s) in exercise #{exercise.id}:\n{detail}"
    target = await roster_person(session, to, "new reviewer")
    students = await module_people(session, module.id, Role.STUDENT)
    if target.id not in students:
        raise UserError(f"{target.display_name} is not a student of {module.code}.")
    if target.id == who.id:
        raise UserError("Choose a different person to take the review.")
    existing = {(a.reviewer_id, a.author_id) for a in await assignments(session, exercise.id)}
    groups = (
        await kin_of(session, module, [target.id] + [a.author_id for a in mine])
        if exercise.avoid_same_group
        else {}
    )
    for a in mine:
        rule = barred(target.id, a.author_id, groups=groups, taken=existing)
        if rule == "self":
            raise UserError(f"{target.display_name} cannot review their own submission.")
        if rule == "pair":
            raise UserError(f"{target.display_name} already has (or had) that submission.")
        if rule == "group":
            kind = shared(groups.get(target.id, frozenset()), groups.get(a.author_id, frozenset()))
            name = (await names_of(session, [a.author_id]))[a.author_id]
            raise UserError(
                f"{target.display_name} is in the same {kind} as {name}, and this exercise "
                "keeps reviews out of study groups and teams."
            )
    for a in mine:
        a.status = AssignmentStatus.REASSIGNED
        a.end_reason = "tutor"
    await session.flush()
    await cancel_requests(session, [a.id for a in mine])
    await enqueue_withdrawn(session, exercise, module, mine, "tutor", now)
    added = await add_assignments(
        session,
        exercise,
        module,
        [Assignment(target.id, a.author_id) for a in mine],
        origin="manual",
        now=now,
    )
    return (
        f"Moved {len(added)} review(s) in exercise #{exercise.id} from {who.display_name} "
        f"to {target.display_name}."
    )


async def top_up(
    session: AsyncSession,
    caller: Caller,
    cohort: Cohort,
    *,
    exercise_id: int,
    author: ChatUser | None = None,
    now: datetime,
) -> str:
    """Give submissions with fewer than k reviews the missing ones from eligible reviewers
    (every short one, or one author's); say per submission why any stays short."""
    exercise, _module = await staff_exercise(session, caller, cohort, exercise_id)
    if exercise.status != ExerciseStatus.ALLOCATED:
        raise UserError(
            f"Exercise #{exercise.id} is {exercise.status.value}; only allocated exercises "
            "can be topped up."
        )
    locked = await lock_exercise(session, exercise.id)
    assert locked is not None
    exercise = locked
    k = exercise.reviews_per_submission
    short = await short_authors(session, exercise)
    if author is not None:
        whose = await roster_person(session, author, "author")
        subs = await current_submissions(session, exercise.id)
        if whose.id not in subs:
            raise UserError(f"{whose.display_name} has no submission in exercise #{exercise.id}.")
        if whose.id not in short:
            raise UserError(f"{whose.display_name}'s submission already has its {k} reviewers.")
        short = {whose.id: short[whose.id]}
    if not short:
        raise UserError(
            f"Every submission in exercise #{exercise.id} already has its {k} reviewers."
        )
    filled = await fill_short(session, exercise, short, origin="topup", now=now)
    names = await names_of(session, short)
    added: dict[int, int] = {}
    for a in filled.added:
        added[a.author_id] = added.get(a.author_id, 0) + 1
    why = {s.author: s.reason for s in filled.shortfalls}
    if filled.added:
        head = (
            f"Topped up exercise #{exercise.id}: {len(filled.added)} review(s) added for "
            f"{len(short)} short submission(s); the new reviewers get their requests by DM."
        )
    else:
        head = (
            f"No review could be added in exercise #{exercise.id}: no eligible reviewer is "
            f"left for its {len(short)} short submission(s)."
        )
    lines = [head]
    for person_id in sorted(short, key=lambda p: names.get(p, "").lower()):
        now_has = short[person_id] + added.get(person_id, 0)
        line = f"• {names.get(person_id, '?')}: {short[person_id]} → {now_has} of {k}"
        if person_id in why:
            line += f" (still short: {why[person_id]})"
        lines.append(line)
    return "\n".join(lines)


async def moderate(
    session: AsyncSession,
    caller: Caller,
    cohort: Cohort,
    *,
    exercise_id: int,
    student: ChatUser,
    score: float,
    reason: str,
    now: datetime,
) -> str:
    """Override a peer mark (0-100) with a reason; audited, and re-credited if released."""
    exercise, module = await staff_exercise(session, caller, cohort, exercise_id)
    if not 0 <= score <= 100:
        raise UserError(f"A moderated mark is from 0 to 100; you gave {format_score(score)}.")
    reason = reason.strip()
    if not reason:
        raise UserError("Give a reason for the moderation; it goes into the audit trail.")
    if exercise.status == ExerciseStatus.OPEN:
        raise UserError(
            f"Exercise #{exercise.id} has not been reviewed yet; moderate after allocation."
        )
    person = await roster_person(session, student, "student")
    subs = await current_submissions(session, exercise.id)
    if person.id not in subs:
        raise UserError(f"{person.display_name} has no submission in exercise #{exercise.id}.")
    if exercise.status == ExerciseStatus.RELEASED:
        results = await stored_results(session, exercise.id)
    else:
        results, _ = await recompute(session, exercise, now)
    result = results.get(person.id)
    if result is None:
        raise UserError(f"{person.display_name} has no peer result in exercise #{exercise.id}.")
    before = {"final": result.final, "moderated": result.moderated, "median": result.median}
    result.moderated = tenth(Decimal(repr(float(score))))
    result.moderation_reason = reason
    result.moderated_by_id = caller.person.id
    result.final = final_mark(exercise, result)
    await session.flush()
    entry = await audit.record_of(
        session,
        caller.person,
        "peer_moderate",
        result,
        subject_person_id=person.id,
        module_id=module.id,
        before=before,
        after={"final": result.final, "moderated": result.moderated},
        reason=reason,
        at=now,
    )
    text = (
        f"Moderated {person.display_name}'s mark in exercise #{exercise.id}: "
        f"{format_score(before['final']) if before['final'] is not None else '—'} → "
        f"{format_score(result.final or 0)} (audited)."
    )
    if exercise.status == ExerciseStatus.RELEASED and result.final is not None:
        if result.ledger_key is not None:
            await ledger.reverse(session, result.ledger_key, f"moderated: {reason}", at=now)
        result.ledger_key = f"peer:{exercise.id}:{person.id}:score:a{entry.id}"
        await ledger.credit(session, [score_credit(exercise, module, result, now)], at=now)
        await tell_mark_changed(session, exercise, module, person.id, result.final, entry.id, now)
        text += " The student has been told their new mark."
    return text
