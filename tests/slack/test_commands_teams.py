"""``/teams`` on Slack: the tutor exports the teams as a file in the DM; refusals change
nothing. The survey (set in a form, answered), forming teams (a dry run, then "Create these
teams") and /teams show, the same on both platforms, are in tests/parity/test_teams.py."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from bot.db.models import Team, TeamPair
from tests.slack.conftest import SlackBox

pytestmark = pytest.mark.e2e

MODULE = "MATH70097"


async def test_teams_export_arrives_as_a_file_in_the_dm(slack: SlackBox) -> None:
    # Forming, "Create these teams" and /teams show: tests/parity/test_teams.py.
    tutor = slack.world.tutor_of(MODULE)
    formed = await tutor.slash(
        "/teams", f"form module:{MODULE} size_min:2 size_max:4 min_hours:1 dry_run:false"
    )
    await formed.wait_ephemeral(contains="Created", timeout=30)
    exported = await tutor.slash("/teams", f"export module:{MODULE}")
    await exported.wait_ephemeral(contains="in your direct messages")
    (csv,) = [f for m in tutor.dms() for f in m.files]
    assert csv.name.endswith(".csv")


async def test_students_cannot_form_teams_and_bad_rules_are_refused(slack: SlackBox) -> None:
    tutor = slack.world.tutor_of(MODULE)
    first, second = slack.world.students_of(MODULE)[:2]
    # A student's /teams form: tests/parity/test_teams.py.
    no_form = await first.slash("/teams", f"survey-set module:{MODULE}")
    await no_form.wait_ephemeral(contains="Only tutors")
    assert first.open_views == []
    maybe = await tutor.slash(
        "/teams", f"pair module:{MODULE} student:@{first.name} other:@{second.name} keep:maybe"
    )
    await maybe.wait_ephemeral(contains="`keep` must be apart, together or either, not `maybe`.")
    too_big = await tutor.slash(
        "/teams", f"form module:{MODULE} size_min:2 size_max:40 min_hours:1"
    )
    await too_big.wait_ephemeral(contains="`size_max` must be between 1 and 12, not 40.")
    async with slack.db.session() as s:
        assert list((await s.execute(select(TeamPair))).scalars()) == []
        assert list((await s.execute(select(Team))).scalars()) == []
    apart = await tutor.slash(
        "/teams", f"pair module:{MODULE} student:@{first.name} other:@{second.name} keep:apart"
    )
    assert (await apart.wait_ephemeral()).text
    async with slack.db.session() as s:
        assert len(list((await s.execute(select(TeamPair))).scalars())) == 1
