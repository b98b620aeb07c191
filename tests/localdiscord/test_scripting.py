"""The scripting API explains itself when what a test waits for never happens."""

from __future__ import annotations

import pytest

from cohortlab.localdiscord import ApiError, Cohort, LocalDiscordServer
from cohortlab.localdiscord import permissions as P


async def test_a_timed_out_wait_lists_what_was_seen(
    server: LocalDiscordServer, cohort: Cohort
) -> None:
    await cohort.student.post(cohort.general, "is anyone there?")
    with pytest.raises(AssertionError) as err:
        await server.script.wait_for_message(cohort.general, contains="welcome", timeout=0.1)
    text = str(err.value)
    assert "no message from cohortbot in #general containing 'welcome'" in text
    assert "alice: 'is anyone there?'" in text
    with pytest.raises(AssertionError, match=r"no ephemeral message to alice[\s\S]*nothing"):
        await cohort.student.wait_for_ephemeral(timeout=0.1)
    with pytest.raises(AssertionError, match="no DM to bob"):
        await cohort.students[1].wait_for_dm(contains="mark", timeout=0.1)


async def test_people_meet_the_same_permission_rules_as_the_bot(
    server: LocalDiscordServer, cohort: Cohort
) -> None:
    with pytest.raises(ApiError) as unseen:
        await cohort.student.post(cohort.staff, "let me in")
    assert unseen.value.code == 50001
    server.script.set_overwrite(cohort.general, cohort.roles["student"], deny=P.SEND_MESSAGES)
    with pytest.raises(ApiError) as muted:
        await cohort.student.post(cohort.general, "hello?")
    assert muted.value.code == 50013
    await cohort.tutor.post(cohort.staff, "tutors only")
    assert [m.content for m in server.script.messages(cohort.staff)] == ["tutors only"]


async def test_expect_no_message_fails_when_the_bot_speaks(
    server: LocalDiscordServer, cohort: Cohort
) -> None:
    mark = server.script.last_id()
    await server.script.expect_no_message(cohort.general, after=mark, within=0.05)
    server.state.create_message(server.bot_user_id, cohort.general.id, "unexpected notice")
    server.commit()
    with pytest.raises(AssertionError, match="unexpected notice"):
        await server.script.expect_no_message(cohort.general, after=mark, within=0.05)
