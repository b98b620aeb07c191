"""Project teams through the local Discord server, as students and a tutor meet them:
availability by form and by options, the survey set by form and answered with select menus, a
dry run that creates nothing, the teams created from it with a private thread each (members and
tutor, shared hours as Discord timestamps, why the team was formed), and a move refused because
the team would no longer share enough hours."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select, text

from bot.db.models import Base, TeamSet, TeamSetStatus
from cohortlab.localdiscord.models import Channel, Message
from cohortlab.localdiscord.scripting import Actor, message_text
from cohortlab.sandbox import Sandbox, World

pytestmark = pytest.mark.e2e

MODULE = "MATH70097"
PRIVATE_THREAD = 12


def custom_ids(message: Message, prefix: str) -> list[str]:
    return [
        str(comp.get("custom_id"))
        for row in message.components
        for comp in row.get("components") or []
        if str(comp.get("custom_id") or "").startswith(prefix)
    ]


def team_threads(sandbox: Sandbox, world: World) -> list[Channel]:
    parent = world.channel(MODULE).id
    return [
        ch
        for ch in sandbox.server.state.channels.values()
        if ch.type == PRIVATE_THREAD and ch.parent_id == parent
    ]


def shown_name(actor: Actor) -> str:
    """The roster's display name, as the bot writes it."""
    return actor.user.global_name or actor.name


async def dump(sandbox: Sandbox) -> dict[str, list[tuple[Any, ...]]]:
    out: dict[str, list[tuple[Any, ...]]] = {}
    async with sandbox.db.session() as s:
        for table in sorted(Base.metadata.tables):
            if table in {"persons", "processed_events"}:
                continue
            rows = (await s.execute(text(f'SELECT * FROM "{table}"'))).all()
            out[table] = sorted((tuple(r) for r in rows), key=repr)
    return out


async def set_free(actor: Actor, world: World, times: str, zone: str = "UTC") -> Message:
    handle = await actor.command(
        "calendar availability", where=world.channel(MODULE), options={"times": times, "zone": zone}
    )
    return await handle.reply(contains="availability")


async def form(tutor: Actor, world: World, **options: Any) -> Message:
    values = {"module": MODULE, "size_min": 3, "size_max": 4, "min_hours": 2.0}
    values.update(options)
    handle = await tutor.command("teams form", where=world.channel(MODULE), options=values)
    await handle.reply(contains="Proposed teams", timeout=30)
    return await handle.reply(contains="Create these teams?", timeout=10)


async def test_availability_survey_dry_run_and_team_threads(sandbox: Sandbox, world: World) -> None:
    channel = world.channel(MODULE)
    tutor = world.tutors(MODULE)[0]
    amara, lukas = world.students(MODULE)[:2]

    # Availability through the form, shown back in the student's own zone.
    await (await amara.command("calendar availability", where=channel)).response()
    form_data = await amara.wait_for_modal()
    assert "When are you free" in str(form_data)
    saved = await (
        await amara.submit_modal(times="Mon-Fri 19:00-23:00\nSat 09:00-17:00", zone="Asia/Tokyo")
    ).reply(contains="Asia/Tokyo")
    assert "Mon 19:00–23:00" in saved.content and "Sat 09:00–17:00" in saved.content
    assert "28 hours a week" in saved.content
    refused = await (
        await lukas.command("calendar availability", where=channel, options={"times": "whenever"})
    ).reply()
    assert refused.content.startswith("Could not read 'whenever'")

    # The tutor sets the survey by form; a student answers privately with a select menu.
    await (await tutor.command("teams survey-set", where=channel, module=MODULE)).response()
    await tutor.wait_for_modal()
    set_reply = await (
        await tutor.submit_modal(
            questions="Strongest skill: programming, statistics, writing\nRole: lead, builder"
        )
    ).reply(contains="Team survey")
    assert "Strongest skill: programming, statistics, writing" in set_reply.content
    menus = await (await amara.command("teams survey", where=channel, module=MODULE)).reply(
        contains="Choose your answers"
    )
    skill = custom_ids(menus, "cb:teams:answer:")[0]
    said = await (await amara.select(menus, skill, ["statistics"])).reply(contains="Saved")
    assert "statistics" in said.content
    staff_only = await (await tutor.command("teams survey", where=channel, module=MODULE)).reply()
    assert staff_only.content == f"You are not enrolled as a student in {MODULE}."

    # Tokyo evenings meet nobody's free time: the refusal names her and says what to do.
    values = {"module": MODULE, "size_min": 3, "size_max": 4, "min_hours": 2.0}
    alone = await (await tutor.command("teams form", where=channel, options=values)).reply(
        contains="No teams", timeout=30
    )
    assert alone.content.startswith(
        f"No teams can be formed: {shown_name(amara)} shares a block of 2 hours with only 0 "
        "other student(s); a team needs 3."
    )
    await set_free(
        amara, world, "Mon-Fri 19:00-23:00; Sat 09:00-17:00; Sun 18:00-23:00", "Asia/Tokyo"
    )

    # A dry run shows the teams to the tutor only and creates nothing.
    before_threads = len(team_threads(sandbox, world))
    ask = await form(tutor, world)
    proposal = next(m for m in tutor.ephemerals() if message_text(m).startswith("**Proposed teams"))
    assert "dry run" in proposal.content and "Team 1:" in proposal.content
    assert len(team_threads(sandbox, world)) == before_threads
    async with sandbox.db.session() as s:
        statuses = [t.status for t in (await s.execute(select(TeamSet))).scalars()]
    assert statuses == [TeamSetStatus.PROPOSED]
    nothing = await (await amara.command("teams show", where=channel, module=MODULE)).reply()
    assert "no teams yet" in nothing.content

    # Confirming creates the teams: a private thread each, members and tutor, the message.
    confirm = custom_ids(ask, "cb:teams:confirm:")[0]
    created = await (await tutor.click(ask, confirm)).reply(contains="Created", timeout=20)
    count = int(created.content.split("Created ", 1)[1].split(" ", 1)[0])
    assert f"{count} team thread(s) opened" in created.content
    threads = team_threads(sandbox, world)
    assert len(threads) == count >= 3
    student_ids = {a.id for a in world.students(MODULE)}
    placed: set[int] = set()
    for thread in threads:
        assert tutor.id in thread.thread_members
        members = set(thread.thread_members) & student_ids
        assert 3 <= len(members) <= 4
        placed |= members
        posted = sandbox.server.script.bot_messages(thread)
        assert posted, f"nothing posted in {thread.name}"
        body = message_text(posted[0])
        assert body.startswith(f"**{MODULE} — team ")
        assert "<t:" in body and ":F>" in body and ":t>" in body
        assert "Why this team:" in body and "in every week of the term" in body
    assert placed == student_ids

    mine = await (await amara.command("teams show", where=channel, module=MODULE)).reply()
    assert mine.content.startswith(f"**Your team in {MODULE}: team ")
    assert "<t:" in mine.content and "<#" in mine.content
    again = await (await tutor.click(ask, confirm)).reply()
    assert "already created" in again.content


async def test_a_move_that_breaks_the_shared_hours_is_refused(
    sandbox: Sandbox, world: World
) -> None:
    channel = world.channel(MODULE)
    tutor = world.tutors(MODULE)[0]
    students = world.students(MODULE)
    evenings, mornings = students[:6], students[6:]
    for actor in evenings:
        await set_free(actor, world, "Mon 18:00-22:00")
    for actor in mornings:
        await set_free(actor, world, "Thu 08:00-12:00")
    ask = await form(tutor, world, size_min=2, size_max=6)  # room in every team
    await (await tutor.click(ask, custom_ids(ask, "cb:teams:confirm:")[0])).reply(
        contains="Created", timeout=20
    )
    roster = await (await tutor.command("teams show", where=channel, module=MODULE)).reply()
    mover, target_member = evenings[0], mornings[0]
    line = next(
        x
        for x in roster.content.splitlines()
        if x.startswith("Team ") and shown_name(target_member) in x
    )
    number = int(line.split(":", 1)[0].removeprefix("Team "))

    before = await dump(sandbox)
    handle = await tutor.command(
        "teams move",
        where=channel,
        options={"module": MODULE, "student": mover, "team": number},
    )
    refused = await handle.reply()
    assert refused.content.startswith(f"Cannot move {shown_name(mover)} to team {number}: ")
    assert refused.content.endswith(
        "the team would share only 0 hours in a row a week (at least 2 are needed)."
    )
    assert await dump(sandbox) == before
    student_refused = await (
        await mover.command(
            "teams move", where=channel, options={"module": MODULE, "student": mover, "team": 1}
        )
    ).reply()
    assert student_refused.content == f"Only tutors of {MODULE} and programme admins can do that."


async def test_a_dropout_is_reformed_keeping_whole_teams_and_threads_then_exported(
    sandbox: Sandbox, world: World
) -> None:
    channel = world.channel(MODULE)
    tutor = world.tutors(MODULE)[0]
    ask = await form(tutor, world, size_min=2, size_max=4)
    await (await tutor.click(ask, custom_ids(ask, "cb:teams:confirm:")[0])).reply(
        contains="Created", timeout=20
    )
    threads_before = {t.id for t in team_threads(sandbox, world)}
    leaver = world.students(MODULE)[0]
    async with sandbox.db.session() as s:
        await s.execute(
            text(
                "UPDATE enrolments SET status = 'withdrawn' WHERE person_id = "
                "(SELECT id FROM persons WHERE platform_user_id = :uid) AND module_id = "
                "(SELECT id FROM modules WHERE code = :code)"
            ),
            {"uid": str(leaver.id), "code": MODULE},
        )

    handle = await tutor.command("teams reform", where=channel, options={"module": MODULE})
    proposal = await handle.reply(contains="Proposed teams", timeout=30)
    assert "kept as they were" in proposal.content
    assert shown_name(leaver) not in proposal.content
    ask = await handle.reply(contains="Create these teams?", timeout=10)
    created = await (await tutor.click(ask, custom_ids(ask, "cb:teams:confirm:")[0])).reply(
        contains="Created", timeout=20
    )
    kept = int(proposal.content.split(" team(s) are kept as they were", 1)[0].rsplit("\n", 1)[1])
    teams = proposal.content.count("\nTeam ")
    assert f"{teams - kept} team thread(s) opened, {kept} kept from before" in created.content
    assert len({t.id for t in team_threads(sandbox, world)} - threads_before) == teams - kept

    exported = await (
        await tutor.command("teams export", where=channel, options={"module": MODULE})
    ).reply(contains="student(s) in the teams")
    assert exported.attachments[0].filename == f"teams-{MODULE}.csv"
    body = exported.attachments[0].data.decode()
    assert body.startswith("module,team,name,username,student_number,zone,availability")
    assert len(body.strip().splitlines()) == len(world.students(MODULE))  # header + all but one
    assert shown_name(leaver) not in body
