"""The reason an extension records is cleaned one way for every feature (``bot.due``)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.due import REASON_MAX, REASON_REFUSAL, clean_reason
from bot.errors import UserError

SENTENCE = (
    "Give a reason reference of 1 to 200 characters, e.g. the mitigating circumstances case "
    "number MC-2026-014."
)


def test_the_refusal_is_one_sentence_naming_the_limit() -> None:
    assert REASON_REFUSAL == SENTENCE
    assert REASON_MAX == 200


@pytest.mark.parametrize(
    ("typed", "stored"),
    [
        ("MC-2026-014", "MC-2026-014"),
        ("  MC-1  ", "MC-1"),
        ("medical\n  note\tMC-7", "medical note MC-7"),
        ("x" * 200, "x" * 200),
        ("  " + "x" * 200 + "\n", "x" * 200),
        ("Ärztliches Attest 🩺", "Ärztliches Attest 🩺"),
    ],
)
def test_a_reason_is_stored_with_its_whitespace_folded(typed: str, stored: str) -> None:
    assert clean_reason(typed) == stored


@pytest.mark.parametrize(
    "typed",
    [None, "", "   ", "\n\t", "x" * 201, "a\x00b", "\x07", "\u200b", "\u200b\u200b \u2060"],
)
def test_a_missing_long_or_unstorable_reason_is_refused(typed: str | None) -> None:
    with pytest.raises(UserError) as refused:
        clean_reason(typed)
    assert refused.value.sentence == SENTENCE


@given(st.text(max_size=260) | st.text(alphabet=" \n\tMC-0123\x00\u200b", max_size=260))
def test_any_text_is_refused_with_the_sentence_or_stored_cleaned(typed: str) -> None:
    try:
        stored = clean_reason(typed)
    except UserError as refused:
        assert refused.sentence == SENTENCE
        return
    assert stored == " ".join(typed.split())
    assert 1 <= len(stored) <= REASON_MAX
    assert stored == stored.strip() and "  " not in stored
    assert clean_reason(stored) == stored  # idempotent
