"""``/exercise extend``: one student gets more time for their submission to a peer exercise.

The grant itself is ``bot.due.grant`` (the latest approved grant applies; earlier ones are
superseded). What it changes here:

- ``/submit`` accepts their work until the new time as on time (``lateness`` asks
  ``bot.due``), and a submission they already made is judged again (its late flag, and so
  the late penalty and the gradebook, follow the new time);
- work that comes in after reviewers were allocated is given reviewers from spare capacity
  at once, like any late submission (``engine.allocate_late_author``: at least
  ``MIN_REVIEW_WINDOW`` to review it; a shortfall is reported to the tutors, who can
  ``/exercise topup``);
- the student's DM is enqueued in the outbox in this transaction, and the tutor's reply says
  whether it reached them.

The extension is for the submission only: reviews have their own due times.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.access.identity import ChatUser
from bot.access.permissions import Caller, in_cohort, require_staff
from bot.db.models import (
    Cohort,
    ExerciseStatus,
    PeerExercise,
    PeerSubmission,
)
from bot.due import clean_reason, extension_student, grant_later, submission_item
from bot.due import text as due_text
from bot.errors import UserError
from bot.gradebook import audit
from bot.peer import render
from bot.peer.notices import send_direct
from bot.peer.outbox import key_of
from bot.timeparse import parse_instant, user_input

#: The outbox ``kind`` of the student's DM.
KIND = "extension"


@dataclass(frozen=True)
class ExerciseExtension(due_text.Extended):
    exercise_id: int
    title: str
    #: The outbox message telling the student (the reply says whether it reached them).
    message_key: str
    #: Submissions already in whose late flag changed with the new time.
    rejudged: int

    def render(self) -> str:
        follows = "Their submission until then is on time, and it gets reviewers when it comes in."
        if self.rejudged:
            follows += " Their submission already in is judged again against the new time."
        return self.granted_text(f"exercise #{self.exercise_id} **{self.title}**", follows)


async def grant_extension(
    session: AsyncSession,
    caller: Caller,
    cohort: Cohort,
    *,
    exercise_id: int,
    student: ChatUser,
    until: str,
    reason: str,
    now: datetime,
) -> ExerciseExtension:
    """Give one student until ``until`` for their submission (tutors and admins)."""
    exercise, module = await in_cohort(
        session,
        PeerExercise,
        exercise_id,
        cohort,
        f"There is no peer exercise #{exercise_id} in this cohort; its number is in the "
        "exercise's announcement.",
    )
    require_staff(caller, module)
    if exercise.status is ExerciseStatus.RELEASED:
        raise UserError(
            f"Marks for exercise #{exercise.id} “{exercise.title}” were released; an extension "
            "can no longer change them."
        )
    if exercise.status is ExerciseStatus.CANCELLED:
        raise UserError(f"Exercise #{exercise.id} “{exercise.title}” was cancelled.")
    person = await extension_student(session, module, student)
    reason_ref = clean_reason(reason)
    with user_input("Until"):
        new_due = parse_instant(until, cohort.timezone, now=now)
    item = submission_item(exercise)
    granted = await grant_later(
        session,
        item,
        person.id,
        new_due,
        refusal="The extension must end after the submission deadline "
        f"({render.when(exercise.submission_due_at)}).",
        reason_ref=reason_ref,
        decided_by_id=caller.person.id,
        now=now,
    )
    rejudged = 0
    for sub in (
        await session.execute(
            select(PeerSubmission).where(
                PeerSubmission.exercise_id == exercise.id, PeerSubmission.person_id == person.id
            )
        )
    ).scalars():
        late = granted.now.late(sub.submitted_at)
        if sub.late != late:
            sub.late = late
            rejudged += sub.is_current
    extension = granted.extension
    await audit.record_of(
        session,
        caller.person,
        "extension_granted",
        extension,
        subject_person_id=person.id,
        module_id=module.id,
        before={"due_at": granted.was.due_at, "item": f"exercise:{exercise.id}"},
        after={"due_at": new_due, "item": f"exercise:{exercise.id}"},
        reason=reason_ref,
        at=now,
    )
    key = f"extension:{extension.id}"
    text = (
        f"You have an extension on {module.code} exercise #{exercise.id} "
        f"“{exercise.title}”: your submission until {render.when(new_due)} counts "
        f"as on time. Submit with `/submit exercise:{exercise.id}`."
    )
    await send_direct(session, exercise.id, KIND, [(person.id, key, text)], now)
    await session.flush()
    return ExerciseExtension(
        extension_id=extension.id,
        student=person.display_name,
        module_code=module.code,
        due_at=new_due,
        was_at=granted.was.due_at,
        exercise_id=exercise.id,
        title=exercise.title,
        message_key=key_of(key),
        rejudged=rejudged,
    )
