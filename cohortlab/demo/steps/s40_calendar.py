"""Tutorials, deadlines and notices: a tutor schedules, students answer, the bot reminds on time.

Times are chosen relative to the demo clock when this step starts, so the step works whatever
the earlier steps did with the clock.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from bot.timeparse import AOE, end_of_local_day
from cohortlab.localdiscord.scripting import Actor, message_text

if TYPE_CHECKING:
    from cohortlab.demo import Transcript
    from cohortlab.localdiscord.models import Message
    from cohortlab.sandbox import Sandbox

MODULE = "MATH70097"
LONDON = ZoneInfo("Europe/London")
_STAMP = re.compile(r"<t:(\d+):([tTdDfFR])>")


def readable(text: str, now: datetime) -> str:
    """Discord timestamps as a reader in London would see them; the marker line dropped."""

    def one(match: re.Match[str]) -> str:
        at = datetime.fromtimestamp(int(match[1]), UTC)
        if match[2] == "R":
            delta = at - now
            hours = round(abs(delta.total_seconds()) / 3600)
            span = f"{hours} hours" if hours < 48 else f"{round(hours / 24)} days"
            if abs(delta) < timedelta(minutes=90):
                span = f"{round(abs(delta.total_seconds()) / 60)} minutes"
            return f"in {span}" if delta >= timedelta(0) else f"{span} ago"
        local = at.astimezone(LONDON)
        return f"{local:%a} {local.day} {local:%b %Y %H:%M} London time"

    lines = [ln for ln in text.splitlines() if not ln.startswith("-# cohortbot notice")]
    return _STAMP.sub(one, "\n".join(lines))


def _name(actor: Actor) -> str:
    return actor.user.global_name or actor.name


def _id(text: str, prefix: str = "#") -> int:
    match = re.search(re.escape(prefix) + r"(\d+)", text)
    assert match is not None, text
    return int(match[1])


def _button(message: Message, action: str) -> str:
    for row in message.components:
        for comp in row.get("components") or []:
            custom_id = str(comp.get("custom_id") or "")
            if custom_id.startswith(f"cb:calendar:{action}:"):
                return custom_id
    raise AssertionError(f"no {action} button")


async def play(sandbox: Sandbox, transcript: Transcript) -> None:
    assert sandbox.world is not None
    world = sandbox.world
    script = sandbox.server.script
    channel = world.channel(MODULE)
    where = f"#{channel.name}"
    teacher = world.tutors(MODULE)[0]
    amara, lukas = world.students(MODULE)[:2]

    def show_bot(message: Message, *, private_to: Actor | None = None, place: str = where) -> None:
        transcript.bot(
            place,
            readable(message_text(message), sandbox.clock.now()),
            private_to=_name(private_to) if private_to else None,
        )

    transcript.section("Tutorials, deadlines and notices")
    now = sandbox.clock.now()
    local_day = (now + timedelta(days=2)).astimezone(LONDON).date()
    start = f"{local_day.isoformat()} 18:00"
    until = (local_day + timedelta(days=14)).isoformat()
    transcript.user(
        _name(teacher),
        where,
        f"/tutorial add module:{MODULE} title:Kernels start:{start} duration:1h repeat:weekly "
        f"until:{until} join_link:https://meet.example.org/kernels",
    )
    reply = await (
        await teacher.command(
            "tutorial add",
            where=channel,
            module=MODULE,
            title="Kernels",
            start=start,
            duration="1h",
            repeat="weekly",
            until=until,
            join_link="https://meet.example.org/kernels",
        )
    ).reply(contains="Tutorial #")
    show_bot(reply, private_to=teacher)
    tutorial = _id(reply.content)
    await sandbox.run_due()
    card = await script.wait_for_message(channel, contains="Kernels**")
    show_bot(card)
    transcript.note("the card carries Going / Maybe / Not going / Check in buttons")

    transcript.user(_name(amara), where, "[presses Going]")
    answer = await (await amara.click(card, _button(card, "going"))).reply(contains="going")
    show_bot(answer, private_to=amara)

    due_day = (now + timedelta(days=8)).astimezone(LONDON).date()
    transcript.user(
        _name(teacher),
        where,
        f"/deadline add module:{MODULE} kind:submission deadline title:Coursework 1 "
        f"due:{due_day.isoformat()} AoE",
    )
    added = await (
        await teacher.command(
            "deadline add",
            where=channel,
            module=MODULE,
            kind="submission_deadline",
            title="Coursework 1",
            due=f"{due_day.isoformat()} AoE",
        )
    ).reply(contains="#")
    show_bot(added, private_to=teacher)
    item = _id(added.content)

    transcript.user(
        _name(teacher),
        where,
        f"/deadline extend item:{item} student:@{lukas.name} due:"
        f"{(due_day + timedelta(days=5)).isoformat()} AoE reason:MC-2026-014",
    )
    granted = await (
        await teacher.command(
            "deadline extend",
            where=channel,
            item=item,
            student=lukas,
            due=f"{(due_day + timedelta(days=5)).isoformat()} AoE",
            reason="MC-2026-014",
        )
    ).reply(contains="Extension #")
    show_bot(granted, private_to=teacher)
    await sandbox.run_due()
    show_bot(await lukas.wait_for_dm(contains="approved"), place="a DM", private_to=lukas)

    # The day before the tutorial, at 18:00: the class-wide reminder and Amara's own DM.
    first = datetime.combine(local_day, datetime.min.time().replace(hour=18), LONDON)
    await sandbox.advance(first - timedelta(hours=24) - sandbox.clock.now())
    transcript.note("the clock moves to 24 hours before the tutorial")
    show_bot(await script.wait_for_message(channel, contains="starts in 24 hours"))
    show_bot(await amara.wait_for_dm(contains="24 hours"), place="a DM", private_to=amara)

    # The deadline's first notice: 7 days before it.
    due_at = end_of_local_day(due_day, AOE)
    await sandbox.advance(due_at - timedelta(days=7) - sandbox.clock.now())
    transcript.note("the clock moves to 7 days before the deadline")
    show_bot(await script.wait_for_message(channel, contains="due in 7 days"))

    # The session itself: Amara checks in; the tutor reads the attendance.
    await sandbox.advance(first + timedelta(minutes=5) - sandbox.clock.now())
    transcript.note("the tutorial is on")
    transcript.user(_name(amara), where, "[presses Check in]")
    checked = await (await amara.click(card, _button(card, "checkin"))).reply(contains="Checked")
    show_bot(checked, private_to=amara)
    transcript.user(_name(teacher), where, f"/tutorial attendance tutorial:{tutorial}")
    report = await (
        await teacher.command("tutorial attendance", where=channel, tutorial=tutorial)
    ).reply(contains="Checked in")
    show_bot(report, private_to=teacher)

    transcript.user(_name(lukas), where, "/calendar upcoming")
    mine = await (await lukas.command("calendar upcoming", where=channel)).reply(
        contains="Deadlines"
    )
    show_bot(mine, private_to=lukas)
