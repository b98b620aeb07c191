"""``/exercise`` and ``/submit`` on Slack: a tutor sets an exercise, students submit text or a
file they shared with the bot first (a command cannot carry one), the tutor reads the status,
extends and allocates (reviewers are asked by DM); refusals change nothing."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from bot.db.models import PeerExercise, PeerSubmission, ReviewAssignment
from tests.slack.conftest import SlackBox

pytestmark = pytest.mark.e2e

MODULE = "MATH70097"
CREATE = (
    f'create module:{MODULE} title:"Lasso paths" brief:"Fit a lasso path and explain it." '
    'submission_deadline:"2030-01-20 17:00" review_deadline:"2030-01-27 17:00" k:1'
)


async def _submissions(box: SlackBox) -> list[PeerSubmission]:
    async with box.db.session() as s:
        return list((await s.execute(select(PeerSubmission))).scalars())


async def test_an_exercise_is_set_submitted_to_extended_and_allocated(slack: SlackBox) -> None:
    tutor = slack.world.tutor_of(MODULE)
    first, second, third = slack.world.students_of(MODULE)[:3]
    created = await tutor.slash("/exercise", CREATE)
    await created.wait_ephemeral(contains="Lasso paths")
    async with slack.db.session() as s:
        exercise = (await s.execute(select(PeerExercise))).scalar_one()

    by_text = await first.slash(
        "/submit", f'exercise:{exercise.id} text:"The path flattens after lambda = 0.3."'
    )
    assert (await by_text.wait_ephemeral()).text
    work = await second.upload(second.dm_channel(), "lasso.pdf", b"%PDF-1.4 my lasso plot")
    by_file = await second.slash(
        "/submit", f"exercise:{exercise.id} file:{work.to_json()['permalink']}"
    )
    assert (await by_file.wait_ephemeral()).text
    async with slack.db.session() as s:
        stored = (
            await s.execute(select(PeerSubmission.data).where(PeerSubmission.filename.is_not(None)))
        ).scalar_one()
    assert stored == b"%PDF-1.4 my lasso plot"  # read from Slack with the bot's token
    assert len(await _submissions(slack)) == 2

    status = await tutor.slash("/exercise", f"status exercise:{exercise.id}")
    shown = await status.wait_ephemeral(contains="Lasso paths")
    assert first.user.real_name in shown.text

    extended = await tutor.slash(
        "/exercise",
        f'extend exercise:{exercise.id} student:@{third.name} until:"2030-01-22 17:00" reason:MC-4',
    )
    reply = await extended.wait_ephemeral(contains="<!date^")
    assert "told privately" in reply.text or "still under way" in reply.text
    await third.wait_dm(contains="Lasso paths")

    allocated = await tutor.slash("/exercise", f"allocate exercise:{exercise.id}")
    await allocated.wait_ephemeral(contains=f"Allocated exercise #{exercise.id}: 2 submission(s)")
    async with slack.db.session() as s:
        assert len(list((await s.execute(select(ReviewAssignment))).scalars())) == 2


async def test_students_cannot_set_exercises_or_submit_others_files(slack: SlackBox) -> None:
    tutor = slack.world.tutor_of(MODULE)
    first, second = slack.world.students_of(MODULE)[:2]
    refused = await first.slash("/exercise", CREATE)
    await refused.wait_ephemeral(contains="Only tutors")
    async with slack.db.session() as s:
        assert list((await s.execute(select(PeerExercise))).scalars()) == []

    await (await tutor.slash("/exercise", CREATE)).wait_ephemeral(contains="Lasso paths")
    theirs = await second.upload(second.dm_channel(), "lasso.pdf", b"%PDF-1.4 theirs")
    copied = await first.slash("/submit", f"exercise:1 file:{theirs.to_json()['permalink']}")
    await copied.wait_ephemeral(contains="shared by someone else")
    nobody = await tutor.slash("/exercise", "reassign exercise:1 reviewer:@nobody")
    await nobody.wait_ephemeral(contains="No member `nobody` in this workspace")
    assert await _submissions(slack) == []
