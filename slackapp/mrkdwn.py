"""The core's text as Slack shows it: escaped, with every time in the reader's own zone.

Services write Discord-flavoured plain markup (``bot.timeparse.discord_timestamp``'s
``<t:UNIX:STYLE>``, ``**bold**``); Slack reads ``<...>`` as links and mentions, so user text is
escaped (nothing it says can ping) and only the bot's own time markup becomes Slack's
``<!date^...>``, which every client shows in its reader's zone.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

_DISCORD_TIME = re.compile(r"<t:(-?\d+)(?::([tTdDfFR]))?>")
_BOLD = re.compile(r"\*\*(.+?)\*\*", re.DOTALL)
_MENTION = re.compile(r"<@([UW][A-Z0-9]+)>")
#: A channel or thread the core links to (a thread id is "<channel>/<ts>": its channel).
_CHANNEL = re.compile(r"<#([CDG][A-Z0-9]+)(?:/[0-9.]+)?>")

#: Discord's styles in Slack's date tokens; the fallback is what a client without them shows.
_STYLES = {
    "t": "{time}",
    "T": "{time_secs}",
    "d": "{date_num}",
    "D": "{date_long_pretty}",
    "f": "{date_short_pretty} {time}",
    "F": "{date_long_pretty} {time}",
    "R": "{ago}",
}


def slack_date(epoch: int, style: str = "f") -> str:
    """``<!date^EPOCH^{date_short_pretty} {time}|fallback>``: each reader sees their own zone."""
    fallback = datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%d %H:%M UTC")
    return f"<!date^{epoch}^{_STYLES.get(style, _STYLES['f'])}|{fallback}>"


def escape(text: str) -> str:
    """Slack's three control characters, so user text is shown as typed and pings nobody."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def to_mrkdwn(text: str, mention_user_ids: tuple[str, ...] = ()) -> str:
    """The core's text for Slack: escaped, times as ``<!date>``, ``**x**`` as ``*x*``.

    ``mention_user_ids`` are the people the bot's own text names (``OutgoingMessage``'s
    ``mention_user_ids`` and ``named_user_ids``): their ``<@id>`` becomes a Slack mention; any
    other ``<@...>``, ``<!...>`` or ``<@&...>`` in the text is user text, shown as typed.
    """
    allowed = set(mention_user_ids)
    out: list[str] = []
    pos = 0
    pattern = rf"{_DISCORD_TIME.pattern}|{_MENTION.pattern}|{_CHANNEL.pattern}"
    for match in re.finditer(pattern, text):
        out.append(escape(text[pos : match.start()]))
        epoch, style, user, channel = match.groups()
        if epoch is not None:
            out.append(slack_date(int(epoch), style or "f"))
        elif channel is not None:
            out.append(f"<#{channel}>")
        elif user in allowed:
            out.append(f"<@{user}>")
        else:
            out.append(escape(match.group(0)))
        pos = match.end()
    out.append(escape(text[pos:]))
    return _BOLD.sub(r"*\1*", "".join(out))


def mentions_in(text: str) -> tuple[str, ...]:
    """The member ids a Slack message mentions (``<@U123>``), in order, once each."""
    return tuple(dict.fromkeys(_MENTION.findall(text)))
