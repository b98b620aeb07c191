"""The shared term (``cohortlab/demo/term.py``) on Discord and on Slack ends with the same
gradebook: the same students, items and marks, whichever platform the cohort used."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from cohortlab.demo import run_shared_term
from cohortlab.demo.term import gradebook_rows

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


async def test_the_slack_demo_ends_with_the_discord_demos_gradebook(tmp_path: Path) -> None:
    transcripts = {p: io.StringIO() for p in ("discord", "slack")}
    books = {p: await run_shared_term(p, tmp_path / p, out) for p, out in transcripts.items()}
    discord, slack = (gradebook_rows(books[p]) for p in ("discord", "slack"))
    assert len(discord) > 10
    assert slack == discord
    amara = next(r for r in slack if r["name"] == "Amara Okafor")
    assert amara["participation mark"] not in ("", "0")
    for out in transcripts.values():
        text = out.getvalue()
        assert "=== The MATH70097 gradebook (exported) ===" in text
        assert "(only Amara Okafor sees this)" in text
