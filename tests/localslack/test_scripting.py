"""The scripted workspace: a cohort laid out like localdiscord's, people's views of it."""

from __future__ import annotations

import aiohttp
import pytest
from slack_sdk.web.async_client import AsyncWebClient

from cohortlab.localslack import LocalSlackServer
from tests.localslack.conftest import socket_app

pytestmark = pytest.mark.e2e


async def test_build_cohort_lays_out_channels_people_and_emails(
    server: LocalSlackServer, web: AsyncWebClient
) -> None:
    cohort = server.script.build_cohort(
        modules=["MATH70095", "MATH70096"], tutors=["tutor"], students=["alice", "bob"]
    )
    assert cohort.module("MATH70095").name == "math70095"
    assert cohort.staff.is_private and cohort.student.id not in cohort.staff.members
    assert cohort.tutor.id in cohort.staff.members
    assert server.bot_user_id in cohort.general.members
    found = await web.users_lookupByEmail(email="bob@uni.ac.uk")
    assert found["user"]["id"] == cohort.students[1].id
    carol = cohort.add_student("carol")
    assert carol.id in cohort.module("MATH70096").members
    assert server.deliveries == []  # laying out the workspace sends the app nothing


async def test_slash_runs_in_the_home_channel_and_in_channel_replies_are_seen(
    server: LocalSlackServer, web: AsyncWebClient
) -> None:
    cohort = server.script.build_cohort()
    async with socket_app(server, web) as app:
        result = await cohort.student.slash("/tutorial", "list")
        assert app.requests[-1].payload["channel_id"] == cohort.general.id
        url = app.requests[-1].payload["response_url"]
        async with aiohttp.ClientSession() as http:
            await http.post(url, json={"response_type": "in_channel", "text": "Tutorials: 3"})
        reply = await result.wait_reply(contains="Tutorials")
        assert reply.channel == cohort.general.id
        with pytest.raises(AssertionError, match="no reply containing 'nothing'"):
            await result.wait_reply(contains="nothing", timeout=0.2)


async def test_mentions_joins_and_the_dm_are_events_the_app_gets(
    server: LocalSlackServer, web: AsyncWebClient
) -> None:
    cohort = server.script.build_cohort()
    narrated: list[str] = []
    server.listeners.append(lambda event: narrated.append(event["type"]))
    async with socket_app(server, web) as app:
        await cohort.student.post(cohort.general, f"<@{server.bot_user_id}> help")
        await cohort.student.dm("what is due?")
        late = server.script.add_user("late")
        await late.join(cohort.general)
        await server.script.wait_for(
            lambda: len(app.events()) >= 4, what="message, mention, dm, join"
        )
        kinds = [(e["type"], e.get("channel_type")) for e in app.events()]
        assert ("app_mention", None) in kinds and ("message", "im") in kinds
        assert ("member_joined_channel", "C") in kinds
        assert narrated == ["message", "app_mention", "message", "member_joined_channel"]


async def test_a_person_cannot_click_what_they_cannot_see(server: LocalSlackServer) -> None:
    cohort = server.script.build_cohort()
    button = [
        {
            "type": "actions",
            "block_id": "b",
            "elements": [
                {"type": "button", "action_id": "ok", "text": {"type": "plain_text", "text": "OK"}}
            ],
        }
    ]
    msg = server.script.bot_post(cohort.staff, "Approve extension?", blocks=button)
    with pytest.raises(AssertionError, match="cannot see"):
        await cohort.student.click(msg, "ok")
    with pytest.raises(AssertionError, match=r"there are \['ok'\]"):
        await cohort.tutor.click(msg, "deny")


async def test_a_script_can_give_two_channels_a_message_at_the_same_ts(
    server: LocalSlackServer, web: AsyncWebClient
) -> None:
    """Slack's ts is unique within a channel only; the script can make two channels collide."""
    cohort = server.script.build_cohort(modules=["MATH70095", "MATH70096"], students=["alice"])
    first, second = cohort.module("MATH70095"), cohort.module("MATH70096")
    ts = await cohort.student.post(first, "in the first")
    assert await cohort.student.post(second, "in the second", ts=ts) == ts
    for chan, text in ((first, "in the first"), (second, "in the second")):
        read = await web.conversations_history(channel=chan.id)
        assert [(m["ts"], m["text"]) for m in read["messages"]] == [(ts, text)]
    with pytest.raises(ValueError, match="already has a message at ts"):
        await cohort.student.post(first, "again", ts=ts)
    with pytest.raises(ValueError, match="several channels"):
        server.state.find_message(ts)
