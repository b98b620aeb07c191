"""The gateway fast path (``wire_from_payload``) says what discord.py's own message says.

Each example builds a real discord.py ``ConnectionState`` with whatever it may have cached (the
guild, the thread, the author as a member with a nickname of their own, or only as a user
under an older name), then parses the same MESSAGE_CREATE payload both ways: straight from the
dict, and through discord.py's parser into a ``discord.Message`` turned into the core's form
by ``to_chat_message`` (the one translation the rest of the adapter uses).
"""

from __future__ import annotations

import copy
from datetime import datetime
from typing import Any

import discord
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.chat import WireMessage, wire_message
from bot.discord_app import build_intents
from bot.discord_chat import to_chat_message, wire_from_payload

GUILD_ID = 900000000000000001
PARENT_ID = 900000000000000002
THREAD_ID = 900000000000000003

snowflakes = st.integers(min_value=10**17, max_value=2**62)
names = st.text(min_size=1, max_size=32)
optional_names = st.none() | names
stamps = st.datetimes(
    min_value=datetime(2016, 1, 1),  # noqa: DTZ001 - hypothesis wants naive bounds
    max_value=datetime(2090, 1, 1),  # noqa: DTZ001
).map(lambda d: d.isoformat() + "+00:00")


def user_payload(user_id: int, username: str, global_name: str | None, bot: bool | None) -> Any:
    data: dict[str, Any] = {
        "id": str(user_id),
        "username": username,
        "discriminator": "0",
        "avatar": None,
        "global_name": global_name,
    }
    if bot is not None:
        data["bot"] = bot
    return data


def member_payload(nick: str | None) -> Any:
    data: dict[str, Any] = {"roles": [], "joined_at": "2026-01-05T09:00:00+00:00", "flags": 0}
    data["deaf"] = data["mute"] = False
    if nick is not None:
        data["nick"] = nick
    return data


users = st.builds(user_payload, snowflakes, names, optional_names, st.none() | st.booleans())


@st.composite
def mentions(draw: st.DrawFn) -> Any:
    user = draw(users)
    if draw(st.booleans()):
        user["member"] = member_payload(draw(optional_names))
    return user


attachments = st.builds(
    lambda i, name: {
        "id": str(i),
        "filename": name,
        "size": 12,
        "url": f"https://cdn.example/attachments/{i}/{name}",
        "proxy_url": f"https://media.example/{i}",
    },
    snowflakes,
    names,
)


@st.composite
def cases(draw: st.DrawFn) -> tuple[Any, dict[str, Any]]:
    """A payload and what discord.py has cached when it arrives."""
    author = draw(users)
    webhook = draw(st.booleans()) and draw(st.booleans())
    data: dict[str, Any] = {
        "id": str(draw(snowflakes)),
        "channel_id": str(draw(st.sampled_from([THREAD_ID, PARENT_ID, draw(snowflakes)]))),
        "author": author,
        "content": draw(st.text(max_size=200)),
        "timestamp": "2026-01-05T09:00:00+00:00",
        "edited_timestamp": draw(st.none() | stamps),
        "tts": False,
        "mention_everyone": False,
        "mentions": draw(st.lists(mentions(), max_size=4)),
        "mention_roles": [],
        "attachments": draw(st.lists(attachments, max_size=3)),
        "embeds": [],
        "pinned": False,
        "type": 0,
        "flags": 0,
    }
    if draw(st.booleans()):
        data["guild_id"] = str(GUILD_ID)
        if not webhook and draw(st.integers(0, 3)):
            data["member"] = member_payload(draw(optional_names))
    if webhook:
        data["webhook_id"] = str(draw(snowflakes))
    if draw(st.booleans()):
        data["type"] = 19
        data["message_reference"] = {
            "type": 0,
            "message_id": str(draw(snowflakes)),
            "channel_id": data["channel_id"],
        }
    cache = {
        "guild": draw(st.booleans()),
        "thread": draw(st.booleans()),
        # The author already known: as a member (own nickname), or as a user only, maybe
        # under an older name than the payload's.
        "author": draw(st.sampled_from(["no", "member", "user"])),
        "old_name": draw(st.none() | names),
        "old_global_name": draw(optional_names),
        "old_nick": draw(optional_names),
    }
    return data, cache


def connection(data: dict[str, Any], cache: dict[str, Any]) -> tuple[Any, list[Any]]:
    """A discord.py ConnectionState holding what ``cache`` says (and what must stay alive)."""
    state: Any = discord.Client(intents=build_intents())._connection
    keep: list[Any] = []
    author = dict(data["author"])
    if cache["old_name"] is not None:
        author["username"] = cache["old_name"]
        author["global_name"] = cache["old_global_name"]
    if cache["guild"]:
        threads = []
        if cache["thread"]:
            threads.append(
                {"id": str(THREAD_ID), "type": 11, "parent_id": str(PARENT_ID), "name": "prompt"}
                | {"guild_id": str(GUILD_ID), "owner_id": str(PARENT_ID), "message_count": 0}
                | {"member_count": 0}
                | {
                    "thread_metadata": {
                        "archived": False,
                        "locked": False,
                        "auto_archive_duration": 10080,
                        "archive_timestamp": "2026-01-05T09:00:00+00:00",
                    }
                }
            )
        members = []
        if cache["author"] == "member":
            members.append(member_payload(cache["old_nick"]) | {"user": author})
        guild = state._add_guild_from_data(
            {
                "id": str(GUILD_ID),
                "name": "cohort",
                "roles": [],
                "emojis": [],
                "stickers": [],
                "features": [],
                "channels": [{"id": str(PARENT_ID), "type": 0, "name": "math", "position": 0}],
                "threads": threads,
                "members": members,
                "member_count": len(members),
            }
        )
        keep.append(guild)
    if cache["author"] == "user" or (cache["author"] == "member" and not cache["guild"]):
        keep.append(state.store_user(author))
    return state, keep


def through_discord_py(state: Any, data: dict[str, Any]) -> WireMessage:
    heard: list[discord.Message] = []
    state.dispatch = lambda event, *args: heard.append(args[0]) if event == "message" else None
    state.parse_message_create(data)
    (message,) = heard
    return wire_message(to_chat_message(message), "gateway")


@settings(max_examples=300, deadline=None)
@given(cases())
def test_the_payload_path_gives_what_discord_py_gives(case: tuple[Any, dict[str, Any]]) -> None:
    data, cache = case
    state, _keep = connection(data, cache)
    fast = wire_from_payload(state, copy.deepcopy(data), "gateway")
    assert fast == through_discord_py(state, data)


def test_the_display_name_is_the_nickname_then_the_global_name_then_the_username() -> None:
    """Spelled out, so a change in discord.py's rule shows here by name."""
    base: dict[str, Any] = {
        "id": "1200000000000000000",
        "channel_id": str(THREAD_ID),
        "guild_id": str(GUILD_ID),
        "content": "my answer ✓ — ünïcode",
        "edited_timestamp": None,
        "mentions": [],
        "attachments": [],
        "type": 0,
    }
    no_cache = {"guild": True, "thread": True, "author": "no", "old_name": None}
    cases = [
        (user_payload(11, "ada", "Ada L", None), member_payload("Countess"), "Countess"),
        (user_payload(11, "ada", "Ada L", None), member_payload(None), "Ada L"),
        (user_payload(11, "ada", None, None), None, "ada"),
        (user_payload(11, "ada", "Ada L", True), None, "Ada L"),
    ]
    for author, member, shown in cases:
        data = base | {"author": author} | ({"member": member} if member is not None else {})
        state, _keep = connection(data, no_cache)
        fast = wire_from_payload(state, copy.deepcopy(data), "gateway")
        assert fast[4:7] == ("ada", shown, author.get("bot", False))
        assert fast[7] == "my answer ✓ — ünïcode"
        assert fast == through_discord_py(state, data)
