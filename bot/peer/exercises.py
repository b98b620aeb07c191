"""Setting up a peer exercise: checks of the deadlines, the rubric and the reviewer count."""

from __future__ import annotations

import logging
import math
import zlib
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from bot.access.permissions import Caller, module_by_code, require_staff
from bot.db.models import Cohort, ExerciseStatus, Module, PeerExercise, Role
from bot.errors import UserError
from bot.peer import render
from bot.peer.aggregation import Method
from bot.peer.common import MAX_BRIEF, MAX_TITLE, user_error
from bot.peer.notices import post_to_channel
from bot.peer.reads import kin_of, module_people
from bot.peer.rubric import RubricError, parse_rubric
from bot.timeparse import parse_instant, user_input

log = logging.getLogger(__name__)


# --------------------------------------------------------------------------- create


@dataclass(frozen=True)
class CreatedExercise:
    exercise_id: int
    module_code: str
    title: str
    submission_due_at: datetime
    review_due_at: datetime
    k: int
    summary: str


async def create_exercise(
    session: AsyncSession,
    caller: Caller,
    cohort: Cohort,
    *,
    module_code: str,
    title: str,
    brief: str,
    submission_deadline: str,
    review_deadline: str,
    k: int = 3,
    rubric: str | None = None,
    double_blind: bool = True,
    reviewers: str = "submitters",
    avoid_same_group: bool = False,
    avoid_repeat_pairs: bool = True,
    method: str = "median",
    late_hours: int = 0,
    late_penalty: int = 0,
    reminder_hours: int = 24,
    agreement_weighting: bool = False,
    now: datetime,
) -> CreatedExercise:
    module = await module_by_code(session, cohort.id, module_code)
    require_staff(caller, module)
    title = " ".join(title.split())
    brief = brief.strip()
    if not title or len(title) > MAX_TITLE:
        raise UserError(f"Give the exercise a title of 1 to {MAX_TITLE} characters.")
    if not brief or len(brief) > MAX_BRIEF:
        raise UserError(
            f"Give a brief of 1 to {MAX_BRIEF} characters (link to a longer document if needed)."
        )
    with user_input():
        sub_due = parse_instant(submission_deadline, cohort.timezone, now=now)
        rev_due = parse_instant(review_deadline, cohort.timezone, now=now)
    if rev_due <= sub_due:
        raise UserError(
            f"The review deadline ({render.when(rev_due)}) must be after the submission "
            f"deadline ({render.when(sub_due)})."
        )
    if k < 1:
        raise UserError(f"Reviews per submission (k) must be at least 1; you gave {k}.")
    students = await module_people(session, module.id, Role.STUDENT)
    possible = await _max_reviewers(session, module, students, avoid_same_group)
    if k > possible:
        why = " outside their own study group" if avoid_same_group else ""
        raise UserError(
            f"k={k} is more than possible: with {len(students)} students in {module.code}, a "
            f"submission can have at most {possible} reviewers{why}."
        )
    try:
        parsed = parse_rubric(rubric)
    except RubricError as exc:
        raise user_error(exc) from exc
    if reviewers not in ("submitters", "enrolled"):
        raise UserError("Reviewers must be 'submitters' or 'enrolled'.")
    try:
        chosen = Method(method)
    except ValueError:
        raise UserError(
            "The aggregation method must be one of median, mean or corrected"
            " (corrected_alone: corrected from this exercise's reviews only)."
        ) from None
    _check_late_window(sub_due, rev_due, late_hours)
    if not 0 <= late_penalty <= 100:
        raise UserError(f"The late penalty is a percentage from 0 to 100; you gave {late_penalty}.")
    if not 0 <= reminder_hours <= 168:
        raise UserError(
            f"Reminders go 0 to 168 hours before the review deadline; you gave {reminder_hours}."
        )
    exercise = PeerExercise(
        module_id=module.id,
        title=title,
        brief=brief,
        submission_due_at=sub_due,
        review_due_at=rev_due,
        reviews_per_submission=k,
        rubric=parsed.to_json(),
        double_blind=double_blind,
        reviewers_from_submitters_only=reviewers == "submitters",
        avoid_same_group=avoid_same_group,
        avoid_repeat_pairs=avoid_repeat_pairs,
        late_policy={"hours": late_hours, "penalty": late_penalty},
        aggregation=chosen.value,
        seed=zlib.crc32(f"{module.code}|{title}|{now.isoformat()}".encode()),
        status=ExerciseStatus.OPEN,
        created_by_id=caller.person.id,
        created_at=now,
        reminder_hours=reminder_hours,
        agreement_weighting=agreement_weighting,
    )
    session.add(exercise)
    await session.flush()
    parts = render.announcement(exercise, module.code, parsed)
    await post_to_channel(
        session,
        exercise,
        module,
        ((f"announce:{exercise.id}:{i}", part) for i, part in enumerate(parts)),
        now,
    )
    late = (
        f"late work accepted for {late_hours} h"
        + (f" with a {late_penalty}% penalty" if late_penalty else "")
        if late_hours
        else "no late work"
    )
    summary = (
        f"Created peer exercise **#{exercise.id} {title}** in {module.code}.\n"
        f"Submissions close {render.when(sub_due)}; reviews are due {render.when(rev_due)}.\n"
        f"{k} reviews per submission · {'double-blind' if double_blind else 'single-blind'} · "
        f"reviewers: {reviewers} · {'no same-group pairs · ' if avoid_same_group else ''}"
        f"{'no repeated pairs · ' if avoid_repeat_pairs else ''}mark: {chosen.value} · {late}"
        f"{' · review credit weighted by agreement' if agreement_weighting else ''}.\n"
        f"Reviewers are allocated automatically at the deadline (or now with "
        f"`/exercise allocate exercise:{exercise.id}`)."
    )
    if module.channel_id is None:
        summary += (
            f"\nThe bot has not found {module.code}'s channel yet, so the announcement will be "
            "posted there as soon as it does."
        )
    log.info("peer exercise %s created in %s", exercise.id, module.code)
    return CreatedExercise(exercise.id, module.code, title, sub_due, rev_due, k, summary)


def _check_late_window(sub_due: datetime, rev_due: datetime, late_hours: int) -> None:
    """Late work must come in before reviews are due, or nobody could review it."""
    if late_hours < 0:
        raise UserError(
            f"late_hours is how many hours late work is accepted (0 for none); you gave "
            f"{late_hours}."
        )
    window = rev_due - sub_due
    most = math.ceil(window / timedelta(hours=1)) - 1
    if late_hours <= most:
        return
    if most < 1:
        minutes = int(window / timedelta(minutes=1))
        raise UserError(
            f"Reviews are due only {minutes} minute(s) after the submission deadline, which "
            "leaves no time to review late work: set late_hours:0 or a later review deadline."
        )
    raise UserError(
        f"Late submissions can be accepted for 0 to {most} hours after the deadline (they must "
        f"come in before reviews are due); you gave {late_hours}."
    )


async def _max_reviewers(
    session: AsyncSession, module: Module, students: set[int], avoid_same_group: bool
) -> int:
    """The most reviewers every student's submission could have (never self or group-mates)."""
    if not students:
        return 0
    if not avoid_same_group:
        return len(students) - 1
    groups = await kin_of(session, module, students)
    worst = 0
    for s in students:
        mine = groups.get(s, frozenset())
        mates = sum(1 for o in students if o != s and not mine.isdisjoint(groups.get(o, ())))
        worst = max(worst, mates)
    return len(students) - 1 - worst
