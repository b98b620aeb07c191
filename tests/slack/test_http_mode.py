"""HTTP mode: Slack POSTs signed requests to ``/slack/events`` on the bot's own web server."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import pytest

from bot.db.models import Contribution
from slackapp.chat import split_target
from tests.slack.conftest import SlackBox, eventually, start_box, stop_box
from tests.slack.test_discussions import MODULE, contributions, open_prompt

pytestmark = pytest.mark.e2e


@pytest.fixture
async def http(e2e_url: str) -> AsyncIterator[SlackBox]:
    box = await start_box(e2e_url, mode="http")
    try:
        yield box
    finally:
        await stop_box(box)


async def test_a_signed_slash_command_is_answered(http: SlackBox) -> None:
    assert await http.server.verify_events_url()
    student = http.world.students_of(MODULE)[0]
    result = await student.slash("/about", channel=http.world.channels[MODULE])
    await result.wait_ephemeral(contains="provisional until released")
    records = [r for r in http.server.http.records if r.url == http.server.events_url]
    assert [(r.type, r.status) for r in records] == [
        ("application/json", 200),  # the url_verification challenge
        ("application/x-www-form-urlencoded", 200),  # the command, acknowledged
    ]


async def test_a_retried_event_is_recorded_once_and_a_bad_signature_refused(
    http: SlackBox,
) -> None:
    prompt = await open_prompt(http)
    assert prompt.thread_id is not None
    chan = http.world.channels[MODULE]
    _, parent = split_target(prompt.thread_id)
    student = http.world.students_of(MODULE)[0]
    # The post exists in the workspace; its event is delivered below, as Slack would, then
    # retried (say the first answer was lost on the way back): same event id, retry headers.
    message = http.server.state.post(
        chan, student.id, "Splines: knots trade bias for variance.", thread_ts=parent
    )
    http.server.state.drain()
    event = {**message.to_json(), "type": "message", "channel": chan.id, "channel_type": "channel"}
    body = json.dumps(http.server.event_callback(event)).encode()
    url = http.server.events_url
    answers = [
        await http.server.http.post(
            url, body, "application/json", retry_num=n, reason="http_timeout"
        )
        for n in (0, 1, 2)
    ]
    assert [status for status, _ in answers] == [200, 200, 200]

    async def recorded() -> list[Contribution] | None:
        return await contributions(http) or None

    rows = await eventually(recorded, "the answer recorded")
    await http.server.script.wait_acked()
    rows = await contributions(http)
    assert [(r.message_id, r.content) for r in rows] == [
        (f"{chan.id}/{message.ts}", "Splines: knots trade bias for variance.")
    ]

    forged = http.server.state.post(chan, student.id, "forged", thread_ts=parent)
    http.server.state.drain()
    event = {**forged.to_json(), "type": "message", "channel": chan.id, "channel_type": "channel"}
    http.server.http.wrong_secret = "not-the-signing-secret"
    status, _ = await http.server.http.post(
        url, json.dumps(http.server.event_callback(event)).encode(), "application/json"
    )
    http.server.http.wrong_secret = None
    assert status == 401
    assert len(await contributions(http)) == 1
