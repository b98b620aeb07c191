"""Word counting, message splitting, mention neutralising and embed limits."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.discussions.text import count_words
from bot.text import (
    EMBED_LIMITS,
    EmbedText,
    embed_problems,
    fit_embed,
    neutralise_mentions,
    split_for_discord,
    truncate,
)

# --------------------------------------------------------------------------- count_words


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("", 0),
        ("   \n\n  ", 0),
        ("Gradient descent converges slowly here.", 5),
        ("well-known results don't always hold", 5),
        ("**Bold** claim, _italic_ aside and ~~struck~~ ||spoiler|| text", 8),
        ("# Heading\n- first point\n- second point\n1. numbered item", 7),
        ("See https://arxiv.org/abs/1706.03762 for details", 3),
        ("See <https://example.org/paper> now", 2),
        ("Read [the attention paper](https://arxiv.org/abs/1706.03762) first", 5),
        ("I agree with <@123456789012345678> and <@!42> here", 5),
        ("Ping <@&987654321> and <#1234> and @everyone @here", 3),
        ("Nice <:party:112233> work <a:spin:445566> team", 3),
        ("Due <t:1700000000:R> okay", 2),
        ("Great 🎉 idea 👍", 2),
        ("— ... !!! ???", 0),
        ("bias—variance, 2010–2020", 4),
        ("Use `pandas.merge` with `how='left'`", 4),
        ("Before\n```python\nimport numpy as np\nx = np.zeros(3)\n```\nafter", 2),
        ("Unclosed ``` fence counts as text", 5),
        ("> quoted words are not mine\nMy own reply", 3),
        (">not a quote without a space", 6),
        ("My answer first\n>>> everything quoted\nafter the marker", 3),
        ("機械学習 is fun", 3),
    ],
)
def test_word_count_rules(text: str, words: int) -> None:
    assert count_words(text) == words


def test_padding_with_code_or_links_does_not_reach_a_minimum() -> None:
    padded = "Short answer.\n```\n" + "token " * 500 + "\n```\n" + "https://x.org/a " * 50
    assert count_words(padded) == 2


@settings(deadline=None)
@given(st.text(max_size=300), st.text(max_size=300))
def test_appending_text_on_a_new_paragraph_never_lowers_the_count(a: str, b: str) -> None:
    # Whole extra paragraphs without fences or quotes can only add words.
    b = b.replace("`", "").replace(">", "")
    assert count_words(a.replace("`", "") + "\n\n" + b) >= count_words(a.replace("`", ""))


# --------------------------------------------------------------------------- split_for_discord


def test_short_text_is_one_message() -> None:
    assert split_for_discord("  hello there \n") == ["hello there"]
    assert split_for_discord("   ") == []


def test_splits_at_paragraphs_before_lines_before_words() -> None:
    para1 = "a" * 50
    para2 = "b " * 30
    chunks = split_for_discord(para1 + "\n\n" + para2.strip(), limit=60)
    assert chunks[0] == para1
    assert all(len(c) <= 60 for c in chunks)

    lines = "first line here\nsecond line here\nthird line here"
    assert split_for_discord(lines, limit=40) == [
        "first line here\nsecond line here",
        "third line here",
    ]

    words = "alpha beta gamma delta epsilon zeta eta theta iota kappa lambda"
    chunks = split_for_discord(words, limit=40)
    assert chunks == ["alpha beta gamma delta epsilon zeta eta", "theta iota kappa lambda"]


def test_a_word_longer_than_the_limit_is_cut_hard() -> None:
    chunks = split_for_discord("x" * 95, limit=40)
    assert chunks == ["x" * 40, "x" * 40, "x" * 15]


def test_a_code_block_cut_in_two_is_closed_and_reopened() -> None:
    code = "\n".join(f"print({i})" for i in range(30))
    text = "Here is my code:\n```python\n" + code + "\n```\nThat's it."
    chunks = split_for_discord(text, limit=120)
    assert len(chunks) > 1
    for chunk in chunks:
        assert len(chunk) <= 120
        assert chunk.count("```") % 2 == 0, chunk
    assert chunks[1].startswith("```python\n")
    rejoined = "".join(chunks)
    for i in range(30):
        assert f"print({i})" in rejoined


def test_a_long_unbroken_code_line_does_not_loop_forever() -> None:
    text = "```python\n" + "x" * 500 + "\n```"
    chunks = split_for_discord(text, limit=100)
    assert all(len(c) <= 100 for c in chunks)
    assert "".join(chunks).count("x") == 500


def test_limit_too_small_is_refused() -> None:
    with pytest.raises(ValueError):
        split_for_discord("hello", limit=10)


@settings(deadline=None)
@given(
    st.text(alphabet=st.sampled_from("ab c\n`"), max_size=3000),
    st.integers(min_value=40, max_value=2000),
)
def test_chunks_fit_and_lose_no_words(text: str, limit: int) -> None:
    chunks = split_for_discord(text, limit=limit)
    assert all(0 < len(c) <= limit for c in chunks)
    # Apart from fence markers added at cuts, no non-space character is lost or invented.
    original = [ch for ch in text.replace("```", "") if not ch.isspace()]
    rejoined = [ch for ch in "".join(chunks).replace("```", "") if not ch.isspace()]
    assert rejoined == original


# --------------------------------------------------------------------------- mentions


def test_everyone_here_and_roles_cannot_ping() -> None:
    text = "@everyone look, @here too, and <@&123456> and <@42>"
    out = neutralise_mentions(text)
    assert "@everyone" not in out and "@here" not in out and "<@&123456>" not in out
    assert "@\u200beveryone" in out and "<@\u200b&123456>" in out
    assert "<@42>" in out  # user mentions render as names; they cannot ping without permission


def test_user_mentions_can_be_broken_too() -> None:
    out = neutralise_mentions("thanks <@42> and <@!43>", users=True)
    assert "<@42>" not in out and "<@!43>" not in out
    assert out.replace("\u200b", "") == "thanks <@42> and <@!43>"


@settings(deadline=None)
@given(st.text(max_size=200))
def test_neutralising_only_inserts_zero_width_spaces(text: str) -> None:
    out = neutralise_mentions(text, users=True)
    assert out.replace("\u200b", "") == text.replace("\u200b", "")
    assert "@everyone" not in out and "@here" not in out


# --------------------------------------------------------------------------- embeds


def test_embed_within_limits_has_no_problems() -> None:
    embed = EmbedText(title="Week 3 prompt", description="Discuss.", fields=(("Due", "Friday"),))
    assert embed_problems(embed) == []


def test_embed_problems_name_each_broken_limit() -> None:
    embed = EmbedText(
        title="t" * 300,
        description="d" * 4100,
        fields=(("ok", "v" * 1100), ("", "x")),
    )
    problems = embed_problems(embed)
    assert "The title is 300 characters; the limit is 256." in problems
    assert "The description is 4100 characters; the limit is 4096." in problems
    assert "Field 1's value is 1100 characters; the limit is 1024." in problems
    assert "Field 2 needs both a name and a value." in problems
    assert "The embed has 5503 characters; the limit is 6000." not in problems


def test_embed_total_over_6000_is_reported() -> None:
    embed = EmbedText(description="d" * 4000, fields=tuple((f"f{i}", "v" * 1000) for i in range(3)))
    assert embed_problems(embed) == ["The embed has 7006 characters; the limit is 6000."]


def test_truncate_marks_the_cut() -> None:
    assert truncate("short", 10) == "short"
    assert truncate("a long sentence here", 10) == "a long se…"
    assert len(truncate("x" * 50, 10)) == 10


def test_fit_embed_keeps_the_title_and_shrinks_the_description_first() -> None:
    embed = EmbedText(
        title="Participation: MATH70097",
        description="d" * 4096,
        fields=tuple((f"Student {i}", "v" * 1024) for i in range(5)),
        footer="provisional",
    )
    fitted = fit_embed(embed)
    assert embed_problems(fitted) == []
    assert fitted.title == embed.title
    assert fitted.fields == embed.fields
    assert fitted.description.endswith("…")


@settings(deadline=None)
@given(
    st.text(max_size=400),
    st.text(max_size=5000),
    st.lists(st.tuples(st.text(max_size=300), st.text(max_size=1500)), max_size=30),
    st.text(max_size=2500),
    st.text(max_size=300),
)
def test_fit_embed_always_satisfies_discord(
    title: str,
    description: str,
    fields: list[tuple[str, str]],
    footer: str,
    author: str,
) -> None:
    fitted = fit_embed(EmbedText(title, description, tuple(fields), footer, author))
    assert embed_problems(fitted) == []
    assert fitted.total <= EMBED_LIMITS.total
