"""The checks every command's options pass, and the one way refusals echo user text."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.errors import UserError, shown
from bot.input_checks import (
    INT_MAX,
    INT_MIN,
    cap_message,
    options_problem,
    require_length,
    text_problem,
)


def options(*leaf: dict[str, object], sub: str | None = None) -> dict[str, object]:
    items = list(leaf)
    if sub is not None:
        items = [{"name": sub, "type": 1, "options": items}]
    return {"name": "cmd", "options": items}


def test_ids_beyond_the_database_range_are_refused_in_one_sentence() -> None:
    for value in (INT_MAX + 1, INT_MIN - 1, 9_007_199_254_740_991, -9_007_199_254_740_991):
        problem = options_problem(options({"name": "item", "type": 4, "value": value}, sub="x"))
        assert problem is not None and problem.startswith("`item` must be a whole number")
        assert problem.endswith("is out of range.") and "\n" not in problem
    assert options_problem(options({"name": "item", "type": 4, "value": INT_MAX})) is None
    assert options_problem(options({"name": "item", "type": 4, "value": -5})) is None


def test_nul_and_control_characters_and_invisible_text_are_refused() -> None:
    assert "control character (U+0000)" in (text_problem("title", "Week\x001") or "")
    assert "control character" in (text_problem("title", "a\x1bb") or "")
    assert "no visible characters" in (text_problem("title", "\u200b\u2060 \ufeff\u3164") or "")
    assert text_problem("title", "Week 1: gradient descent 🎓") is None
    assert text_problem("body", "line one\nline two\ttab") is None
    assert text_problem("offsets", "") is None
    assert text_problem("reason", "  ") is None  # blank: the command says what it needs


def test_huge_numbers_are_refused() -> None:
    assert options_problem(options({"name": "points", "type": 10, "value": 1e300})) is not None
    assert options_problem(options({"name": "points", "type": 10, "value": 12.5})) is None


@given(st.text(max_size=6000))
def test_an_echo_is_short_and_one_line_whatever_the_text(text: str) -> None:
    echoed = shown(text)
    assert len(echoed) <= 62
    assert "\n" not in echoed and "\x00" not in echoed


@given(st.text(max_size=6000))
def test_a_capped_message_fits_discord(text: str) -> None:
    capped = cap_message("There is no module " + text + " in this cohort.")
    assert len(capped) <= 2000


def test_require_length_refuses_empty_and_long_text_with_the_given_sentence() -> None:
    assert require_length("abc", 3, empty="Empty.", what="The text") == "abc"
    with pytest.raises(UserError, match=r"^Empty\.$"):
        require_length("", 3, empty="Empty.", what="The text")
    with pytest.raises(UserError) as caught:
        require_length("x" * 1001, 1000, empty="Empty.", what="The text", why=" (one post)")
    assert str(caught.value) == "The text is 1001 characters; the limit is 1,000 (one post)."
