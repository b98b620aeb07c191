"""The Web API through slack_sdk's AsyncWebClient: Slack's shapes, errors, pagination, limits."""

from __future__ import annotations

import pytest
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_async_handlers import AsyncRateLimitErrorRetryHandler
from slack_sdk.web.async_client import AsyncWebClient

from cohortlab.localslack import LocalSlackServer, Window

pytestmark = pytest.mark.e2e


async def _error(coro: object) -> str:
    with pytest.raises(SlackApiError) as info:
        await coro  # type: ignore[misc]
    return str(info.value.response["error"])


async def test_auth_test_names_the_bot_and_bad_tokens_are_refused(
    server: LocalSlackServer, web: AsyncWebClient
) -> None:
    me = await web.auth_test()
    assert me["user_id"] == server.bot_user_id and me["team_id"] == "T0COHORT"
    assert me["bot_id"] == server.bot_id
    wrong = AsyncWebClient(token="xoxb-wrong", base_url=server.api_base)
    assert await _error(wrong.auth_test()) == "invalid_auth"
    app_token = AsyncWebClient(token=server.app_token, base_url=server.api_base)
    assert await _error(app_token.auth_test()) == "not_allowed_token_type"
    assert await _error(web.apps_connections_open(app_token=server.bot_token)) == (
        "not_allowed_token_type"
    )
    assert await _error(web.api_call("chat.teleport")) == "unknown_method"


async def test_thread_replies_broadcast_edit_delete_and_their_events(
    server: LocalSlackServer, web: AsyncWebClient
) -> None:
    alice = server.script.add_user("alice")
    chan = server.script.add_channel("math70097", members=[alice])
    parent = await web.chat_postMessage(
        channel=chan.id,
        text="Week 1 prompt",
        blocks=[{"type": "section", "text": {"type": "mrkdwn", "text": "*Week 1*"}}],
    )
    reply_ts = await alice.post(chan, "my answer", thread_ts=parent["ts"])
    shout = await web.chat_postMessage(
        channel=chan.id, text="also here", thread_ts=reply_ts, reply_broadcast=True
    )
    assert shout["message"]["thread_ts"] == parent["ts"]  # a reply's ts means its thread
    await alice.edit(chan, reply_ts, "my better answer")
    replies = await web.conversations_replies(channel=chan.id, ts=parent["ts"])
    texts = [m["text"] for m in replies["messages"]]
    assert texts == ["Week 1 prompt", "my better answer", "also here"]
    assert replies["messages"][0]["reply_count"] == 2
    assert replies["messages"][1]["edited"]["user"] == alice.id
    assert replies["messages"][1]["parent_user_id"] == server.bot_user_id
    history = await web.conversations_history(channel=chan.id)
    assert [m["text"] for m in history["messages"]] == ["also here", "Week 1 prompt"]
    assert await _error(web.chat_update(channel=chan.id, ts=reply_ts, text="x")) == (
        "cant_update_message"
    )
    await web.chat_delete(channel=chan.id, ts=shout["ts"])
    await alice.delete(chan, reply_ts)
    events = [d.payload["event"] for d in server.deliveries]
    subtypes = [e.get("subtype") for e in events if e["type"] == "message"]
    assert subtypes.count("message_changed") == 1 and subtypes.count("message_deleted") == 2
    deleted = [e for e in events if e.get("subtype") == "message_deleted"]
    assert deleted[-1]["deleted_ts"] == reply_ts and deleted[-1]["thread_ts"] == parent["ts"]


async def test_history_pages_newest_first_with_oldest_and_latest(
    server: LocalSlackServer, web: AsyncWebClient
) -> None:
    alice = server.script.add_user("alice")
    chan = server.script.add_channel("math70097", members=[alice])
    stamps = [await alice.post(chan, f"m{i}") for i in range(7)]
    assert stamps == sorted(stamps, key=float) and len(set(stamps)) == 7
    seen: list[str] = []
    cursor = ""
    while True:
        page = await web.conversations_history(channel=chan.id, limit=3, cursor=cursor)
        seen += [m["text"] for m in page["messages"]]
        cursor = page["response_metadata"]["next_cursor"]
        assert page["has_more"] == bool(cursor)
        if not cursor:
            break
    assert seen == [f"m{i}" for i in reversed(range(7))]
    window = await web.conversations_history(channel=chan.id, oldest=stamps[1], latest=stamps[4])
    assert [m["text"] for m in window["messages"]] == ["m3", "m2"]
    inclusive = await web.conversations_history(
        channel=chan.id, oldest=stamps[1], latest=stamps[4], inclusive=True
    )
    assert [m["text"] for m in inclusive["messages"]] == ["m4", "m3", "m2", "m1"]


async def test_channels_people_and_dms(server: LocalSlackServer, web: AsyncWebClient) -> None:
    alice = server.script.add_user("alice", email="Alice@Uni.ac.uk", tz="Asia/Tokyo")
    bob = server.script.add_user("bob", email="bob@uni.ac.uk")
    created = await web.conversations_create(name="prompt-week-1", is_private=True)
    cid = created["channel"]["id"]
    assert created["channel"]["is_private"] and created["channel"]["is_member"]
    assert await _error(web.conversations_create(name="prompt-week-1")) == "name_taken"
    assert await _error(web.conversations_create(name="Bad Name")) == "invalid_name_specials"
    await web.conversations_invite(channel=cid, users=f"{alice.id},{bob.id}")
    assert await _error(web.conversations_invite(channel=cid, users=alice.id)) == (
        "already_in_channel"
    )
    members = await web.conversations_members(channel=cid)
    assert set(members["members"]) == {server.bot_user_id, alice.id, bob.id}
    await web.conversations_kick(channel=cid, user=bob.id)
    assert bob.id not in (await web.conversations_members(channel=cid))["members"]
    found = await web.users_lookupByEmail(email="alice@uni.ac.uk")
    assert found["user"]["id"] == alice.id and found["user"]["tz"] == "Asia/Tokyo"
    assert await _error(web.users_lookupByEmail(email="nobody@uni.ac.uk")) == "users_not_found"
    assert (await web.users_info(user=bob.id))["user"]["name"] == "bob"
    listed = await web.users_list(limit=2)
    assert len(listed["members"]) == 2 and listed["response_metadata"]["next_cursor"]
    dm = await web.conversations_open(users=alice.id)
    await web.chat_postMessage(channel=dm["channel"]["id"], text="Your review is due")
    assert [m.text for m in alice.dms()] == ["Your review is due"]
    public = await web.conversations_list()
    assert cid not in [c["id"] for c in public["channels"]]
    both = await web.conversations_list(types="public_channel,private_channel")
    assert cid in [c["id"] for c in both["channels"]]
    await web.conversations_archive(channel=cid)
    assert await _error(web.chat_postMessage(channel=cid, text="x")) == "is_archived"
    kinds = [d.payload["event"]["type"] for d in server.deliveries]
    assert kinds.count("member_joined_channel") == 2 and "member_left_channel" in kinds


async def test_ephemeral_permalink_and_errors_in_slacks_words(
    server: LocalSlackServer, web: AsyncWebClient
) -> None:
    alice = server.script.add_user("alice")
    bob = server.script.add_user("bob")
    chan = server.script.add_channel("math70097", members=[alice])
    await web.chat_postEphemeral(channel=chan.id, user=alice.id, text="only you")
    assert [e.text for e in server.script.ephemerals(alice)] == ["only you"]
    assert await _error(web.chat_postEphemeral(channel=chan.id, user=bob.id, text="x")) == (
        "user_not_in_channel"
    )
    posted = await web.chat_postMessage(channel=chan.id, text="hi")
    link = await web.chat_getPermalink(channel=chan.id, message_ts=posted["ts"])
    assert link["permalink"].endswith("p" + posted["ts"].replace(".", ""))
    assert await _error(web.chat_postMessage(channel="C404", text="x")) == "channel_not_found"
    with pytest.warns(UserWarning):  # slack_sdk warns too, before Slack refuses
        assert await _error(web.chat_postMessage(channel=chan.id, text="")) == "no_text"
    assert await _error(web.chat_delete(channel=chan.id, ts="1.000001")) == "message_not_found"


async def test_rate_limit_429_retry_after_is_honoured_by_slack_sdks_retry_handler(
    server: LocalSlackServer, web: AsyncWebClient
) -> None:
    chan = server.script.add_channel("math70097")
    server.rate_limits = True
    server.ratelimiter.overrides["chat.postMessage"] = Window(limit=1, seconds=1.0)
    web.retry_handlers.append(AsyncRateLimitErrorRetryHandler(max_retry_count=2))
    await web.chat_postMessage(channel=chan.id, text="one")
    await web.chat_postMessage(channel=chan.id, text="two")
    statuses = [c.status for c in server.calls_to("chat.postMessage")]
    assert statuses[:2] == [200, 429] and statuses[-1] == 200
    assert [m.text for m in server.script.messages(chan)] == ["one", "two"]
    server.rate_limits = False
    bare = AsyncWebClient(token=server.bot_token, base_url=server.api_base)
    server.faults.fail_next("chat.postMessage", status=429, retry_after=7)
    with pytest.raises(SlackApiError) as info:
        await bare.chat_postMessage(channel=chan.id, text="three")
    assert info.value.response.status_code == 429
    assert info.value.response.headers["Retry-After"] == "7"
    if bare.session is not None:
        await bare.session.close()


async def test_faults_answer_the_planned_error_then_recover(
    server: LocalSlackServer, web: AsyncWebClient
) -> None:
    chan = server.script.add_channel("math70097")
    server.faults.fail_next("chat.*", "internal_error", times=2)
    assert await _error(web.chat_postMessage(channel=chan.id, text="a")) == "internal_error"
    assert await _error(web.chat_postMessage(channel=chan.id, text="a")) == "internal_error"
    assert (await web.chat_postMessage(channel=chan.id, text="a"))["ok"]
    server.faults.fail_next("users.info", status=503)
    with pytest.raises(SlackApiError) as info:
        await web.users_info(user=server.bot_user_id)
    assert info.value.response.status_code == 503


async def test_deleting_a_thread_parent_leaves_a_tombstone_and_the_replies(
    server: LocalSlackServer, web: AsyncWebClient
) -> None:
    alice = server.script.add_user("alice")
    chan = server.script.add_channel("math70097", members=[alice])
    parent = await alice.post(chan, "question")
    await web.chat_postMessage(channel=chan.id, text="answer", thread_ts=parent)
    await alice.delete(chan, parent)
    replies = await web.conversations_replies(channel=chan.id, ts=parent)
    assert [(m.get("subtype"), m["text"]) for m in replies["messages"]] == [
        ("tombstone", "This message was deleted."),
        (None, "answer"),
    ]
    changed = server.deliveries[-1].payload["event"]
    assert changed["subtype"] == "message_changed"
    assert changed["previous_message"]["text"] == "question"
