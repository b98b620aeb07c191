"""Buttons, modals, response_url and file uploads, driven from an app on slack_sdk."""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest
from slack_sdk.socket_mode.request import SocketModeRequest
from slack_sdk.web.async_client import AsyncWebClient

from cohortlab.localslack import LocalSlackServer
from tests.localslack.conftest import socket_app

pytestmark = pytest.mark.e2e

RUBRIC = {
    "type": "modal",
    "callback_id": "rubric",
    "title": {"type": "plain_text", "text": "Review"},
    "submit": {"type": "plain_text", "text": "Send"},
    "private_metadata": "assignment-7",
    "blocks": [
        {
            "type": "input",
            "block_id": "score",
            "label": {"type": "plain_text", "text": "Score"},
            "element": {
                "type": "static_select",
                "action_id": "pick",
                "options": [
                    {"text": {"type": "plain_text", "text": str(n)}, "value": str(n)}
                    for n in range(1, 6)
                ],
            },
        },
        {
            "type": "input",
            "block_id": "comment",
            "label": {"type": "plain_text", "text": "Comment"},
            "element": {"type": "plain_text_input", "action_id": "text", "multiline": True},
        },
    ],
}

BUTTON = [
    {
        "type": "actions",
        "block_id": "review",
        "elements": [
            {
                "type": "button",
                "action_id": "open_rubric",
                "text": {"type": "plain_text", "text": "Review"},
                "value": "assignment-7",
            }
        ],
    }
]


async def test_button_opens_a_modal_and_submit_carries_typed_values(
    server: LocalSlackServer, web: AsyncWebClient
) -> None:
    alice = server.script.add_user("alice")
    async with socket_app(server, web) as app:
        opened: list[dict[str, Any]] = []

        async def on_click(req: SocketModeRequest) -> None:
            if req.payload["type"] == "block_actions":
                got = await web.views_open(trigger_id=req.payload["trigger_id"], view=RUBRIC)
                opened.append(dict(got.data) if isinstance(got.data, dict) else {})

        def answer(req: SocketModeRequest) -> Any:
            if req.payload["type"] == "view_submission":
                values = req.payload["view"]["state"]["values"]
                if not values["comment"]["text"]["value"]:
                    return {"response_action": "errors", "errors": {"comment": "Say why."}}
            return None

        app.answers["interactive"] = answer
        dm = await web.chat_postMessage(channel=alice.id, text="Review due", blocks=BUTTON)
        click = await alice.click(dm["ts"], "open_rubric")
        assert click.acked
        [req] = [r for r in app.requests if r.payload["type"] == "block_actions"]
        assert req.payload["actions"][0]["value"] == "assignment-7"
        assert req.payload["container"]["message_ts"] == dm["ts"]
        await on_click(req)
        [view] = alice.open_views
        assert view.callback_id == "rubric" and opened[0]["view"]["id"] == view.id
        refused = await alice.submit(view, {"score": {"pick": "4"}})
        assert refused.errors == {"comment": "Say why."} and alice.open_views == [view]
        with pytest.raises(AssertionError, match=r"no input score\.nope"):
            await alice.submit(view, {"score": {"nope": "1"}})
        done = await alice.submit(view, {"score": {"pick": "4"}, "comment": {"text": "Clear."}})
        assert done.closed and alice.open_views == []
        values = app.requests[-1].payload["view"]["state"]["values"]
        assert values["score"]["pick"]["selected_option"]["value"] == "4"
        assert values["comment"]["text"] == {"type": "plain_text_input", "value": "Clear."}
        assert app.requests[-1].payload["view"]["private_metadata"] == "assignment-7"
        with pytest.raises(AssertionError, match="cannot submit"):
            await alice.submit(view, {"score": {"pick": "4"}})


async def test_a_trigger_opens_one_modal_and_expires(
    server: LocalSlackServer, web: AsyncWebClient
) -> None:
    alice = server.script.add_user("alice")
    server.state.trigger_ttl = 0.0
    async with socket_app(server, web) as app:
        await alice.slash("/review")
        trigger = app.requests[-1].payload["trigger_id"]
    from slack_sdk.errors import SlackApiError

    with pytest.raises(SlackApiError, match="expired_trigger_id"):
        await web.views_open(trigger_id=trigger, view=RUBRIC)
    server.state.trigger_ttl = 60.0
    fresh = server.state.new_trigger(alice.id)
    await web.views_open(trigger_id=fresh, view=RUBRIC)
    with pytest.raises(SlackApiError, match="trigger_exchanged"):
        await web.views_open(trigger_id=fresh, view=RUBRIC)


async def test_response_url_replies_ephemerally_in_channel_and_replaces_the_original(
    server: LocalSlackServer, web: AsyncWebClient
) -> None:
    alice = server.script.add_user("alice")
    chan = server.script.add_channel("tutorials", members=[alice])
    rsvp = [
        {
            "type": "actions",
            "block_id": "rsvp",
            "elements": [
                {"type": "button", "action_id": "yes", "text": {"type": "plain_text", "text": "Y"}}
            ],
        }
    ]
    async with socket_app(server, web) as app:
        result = await alice.slash("/marks", channel=chan)
        url = app.requests[-1].payload["response_url"]
        async with aiohttp.ClientSession() as http:
            await http.post(url, json={"text": "Your marks: 7/10"})
            await http.post(url, json={"text": "Posted for all", "response_type": "in_channel"})
            assert [e.text for e in result.ephemerals] == ["Your marks: 7/10"]
            assert [m.text for m in server.script.messages(chan)] == ["Posted for all"]
            posted = await web.chat_postMessage(channel=chan.id, text="RSVP", blocks=rsvp)
            click = await alice.click(posted["ts"], "yes")
            click_url = app.requests[-1].payload["response_url"]
            await http.post(click_url, json={"replace_original": True, "text": "You're in"})
            assert server.state.message(chan.id, posted["ts"]).text == "You're in"
            await http.post(click_url, json={"delete_original": True})
            assert [m.text for m in server.script.messages(chan)] == ["Posted for all"]
            assert len(click.responses) == 2
            for _ in range(3):
                await http.post(click_url, json={"text": "again"})
            over = await http.post(click_url, json={"text": "sixth"})
            assert over.status == 404


async def test_external_upload_flow_shares_the_file_in_the_thread(
    server: LocalSlackServer, web: AsyncWebClient
) -> None:
    alice = server.script.add_user("alice")
    chan = server.script.add_channel("math70097", members=[alice])
    parent = await web.chat_postMessage(channel=chan.id, text="Exercise 1")
    done = await web.files_upload_v2(
        channel=chan.id,
        filename="gradebook.csv",
        content=b"student,mark\nalice,7\n",
        thread_ts=parent["ts"],
        initial_comment="Gradebook export",
    )
    file_id = done["file"]["id"]
    info = await web.files_info(file=file_id)
    assert info["file"]["name"] == "gradebook.csv" and info["file"]["size"] == 21
    [_root, share] = server.script.messages(chan, thread_ts=parent["ts"])
    assert share.subtype == "file_share" and share.text == "Gradebook export"
    assert [f.id for f in share.files] == [file_id]
    async with aiohttp.ClientSession() as http:
        url = info["file"]["url_private_download"]
        auth = {"Authorization": f"Bearer {server.bot_token}"}
        async with http.get(url, headers=auth) as got:
            assert await got.read() == b"student,mark\nalice,7\n"
        async with http.get(url, allow_redirects=False) as anonymous:
            assert anonymous.status == 302


async def test_a_student_upload_reaches_the_app_as_file_share_with_a_downloadable_file(
    server: LocalSlackServer, web: AsyncWebClient
) -> None:
    alice = server.script.add_user("alice")
    chan = server.script.add_channel("math70097", members=[alice])
    async with socket_app(server, web) as app:
        f = await alice.upload(chan, "essay.pdf", b"%PDF-1.7 essay", comment="my essay")
        await server.script.wait_for(lambda: app.events("message"), what="file_share")
        [event] = app.events("message")
        assert event["subtype"] == "file_share" and event["files"][0]["id"] == f.id
        assert event["files"][0]["mimetype"] == "application/pdf"
    info = await web.files_info(file=f.id)
    assert info["file"]["user"] == alice.id
