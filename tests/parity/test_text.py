"""``readable``: the same content rendered by Discord and by Slack reads the same."""

from __future__ import annotations

from datetime import UTC, datetime

from cohortlab.drive.text import readable
from slackapp.mrkdwn import to_mrkdwn

NOW = datetime(2030, 1, 1, tzinfo=UTC)
EPOCH = int(datetime(2030, 1, 4, 17, 0, tzinfo=UTC).timestamp())


def test_the_cores_text_reads_the_same_on_discord_and_slack() -> None:
    core = (
        f"**Coursework 1** due <t:{EPOCH}:F> (<t:{EPOCH}:R>)\n__Deadlines__\n"
        "-# cohortbot notice 3\nx < y & z"
    )
    on_discord = readable(core, now=NOW)
    on_slack = readable(to_mrkdwn(core), now=NOW)
    assert on_discord == on_slack
    assert on_discord == (
        "Coursework 1 due 2030-01-04 17:00 UTC (in 4 days)\nDeadlines\ncohortbot notice 3\n"
        "x < y & z"
    )


def test_mentions_channels_and_links_read_as_names() -> None:
    names = {"U1": "amara", "C9": "math70097", "123": "lukas"}
    assert readable("<@U1> in <#C9> and <@123>", names) == "@amara in #math70097 and @lukas"
    assert readable("<@&77> Reminder", {"77": "MATH70097"}) == "@MATH70097 Reminder"
    assert readable("<https://example.org|the notes>") == "the notes"
    assert readable("snake_case_name stays") == "snake_case_name stays"
