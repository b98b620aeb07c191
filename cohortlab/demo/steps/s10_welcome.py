"""The bot introduces itself to a student."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from cohortlab.demo import Transcript
    from cohortlab.sandbox import Sandbox


async def play(sandbox: Sandbox, transcript: Transcript) -> None:
    assert sandbox.world is not None
    transcript.section("Meet the bot")
    student = sandbox.world.students()[0]
    transcript.user(student.user.global_name or student.name, "#general", "/about")
    reply = await (await student.command("about")).reply(contains="cohortbot")
    transcript.bot("#general", reply.content, private_to=student.user.global_name or student.name)
