"""What a reader of either platform sees, as one plain text: the one place tests and the demo
compare bot answers across Discord and Slack.

The core writes Discord-flavoured markup; the Slack adapter turns it into mrkdwn with
``<!date^...>`` times. Both render the same content differently, so an assertion made on the
raw text would test the rendering, not what a user notices. ``readable`` undoes both
renderings: every time becomes ``YYYY-MM-DD HH:MM UTC`` (a reader sees it in their own zone
on both platforms), bold/italic/strike marks go, mentions and channel links become names.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime

_DISCORD_TIME = re.compile(r"<t:(-?\d+)(?::([tTdDfFR]))?>")
_SLACK_DATE = re.compile(r"<!date\^(-?\d+)\^([^|>]*)\|[^>]*>")
_MENTION = re.compile(r"<@!?([A-Z0-9]+)(?:\|([^>]+))?>")
_ROLE = re.compile(r"<@&(\d+)>")
_CHANNEL = re.compile(r"<#([A-Z0-9]+)(?:/[0-9.]+)?(?:\|([^>]*))?>")
_LINK = re.compile(r"<(https?://[^|>]+)(?:\|([^>]+))?>")
_SMALL = re.compile(r"^-# ", re.MULTILINE)
_BOLD = re.compile(r"\*\*(.+?)\*\*", re.DOTALL)
_EMPHASIS = re.compile(r"(?<![\w*])([*_~])(?=\S)(.+?)(?<=\S)\1(?![\w*])")
_STRIKE = re.compile(r"~~(.+?)~~")
_UNDERLINE = re.compile(r"__(.+?)__")


def when(epoch: int) -> str:
    """A moment as both platforms' readers are shown it, in UTC (their clients localise)."""
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%d %H:%M UTC")


def relative(epoch: int, now: datetime) -> str:
    """ "in 3 days" / "2 hours ago", as both clients show a relative time (roughly)."""
    seconds = epoch - now.timestamp()
    span = abs(seconds)
    units = (("day", 86400), ("hour", 3600), ("minute", 60), ("second", 1))
    unit, size = next(((u, n) for u, n in units if span >= n), units[-1])
    count = round(span / size)
    words = f"{count} {unit}{'' if count == 1 else 's'}"
    return f"in {words}" if seconds >= 0 else f"{words} ago"


def readable(text: str, names: Mapping[str, str] | None = None, now: datetime | None = None) -> str:
    """``text`` (Discord markdown or Slack mrkdwn) as a person reads it, platform-free.

    ``names`` maps user, role and channel ids to what the client shows (``@name``, ``#name``);
    with ``now``, a relative time (Discord's ``:R``, Slack's ``{ago}``) reads "in 3 days".
    """
    known = names or {}

    def moment(match: re.Match[str]) -> str:
        style = match[2] or ""
        if now is not None and style in ("R", "{ago}"):
            return relative(int(match[1]), now)
        return when(int(match[1]))

    out = _DISCORD_TIME.sub(moment, text)
    out = _SLACK_DATE.sub(moment, out)
    out = _MENTION.sub(lambda m: "@" + known.get(m[1], m[2] or m[1]), out)
    out = _ROLE.sub(lambda m: "@" + known.get(m[1], "role"), out)
    out = _CHANNEL.sub(lambda m: "#" + known.get(m[1], m[2] or m[1]), out)
    out = _LINK.sub(lambda m: m[2] or m[1], out)
    out = _SMALL.sub("", out)
    out = _BOLD.sub(r"\1", out)
    out = _STRIKE.sub(r"\1", out)
    out = _UNDERLINE.sub(r"\1", out)
    out = _EMPHASIS.sub(r"\2", out)
    # Slack escapes its three control characters; the reader sees them as typed.
    return out.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
