"""``cohortbot demo`` plays one scripted term (``cohortlab/demo/term``) on Discord (what
``make demo`` runs) and on Slack (``--platform slack``): both end with the same gradebook (the
same students, items and marks, whichever platform the cohort used) and show the same story."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from cohortlab.demo import run_term
from cohortlab.demo.term import gradebook_rows

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

SECTIONS = (
    "Meet the bot",
    "A graded discussion prompt",
    "A peer-assessed exercise",
    "Reviews through the DM form",
    "Reviews close: aggregation, moderation, release",
    "Tutorials, deadlines and notices",
    "Participation marks and the gradebook",
    "The MATH70097 gradebook (exported)",
)
EXPORTS = (
    "prompt-1-grades.csv",
    "gradebook-MATH70097.csv",
    "gradebook-MATH70097.xlsx",
    "gradebook-MLDS-2025.xlsx",
)


async def test_the_slack_demo_ends_with_the_discord_demos_gradebook(tmp_path: Path) -> None:
    transcripts = {p: io.StringIO() for p in ("discord", "slack")}
    books = {p: await run_term(p, tmp_path / p, out) for p, out in transcripts.items()}
    discord, slack = (gradebook_rows(books[p]) for p in ("discord", "slack"))
    assert len(discord) > 10
    assert slack == discord
    amara = next(r for r in slack if r["name"] == "Amara Okafor")
    assert amara["participation mark"] == "77.04"
    lukas = next(r for r in slack if r["name"] == "Lukas Becker")
    assert next(v for k, v in lukas.items() if "peer score" in k) == "78", lukas  # moderated
    for platform, out in transcripts.items():
        text = out.getvalue()
        for section in SECTIONS:
            assert f"=== {section} ===" in text, (platform, section)
        assert "(only Amara Okafor sees this)" in text
        assert "Participation mark: 77.04/100" in text
        for name in EXPORTS:
            assert (tmp_path / platform / name).is_file(), (platform, name)
