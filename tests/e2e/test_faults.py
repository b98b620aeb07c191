"""The real bot recovers from each gateway and REST fault with nothing lost."""

from __future__ import annotations

import pytest

from cohortlab.sandbox import Sandbox, World

pytestmark = pytest.mark.e2e

CALLBACK = "/interactions/{interaction_id}/{token}/callback"


async def _about_works(world: World, who: int = 0) -> None:
    reply = await (await world.students()[who].command("about")).reply(
        contains="cohortbot", timeout=15
    )
    assert "provisional" in reply.content


async def _resumed(sandbox: Sandbox, before: int) -> None:
    await sandbox.server.wait_until(
        lambda: sandbox.server.gateway.count("resume") > before or None,
        timeout=15,
        describe=lambda: "the bot did not resume its session",
    )


async def test_dropped_connection_resumes_and_replays_what_was_missed(
    sandbox: Sandbox, world: World
) -> None:
    sandbox.server.state.interaction_deadline = None  # the replayed command is answered late
    before = sandbox.server.gateway.count("resume")
    await sandbox.server.gateway.drop(code=None)  # cut with no close frame
    handle = await world.students()[1].command("about")  # sent while the bot is away
    await _resumed(sandbox, before)
    reply = await handle.reply(contains="cohortbot", timeout=15)
    assert reply.content
    assert sandbox.server.gateway.count("identify") == 1  # resumed, never re-identified


async def test_reconnect_request_is_followed(sandbox: Sandbox, world: World) -> None:
    before = sandbox.server.gateway.count("resume")
    sandbox.server.gateway.send_reconnect()
    await _resumed(sandbox, before)
    await _about_works(world)


async def test_invalid_session_leads_to_a_fresh_identify(sandbox: Sandbox, world: World) -> None:
    identifies = sandbox.server.gateway.count("identify")
    sandbox.server.gateway.invalidate(resumable=False)
    await sandbox.server.wait_until(
        lambda: sandbox.server.gateway.count("identify") > identifies or None,
        timeout=15,
        describe=lambda: "the bot did not identify again",
    )
    await sandbox.server.script.wait_for_connection()
    await _about_works(world)


async def test_server_error_on_the_reply_is_retried(sandbox: Sandbox, world: World) -> None:
    sandbox.server.state.interaction_deadline = None  # discord.py waits 1 s before retrying
    sandbox.server.fail_route(CALLBACK, status=502, times=1)
    await _about_works(world)
    statuses = [c.status for c in sandbox.server.calls if c.route == CALLBACK]
    assert statuses[:2] == [502, 200]


async def test_rate_limited_reply_is_retried_after_retry_after(
    sandbox: Sandbox, world: World
) -> None:
    sandbox.server.throttle_route(CALLBACK, retry_after=0.2, times=1)
    await _about_works(world)
    statuses = [c.status for c in sandbox.server.calls if c.route == CALLBACK]
    assert statuses[:2] == [429, 200]


async def test_slow_responses_do_not_break_the_reply(sandbox: Sandbox, world: World) -> None:
    fault = sandbox.server.delay_route(CALLBACK, 0.5, times=1)
    await _about_works(world)
    assert fault.hits == 1
