"""The outbox's pure rules: markers read back what was written, the retry policy, content."""

from __future__ import annotations

from datetime import timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.chat import Button, ButtonStyle, OutgoingMessage, marker_of, with_marker
from bot.outbox.message import Message, content_of, message_of
from bot.outbox.policy import (
    BACKOFF,
    LEASE,
    MAX_ATTEMPTS,
    Next,
    after_failure,
    backoff,
    default_marker,
    send_timeout,
    start_deadline,
)

texts = st.text(st.characters(codec="utf-8"), max_size=200)
markers = st.from_regex(r"[a-z]{1,8} [0-9]{1,6}( · [a-z0-9 ]{1,12})?", fullmatch=True)


@given(text=texts, marker=markers)
def test_the_marker_written_is_the_marker_read_back(text: str, marker: str) -> None:
    sent = with_marker(OutgoingMessage(text, marker=marker))
    assert marker_of(sent) == marker.strip()


@given(text=texts)
def test_a_message_without_a_marker_is_sent_as_written(text: str) -> None:
    assert with_marker(OutgoingMessage(text)) == text


def test_markers_compare_whole_and_old_ones_still_read() -> None:
    assert marker_of("hello\n-# cohortbot peer 42") == "peer 42"
    assert marker_of("hello\n-# cohortbot peer 42") != "peer 4"
    assert marker_of("-# cohortbot notice 7\n") == "notice 7"
    assert marker_of("prompt\n-# cohortbot prompt 3 · part 1 of 2") == "prompt 3 · part 1 of 2"
    assert marker_of("-# cohortbot peer 1\nquoted by a student") is None
    assert default_marker(12) == "out 12"


@given(attempts=st.integers(min_value=1, max_value=50))
def test_backoff_grows_and_is_bounded(attempts: int) -> None:
    assert BACKOFF[0] <= backoff(attempts) <= BACKOFF[-1]
    assert backoff(attempts) <= backoff(attempts + 1)


@given(attempts=st.integers(min_value=1, max_value=20), retryable=st.booleans())
def test_a_failure_is_retried_only_while_it_may_succeed(attempts: int, retryable: bool) -> None:
    step = after_failure(retryable=retryable, attempts=attempts)
    if retryable and attempts < MAX_ATTEMPTS:
        assert step.next is Next.RETRY and step.delay == backoff(attempts)
    else:
        assert step.next is Next.FAIL


def test_a_live_sender_never_overlaps_a_takeover() -> None:
    # Starts no send after half the lease, waits at most a quarter for an answer.
    assert start_deadline() + send_timeout() < LEASE.total_seconds()
    assert start_deadline(timedelta(seconds=8)) == 4


@given(
    text=texts,
    labels=st.lists(st.text(min_size=1, max_size=20), max_size=3),
    role=st.none() | st.from_regex(r"[0-9]{3,18}", fullmatch=True),
)
def test_content_round_trips_through_its_stored_form(
    text: str, labels: list[str], role: str | None
) -> None:
    buttons = tuple(
        Button(label, f"cb:{i}", ButtonStyle.PRIMARY, disabled=i % 2 == 0)
        for i, label in enumerate(labels)
    )
    message = Message(
        key="k",
        feature="f",
        kind="k",
        text=text,
        channel_id="1",
        buttons=buttons,
        mention_role_id=role,
    )
    out = message_of(content_of(message), "out 1")
    assert out == OutgoingMessage(text, buttons=buttons, mention_role_id=role, marker="out 1")


def test_a_message_goes_somewhere_and_only_one_way() -> None:
    with pytest.raises(ValueError, match="nowhere"):
        Message(key="k", feature="f", kind="k", text="t")
    with pytest.raises(ValueError, match="not both"):
        Message(key="k", feature="f", kind="k", text="t", person_id=1, channel_id="2")
