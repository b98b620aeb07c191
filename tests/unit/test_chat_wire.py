"""The recorder's flat queued form of a message gives back exactly the message it was."""

from __future__ import annotations

import pickle
from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from bot.access.identity import ChatUser
from bot.chat import ChatMessage, from_micros, to_micros, unwire_message, wire_message

ids = st.integers(min_value=1, max_value=2**63 - 1).map(str)
times = st.datetimes(
    min_value=datetime(2015, 1, 1),  # noqa: DTZ001 - hypothesis wants naive bounds
    max_value=datetime(2100, 1, 1),  # noqa: DTZ001
    timezones=st.just(UTC),
)
messages = st.builds(
    ChatMessage,
    id=ids,
    channel_id=ids,
    guild_id=st.none() | ids,
    # Discord gives no e-mail, so the queued form carries none.
    author=st.builds(ChatUser, ids, st.text(max_size=32), st.text(max_size=32), st.none()),
    author_is_bot=st.booleans(),
    content=st.text(max_size=300),
    created_at=times,
    edited_at=st.none() | times,
    reply_to_id=st.none() | ids,
    mention_ids=st.lists(ids, max_size=5).map(tuple),
    attachment_urls=st.lists(st.text(max_size=40), max_size=3).map(tuple),
)


@given(messages, st.sampled_from(["gateway", "backfill", "modal"]))
def test_a_message_survives_the_queue_and_the_trip_to_the_writer(
    message: ChatMessage, tag: str
) -> None:
    wired = pickle.loads(pickle.dumps(wire_message(message, tag)))
    assert wired[-1] == tag
    assert unwire_message(wired) == message


@given(times)
def test_times_are_kept_to_the_microsecond(at: datetime) -> None:
    assert from_micros(to_micros(at)) == at
    assert to_micros(at + timedelta(microseconds=1)) == to_micros(at) + 1


def test_a_naive_time_is_taken_as_utc() -> None:
    naive = datetime(2026, 1, 19, 9, 0, 0, 123456)  # noqa: DTZ001 - naive on purpose
    assert from_micros(to_micros(naive)) == naive.replace(tzinfo=UTC)
