"""Pure pieces of discussions: relayed answers, the grades CSV, rubric specs, prompt text."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.discord_links import DISCORD_LINKS
from bot.discussions.answers import format_relayed, parse_relayed
from bot.discussions.grades_csv import parse_grades_csv
from bot.discussions.render import MENTION_ROOM, marker_of, prompt_messages
from bot.discussions.rubric import PRESETS, RubricError, parse_rubric_spec, preset
from bot.discussions.text import count_words
from bot.text import DISCORD_MESSAGE_LIMIT
from slackapp.links import SlackLinks


def test_a_relayed_answer_names_its_author_and_keeps_the_text() -> None:
    (message,) = format_relayed("123456789012345678", "My answer <@42> @everyone.")
    assert message.startswith("**Answer from <@123456789012345678>**\n")
    post = parse_relayed(message)
    assert post is not None
    assert post.author_platform_id == "123456789012345678"
    assert post.parent_message_id is None
    assert post.body == "My answer <@42> @everyone."


def test_a_relayed_reply_carries_its_parent() -> None:
    link = DISCORD_LINKS.link("1", "22", "333333333333333333")
    assert link == "https://discord.com/channels/1/22/333333333333333333"
    (message,) = format_relayed("5", "I agree with you.", reply_link=link)
    post = parse_relayed(message, DISCORD_LINKS)
    assert post is not None and post.parent_message_id == "333333333333333333"


def test_a_relayed_reply_on_slack_carries_its_parent_as_slack_shows_the_link() -> None:
    links = SlackLinks("https://cohort.slack.com/")
    link = links.link("T1", "C0123ABCD/1700000000.000100", "C0123ABCD/1700000000.123456")
    assert link == (
        "https://cohort.slack.com/archives/C0123ABCD/p1700000000123456"
        "?thread_ts=1700000000.000100&cid=C0123ABCD"
    )
    (message,) = format_relayed("U0123", "I agree with you.", reply_link=link)
    shown = message.replace("**", "*").replace(f"to {link}", f"to <{link}>")
    post = parse_relayed(shown, links)
    assert post is not None and post.parent_message_id == "C0123ABCD/1700000000.123456"
    assert post.body == "I agree with you."


def test_each_platform_reads_only_its_own_message_links() -> None:
    slack = SlackLinks()
    assert slack.message_id("https://x.slack.com/archives/C1/p1700000000123456") == (
        "C1/1700000000.123456"
    )
    assert slack.message_id("C1/1700000000.123456") == "C1/1700000000.123456"
    assert slack.message_id("https://discord.com/channels/1/22/333333333333333333") is None
    assert slack.message_id("https://x.slack.com/archives/C1") is None
    assert DISCORD_LINKS.message_id("333333333333333333") == "333333333333333333"
    assert DISCORD_LINKS.message_id("https://x.slack.com/archives/C1/pabc") is None


@given(st.text(min_size=1, max_size=4000).filter(lambda t: t.strip()))
def test_long_answers_split_within_limits_and_each_part_is_attributed(text: str) -> None:
    messages = format_relayed("987654321098765432", text)
    assert all(len(m) <= DISCORD_MESSAGE_LIMIT for m in messages)
    parsed = [parse_relayed(m) for m in messages]
    assert all(p is not None and p.author_platform_id == "987654321098765432" for p in parsed)


def test_text_that_only_looks_like_a_header_is_not_relayed() -> None:
    assert parse_relayed("Answer from <@1>\nhello") is None
    assert parse_relayed("🔒 **Week 1** closed") is None


def test_grades_csv_reads_rows_and_skips_blank_ones() -> None:
    data = (
        b"student_number,name,discord,score,max,quality_points,feedback,explanation\n"
        b"02510001,Amara,amara.codes,4,12,3,Good use of examples,x\n"
        b"02510002,Lukas,lukasb_92,0,12,,,x\n"
        b"02510003,Mei,meilin.tan,4,12,2.5,,x\n"
    )
    parsed = parse_grades_csv(data)
    assert parsed.errors == []
    assert [(r.line, r.identifier, r.quality, r.feedback) for r in parsed.rows] == [
        (2, "02510001", Decimal(3), "Good use of examples"),
        (4, "02510003", Decimal("2.5"), None),
    ]


def test_grades_csv_lists_every_problem_with_its_line() -> None:
    data = b"discord,quality_points\namy,three\n,2\namy,1\nbob,NaN\n"
    parsed = parse_grades_csv(data)
    assert parsed.errors == [
        "line 2: quality 'three' is not a number",
        "line 3: the discord is empty",
        "line 4: amy already appears on line 2",
        "line 5: quality 'NaN' is not a number",
    ]


@pytest.mark.parametrize(
    ("data", "error"),
    [
        (b"", "the file is empty: expected a header line"),
        (b"name,quality_points\nA,1\n", "student_number, discord or email column"),
        (b"discord,score\nA,1\n", "quality_points and/or a feedback column"),
        (b"\xff\xfe", "not UTF-8"),
        (b"discord,quality,colour\na,1,red\n", "unknown column 'colour'"),
    ],
)
def test_grades_csv_refuses_unusable_files(data: bytes, error: str) -> None:
    parsed = parse_grades_csv(data)
    assert parsed.rows == []
    assert error in parsed.errors[0]


def test_rubric_specs() -> None:
    assert parse_rubric_spec(None) == PRESETS["standard"]
    assert parse_rubric_spec("light") == preset("light")
    changed = parse_rubric_spec("light replies_required=2 late_policy=not_counted")
    assert changed.name == "custom"
    assert changed.replies_required == 2 and changed.late_policy == "not_counted"
    assert changed.initial_min_words == preset("light").initial_min_words
    assert parse_rubric_spec('{"initial_min_words": 200}').initial_min_words == 200
    for bad, sentence in [
        ("fancy", "There is no rubric preset 'fancy'"),
        ("standard reply_min_word=3", "Unknown rubric setting 'reply_min_word'"),
        ("standard replies_required", "Write rubric changes as setting=value"),
        ("{nope", "not valid JSON"),
        ("initial_min_words=0", "must be a whole number from 1"),
    ]:
        with pytest.raises(RubricError, match=sentence):
            parse_rubric_spec(bad)


def test_a_long_prompt_is_split_and_the_rubric_stays_whole() -> None:
    body = "\n\n".join("paragraph " * 60 for _ in range(7))
    messages = prompt_messages(
        prompt_id=7,
        module_code="MATH70097",
        module_title="Supervised Learning",
        title="Week 3",
        body=body,
        closes_at=datetime(2026, 1, 23, 17, tzinfo=UTC),
        rubric=preset("standard"),
        private_answers=True,
    )
    assert len(messages) >= 3
    # room for the module-role mention the first part starts with
    assert all(len(m) <= DISCORD_MESSAGE_LIMIT - MENTION_ROOM for m in messages)
    n = len(messages)  # each part says which it is, so a retry can find it
    assert [marker_of(m) for m in messages] == [
        f"-# cohortbot prompt 7 · part {i} of {n}" for i in range(1, n + 1)
    ]
    assert marker_of("-# cohortbot prompt 7 · part 1 of 3\nquoted by a student") is None
    assert "prompt #7" in messages[0]
    assert "**Total**: 12 points." in messages[-1] and "Press **Answer**" in messages[-1]
    assert sum(m.count("paragraph") for m in messages) == 7 * 60


def _reference_count_words(text: str) -> int:
    """The word count as first written: every removal step, then split and test each token."""
    from bot.discussions import text as t

    text = t._FENCED_CODE.sub(" ", text)
    text = t._drop_quotes(text)
    text = t._MASKED_LINK.sub(r" \1 ", text)
    text = t._BRACKET_URL.sub(" ", text)
    text = t._BARE_URL.sub(" ", text)
    text = t._DISCORD_TOKEN.sub(" ", text)
    text = t._EVERYONE_HERE.sub(" ", text)
    text = t._LIST_MARKER.sub(" ", text)
    split = re.compile(r"[\s\u2013\u2014]+")
    return sum(1 for token in split.split(text) if any(ch.isalnum() for ch in token))


_PIECES = st.sampled_from(
    [
        "word",
        "don't",
        "x_y",
        "__",
        "_",
        "42",
        "—",
        "–",
        "-",
        "...",
        "```",
        "```py\n",
        ">",
        "> ",
        ">>> ",
        "\n",
        "\n\n",
        " ",
        "  ",
        "\t",
        "<@123>",
        "<@&9>",
        "<#5>",
        "<:e:1>",
        "<t:17:R>",
        "@everyone",
        "@here",
        "https://x.org/a",
        "<https://x.org>",
        "[the paper]",
        "(https://x.org)",
        "1.",
        "2)",
        "* ",
        "- ",
        "+ ",
        "**bold**",
        "日本語",
        "é",
        "٣",
        "`code`",
    ]
)


@given(st.lists(st.one_of(_PIECES, st.text(max_size=6)), max_size=40).map("".join))
def test_the_fast_word_count_agrees_with_the_reference(text: str) -> None:
    assert count_words(text) == _reference_count_words(text)
