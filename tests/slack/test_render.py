"""How the core's messages look on Slack, and how Slack's deliveries are keyed (pure parts)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from bot.chat import Button, ButtonStyle, OutgoingMessage, marker_of
from bot.discussions.answers import format_relayed
from bot.discussions.incoming import snowflake_key
from bot.timeparse import discord_timestamp
from slackapp.app import action_key, event_key, message_target
from slackapp.chat import (
    blocks_of,
    channel_name,
    fallback_text,
    message_id,
    split_message,
    split_target,
    thread_id,
)
from slackapp.mrkdwn import slack_date, to_mrkdwn

MOMENT = datetime(2030, 1, 23, 17, 0, tzinfo=UTC)


def test_times_become_slack_dates_each_reader_sees_in_their_own_zone() -> None:
    text = f"closes {discord_timestamp(MOMENT, 'F')} ({discord_timestamp(MOMENT, 'R')})"
    epoch = int(MOMENT.timestamp())
    assert to_mrkdwn(text) == (
        f"closes <!date^{epoch}^{{date_long_pretty}} {{time}}|2030-01-23 17:00 UTC> "
        f"(<!date^{epoch}^{{ago}}|2030-01-23 17:00 UTC>)"
    )
    assert (
        slack_date(epoch) == f"<!date^{epoch}^{{date_short_pretty}} {{time}}|2030-01-23 17:00 UTC>"
    )


def test_user_text_never_pings_and_shows_as_typed() -> None:
    assert to_mrkdwn("<!channel> & <@U999> <b>") == "&lt;!channel&gt; &amp; &lt;@U999&gt; &lt;b&gt;"
    assert to_mrkdwn("hi <@U123>", mention_user_ids=("U123",)) == "hi <@U123>"
    assert to_mrkdwn("**Week 1**") == "*Week 1*"


def test_a_thread_link_points_at_its_channel() -> None:
    assert to_mrkdwn("answers in <#C42/1733570000.000100>") == "answers in <#C42>"


def test_the_marker_is_a_small_context_line_and_reads_back_from_the_text() -> None:
    message = OutgoingMessage(
        text="Week 1 is open",
        buttons=(
            Button("Answer", "answer:7", ButtonStyle.PRIMARY),
            Button("Gone", "gone:1", disabled=True),
            Button("Guide", url="https://example.org/guide"),
        ),
        marker="prompt 7 · opened",
    )
    blocks = blocks_of(message)
    assert [b["type"] for b in blocks] == ["section", "actions", "context"]
    answer, guide = blocks[1]["elements"]
    assert (answer["action_id"], answer["value"], answer["style"]) == (
        "answer:7",
        "answer:7",
        "primary",
    )
    assert guide["url"] == "https://example.org/guide"
    assert blocks[2]["elements"][0]["text"] == "cohortbot prompt 7 · opened"
    assert marker_of(fallback_text(message)) == "prompt 7 · opened"


def test_a_long_text_is_cut_into_sections_slack_accepts() -> None:
    blocks = blocks_of(OutgoingMessage(text="x" * 7000))
    assert [len(b["text"]["text"]) for b in blocks] == [3000, 3000, 1000]


def test_thread_ids_carry_the_parent_ts() -> None:
    assert thread_id("C1", "1733570000.000100") == "C1/1733570000.000100"
    assert split_target("C1/1733570000.000100") == ("C1", "1733570000.000100")
    assert split_target("C1") == ("C1", None)
    # A message's id names its channel too: a ts repeats across channels.
    assert message_id("C1", "1733570000.000100") == "C1/1733570000.000100"
    assert split_message("C1/1733570000.000100") == ("C1", "1733570000.000100")
    assert split_message("1733570000.000100", "C9") == ("C9", "1733570000.000100")


def test_message_ids_of_one_thread_order_by_their_ts_as_the_port_promises() -> None:
    """The recorder keeps the newest id it has read per thread by the port's order."""
    ts = ["1733570009.999999", "1733570010.000001", "1733570010.000100", "1733570100.000000"]
    ids = [message_id("C0ABCDEF12", t) for t in ts]
    assert sorted(reversed(ids), key=snowflake_key) == ids
    assert channel_name("Week 1: Bias & Variance!") == "week-1-bias-variance"


def test_a_message_is_keyed_by_where_it_is_and_anything_else_by_event_id() -> None:
    post: dict[str, Any] = {
        "team_id": "T1",
        "event_id": "Ev1",
        "event": {"type": "message", "channel": "C1", "ts": "1.000200", "thread_ts": "1.000100"},
    }
    again = {**post, "event_id": "Ev2"}  # the same post delivered under another event id
    assert event_key(post) == event_key(again) == "slack:T1:msg:C1/1.000200"
    elsewhere = {**post, "event": {**post["event"], "channel": "C2"}}  # same ts, other channel
    assert event_key(elsewhere) == "slack:T1:msg:C2/1.000200"
    edit = {
        "team_id": "T1",
        "event_id": "Ev3",
        "event": {"type": "message", "subtype": "message_changed"},
    }
    assert event_key(edit) == "slack:T1:event:Ev3"
    assert message_target(post["event"]) == "C1/1.000100"
    assert message_target({"channel": "C1", "ts": "1.0", "thread_ts": "1.0"}) == "C1"


def test_a_redelivered_click_has_one_key_and_a_second_click_another() -> None:
    body: dict[str, Any] = {
        "team": {"id": "T1"},
        "user": {"id": "U1"},
        "channel": {"id": "C1"},
        "message": {"ts": "5.5"},
    }
    click = {"action_id": "rsvp:3", "action_ts": "9.1"}
    first = action_key(body, click)
    assert first == action_key(body, dict(click)) == "slack:T1:action:rsvp:3:C1/5.5:U1:9.1"
    # A deliberate second click is its own (answered; the service counts it once).
    assert action_key(body, {**click, "action_ts": "9.2"}) != first
    other = action_key({**body, "user": {"id": "U2"}}, click)
    assert other != first
    # The same ts in another channel is another message: its click is not the same click.
    elsewhere = {**body, "channel": {"id": "C2"}}
    assert action_key(elsewhere, click) != first


def test_a_relayed_answer_names_its_author_as_a_mention_and_shows_typed_markup() -> None:
    (text,) = format_relayed("U1", "thanks <@U2> <!here> <@&R1>")
    message = OutgoingMessage(text, named_user_ids=("U1",))
    shown = "*Answer from <@U1>*\nthanks &lt;@U2&gt; &lt;!here&gt; &lt;@&amp;R1&gt;"
    assert blocks_of(message)[0]["text"]["text"] == shown
    assert fallback_text(message) == shown
    # Without the core naming anyone, nothing in the text becomes a mention.
    assert "<@" not in blocks_of(OutgoingMessage(text))[0]["text"]["text"]
