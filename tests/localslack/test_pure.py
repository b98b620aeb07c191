"""The server's pure parts: timestamps, rate windows, signatures, Slack's rules on state."""

from __future__ import annotations

import itertools

import pytest
from slack_sdk.signature import SignatureVerifier

from cohortlab.localslack import SlackError, SlackRateLimiter, Window, sign
from cohortlab.localslack.models import TsClock
from cohortlab.localslack.state import SlackState


def test_timestamps_are_slack_shaped_and_strictly_increasing() -> None:
    clock = TsClock()
    stamps = [clock.next() for _ in range(1000)]
    assert all(len(s.split(".")[1]) == 6 for s in stamps)
    assert all(float(a) < float(b) for a, b in itertools.pairwise(stamps))
    assert stamps == sorted(stamps)


def test_post_message_is_limited_per_channel_and_tiers_per_method() -> None:
    limiter = SlackRateLimiter(overrides={"chat.postMessage": Window(limit=1, seconds=1.0)})
    assert limiter.check("chat.postMessage", "C1", now=0.0) == 0.0
    assert limiter.check("chat.postMessage", "C2", now=0.1) == 0.0
    assert limiter.check("chat.postMessage", "C1", now=0.5) == pytest.approx(0.5)
    assert limiter.check("chat.postMessage", "C1", now=1.0) == 0.0
    assert limiter.check("apps.connections.open", "", now=0.0) == 0.0
    assert limiter.check("apps.connections.open", "", now=30.0) == pytest.approx(30.0)
    assert limiter.check("unknown.method", "", now=0.0) == 0.0


def test_signatures_match_what_slack_sdk_verifies() -> None:
    body = b'{"type":"event_callback"}'
    headers = {"x-slack-request-timestamp": "1733570000", "x-slack-signature": ""}
    headers["x-slack-signature"] = sign("s3cret", "1733570000", body)
    verifier = SignatureVerifier("s3cret", clock=type("C", (), {"now": lambda self: 1733570001})())
    assert verifier.is_valid_request(body, headers)
    assert not SignatureVerifier("other", clock=verifier.clock).is_valid_request(body, headers)


def _error(fn: object, *args: object, **kwargs: object) -> str:
    with pytest.raises(SlackError) as info:
        fn(*args, **kwargs)  # type: ignore[operator]
    return info.value.code


def test_workspace_rules_answer_slacks_error_codes() -> None:
    state = SlackState()
    alice = state.add_user("alice", email="a@x.org")
    chan = state.create_channel("week-1", creator=state.bot.id, private=True)
    assert _error(state.post, chan, alice.id, "hi") == "not_in_channel"
    assert _error(state.kick, chan, state.bot.id, state.bot.id) == "cant_kick_self"
    state.invite(chan, state.bot.id, [alice.id])
    msg = state.post(chan, alice.id, "hi")
    assert _error(state.update, chan, msg.ts, state.bot.id, text="x") == "cant_update_message"
    assert _error(state.post, chan, alice.id, "x" * 40_001) == "msg_too_long"
    assert _error(state.post, chan, alice.id, "x", thread_ts="1.000000") == "thread_not_found"
    view = state.open_view(
        alice.id, {"type": "modal", "title": {"type": "plain_text", "text": "t"}}
    )
    assert _error(state.update_view, view, dict(view.view), "stale-hash") == "hash_conflict"
    assert state.user_by_email("A@X.ORG") is alice
    dm = state.open_dm(state.bot.id, [alice.id])
    assert state.open_dm(alice.id, [state.bot.id]) is dm and dm.is_im
