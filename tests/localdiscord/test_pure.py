"""Pure pieces of the local server: snowflakes, permissions, rate limits, option building."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from cohortlab.localdiscord import permissions as P
from cohortlab.localdiscord.interactions import InvalidInput, Resolver, build_command_data
from cohortlab.localdiscord.models import AppCommand
from cohortlab.localdiscord.ratelimit import BucketRule, Decision, RateLimiter
from cohortlab.localdiscord.snowflake import (
    DISCORD_EPOCH_MS,
    SnowflakeGenerator,
    snowflake_at,
    snowflake_time,
)
from cohortlab.localdiscord.state import ApiError, DiscordState


def test_snowflakes_encode_time_and_stay_increasing_when_the_clock_stalls_or_steps_back() -> None:
    clock = iter([DISCORD_EPOCH_MS + 5_000, DISCORD_EPOCH_MS + 5_000, DISCORD_EPOCH_MS + 4_000])
    gen = SnowflakeGenerator(clock_ms=lambda: next(clock))
    ids = [gen.next(), gen.next(), gen.next()]
    assert ids == sorted(ids) and len(set(ids)) == 3
    assert snowflake_time(ids[0]) == datetime.fromtimestamp((DISCORD_EPOCH_MS + 5_000) / 1000, UTC)
    assert ids[0] >> 22 == 5_000


def test_snowflake_cursor_for_a_moment_brackets_ids_minted_then() -> None:
    moment = datetime(2026, 1, 5, 9, 30, tzinfo=UTC)
    ms = int(moment.timestamp() * 1000)
    minted = SnowflakeGenerator(clock_ms=lambda: ms).next()
    assert snowflake_at(moment) <= minted <= snowflake_at(moment, high=True)


def test_overwrites_apply_everyone_then_roles_then_member() -> None:
    guild_id, role_id, user_id = 1, 2, 3
    base = P.DEFAULT_EVERYONE
    overwrites = [
        P.Overwrite(guild_id, P.ROLE_TARGET, deny=P.VIEW_CHANNEL),
        P.Overwrite(role_id, P.ROLE_TARGET, allow=P.VIEW_CHANNEL, deny=P.SEND_MESSAGES),
        P.Overwrite(user_id, P.MEMBER_TARGET, allow=P.SEND_MESSAGES),
    ]
    without_role = P.channel_permissions(
        base, guild_id=guild_id, user_id=99, member_role_ids=[], overwrites=overwrites
    )
    with_role = P.channel_permissions(
        base, guild_id=guild_id, user_id=98, member_role_ids=[role_id], overwrites=overwrites
    )
    member = P.channel_permissions(
        base, guild_id=guild_id, user_id=user_id, member_role_ids=[role_id], overwrites=overwrites
    )
    assert without_role == 0
    assert with_role & P.VIEW_CHANNEL and not with_role & P.SEND_MESSAGES
    assert member & P.SEND_MESSAGES


def test_administrator_and_owner_bypass_overwrites() -> None:
    admin = P.base_permissions(
        user_id=5, owner_id=1, everyone_perms=0, role_perms=[P.ADMINISTRATOR]
    )
    owner = P.base_permissions(user_id=1, owner_id=1, everyone_perms=0, role_perms=[])
    deny_all = [P.Overwrite(9, P.ROLE_TARGET, deny=P.ALL)]
    for base in (admin, owner):
        assert (
            P.channel_permissions(
                base, guild_id=9, user_id=5, member_role_ids=[], overwrites=deny_all
            )
            == P.ALL
        )


def test_route_bucket_counts_down_then_refuses_until_the_window_resets() -> None:
    limiter = RateLimiter(default=BucketRule(limit=2, window=1.0), global_limit=None)

    def check(major: str, now: float) -> Decision:
        return limiter.check("POST /x", major, token="t", now=now, wall_now=1_000.0)

    first, second, third = check("1", 0.0), check("1", 0.1), check("1", 0.2)
    other_channel, later = check("2", 0.2), check("1", 1.05)
    assert [first.headers["X-RateLimit-Remaining"], second.headers["X-RateLimit-Remaining"]] == [
        "1",
        "0",
    ]
    assert not third.allowed and third.retry_after == pytest.approx(0.8)
    assert third.body()["global"] is False
    assert other_channel.allowed and later.allowed
    assert first.headers["X-RateLimit-Bucket"] == third.headers["X-RateLimit-Bucket"]


def test_global_limit_is_per_token_and_exempts_interaction_webhooks() -> None:
    limiter = RateLimiter(global_limit=1)
    assert limiter.check("GET /a", "", token="t", now=0.0, wall_now=0.0).allowed
    refused = limiter.check("GET /b", "", token="t", now=0.1, wall_now=0.0)
    assert not refused.allowed and refused.is_global
    assert limiter.check("GET /b", "", token="u", now=0.1, wall_now=0.0).allowed
    assert limiter.check("POST /cb", "", token=None, now=0.1, wall_now=0.0).allowed


def _state_with_channel() -> tuple[DiscordState, int, int, int]:
    state = DiscordState()
    owner = state.add_user("owner")
    guild = state.create_guild("g", owner.id)
    ch = state.create_channel(guild.id, "general")
    return state, guild.id, ch.id, owner.id


def test_nested_command_options_are_built_under_group_and_subcommand() -> None:
    state, guild_id, channel_id, owner_id = _state_with_channel()
    cmd = AppCommand(
        id=1,
        application_id=2,
        guild_id=guild_id,
        version=1,
        data={
            "name": "course",
            "description": "d",
            "options": [
                {
                    "type": 2,
                    "name": "prompt",
                    "description": "d",
                    "options": [
                        {
                            "type": 1,
                            "name": "create",
                            "description": "d",
                            "options": [
                                {
                                    "type": 4,
                                    "name": "weight",
                                    "description": "d",
                                    "required": True,
                                    "min_value": 0,
                                    "max_value": 100,
                                },
                                {"type": 7, "name": "where", "description": "d"},
                            ],
                        }
                    ],
                }
            ],
        },
    )
    resolver = Resolver(state, guild_id, channel_id, lambda u: {}, viewer_id=owner_id)
    data = build_command_data(
        cmd, ["course", "prompt", "create"], {"weight": 40, "where": "general"}, resolver
    )
    group = data["options"][0]
    sub = group["options"][0]
    assert (group["type"], group["name"], sub["type"], sub["name"]) == (2, "prompt", 1, "create")
    assert sub["options"] == [
        {"name": "weight", "type": 4, "value": 40},
        {"name": "where", "type": 7, "value": str(channel_id)},
    ]
    assert str(channel_id) in data["resolved"]["channels"]
    with pytest.raises(InvalidInput, match="at most 100"):
        build_command_data(cmd, ["course", "prompt", "create"], {"weight": 101}, resolver)


def test_history_is_newest_first_for_every_cursor() -> None:
    state, _, channel_id, owner_id = _state_with_channel()
    ids = [state.create_message(owner_id, channel_id, f"m{i}").id for i in range(10)]
    assert [m.id for m in state.history(owner_id, channel_id, limit=3)] == ids[:-4:-1]
    assert [m.id for m in state.history(owner_id, channel_id, after=ids[2], limit=3)] == [
        ids[5],
        ids[4],
        ids[3],
    ]
    assert [m.id for m in state.history(owner_id, channel_id, before=ids[2])] == [ids[1], ids[0]]


def test_second_acknowledgement_of_an_interaction_is_refused() -> None:
    state, _, channel_id, owner_id = _state_with_channel()
    app = state.add_app("bot", "tok")
    it = state.create_interaction(app.id, 2, owner_id, channel_id, {"name": "x", "type": 1})
    state.interaction_callback(it.id, it.token, {"type": 5}, [])
    with pytest.raises(ApiError) as err:
        state.interaction_callback(it.id, it.token, {"type": 4, "data": {"content": "x"}}, [])
    assert err.value.code == 40060


def test_webhook_calls_find_their_interaction_by_token_until_it_expires() -> None:
    state, _guild_id, channel_id, owner_id = _state_with_channel()
    clock = [1000.0]
    state.monotonic = lambda: clock[0]
    app = state.add_app("bot", "token-a").id
    other = state.add_app("other", "token-b").id
    first = state.create_interaction(app, 2, owner_id, channel_id, {"name": "about"})
    clock[0] += 60
    second = state.create_interaction(app, 2, owner_id, channel_id, {"name": "marks"})
    assert state.interaction_by_token(app, second.token) is second
    assert state.interaction_by_token(app, first.token) is first
    with pytest.raises(ApiError) as other_app:
        state.interaction_by_token(other, second.token)
    assert other_app.value.status == 404
    with pytest.raises(ApiError):
        state.interaction_by_token(app, second.token + "x")
    # Fifteen minutes after the first, its token no longer works; the second's still does.
    clock[0] += 15 * 60 - 30
    state.expire_interactions(timedelta(minutes=15))
    with pytest.raises(ApiError):
        state.interaction_by_token(app, first.token)
    assert state.interaction_by_token(app, second.token) is second
    assert list(state.interactions) == [second.id]
