"""The example cohort on a local Slack workspace: channels per module, people with the
roster's e-mails (the bot matches them by e-mail: none of them has a Slack id on the roster)."""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import select

from bot.db.engine import Database
from bot.db.models import Cohort, Enrolment, EnrolmentStatus, Module, Person, Role
from bot.roster.service import import_roster, load_programme
from cohortlab.localslack import Channel, LocalSlackServer, SlackActor
from cohortlab.sandbox import example_texts


@dataclass
class SlackWorld:
    server: LocalSlackServer
    channels: dict[str, Channel] = field(default_factory=dict)
    people: dict[str, SlackActor] = field(default_factory=dict)
    roles: dict[str, Role] = field(default_factory=dict)
    modules_of: dict[str, list[str]] = field(default_factory=dict)

    def tutor_of(self, module: str) -> SlackActor:
        return next(
            self.people[e]
            for e, r in self.roles.items()
            if r == Role.TUTOR and module in self.modules_of[e]
        )

    def students_of(self, module: str) -> list[SlackActor]:
        return [
            self.people[e]
            for e, r in self.roles.items()
            if r == Role.STUDENT and module in self.modules_of[e]
        ]


async def build_slack_world(
    server: LocalSlackServer, db: Database, *, bind_channels: bool = False
) -> SlackWorld:
    """Load the example programme and roster, then make the matching workspace.

    The bot binds modules to their channels by name when it starts (``conversations.list``);
    ``bind_channels`` stores the channel ids at once, for setups that need them before."""
    programme_text, roster_text = example_texts()
    async with db.session() as s:
        programme = await load_programme(s, programme_text)
        await import_roster(s, programme.cohort_code, roster_text)
    world = SlackWorld(server)
    async with db.session() as s:
        cohort = (
            await s.execute(select(Cohort).where(Cohort.code == programme.cohort_code))
        ).scalar_one()
        rows = (
            await s.execute(
                select(Person, Enrolment.role, Module.code)
                .join(Enrolment, Enrolment.person_id == Person.id)
                .join(Module, Module.id == Enrolment.module_id)
                .where(Module.cohort_id == cohort.id, Enrolment.status == EnrolmentStatus.ACTIVE)
                .order_by(Person.id, Module.code)
            )
        ).all()
        for person, role, code in rows:
            assert person.email is not None
            if person.email not in world.people:
                # Slack knows them by e-mail only: the roster's Discord ids and handles do not fit.
                person.platform_user_id = None
                world.people[person.email] = server.script.add_user(
                    person.email.split("@")[0], email=person.email, real_name=person.display_name
                )
                world.roles[person.email] = role
                world.modules_of[person.email] = []
            world.modules_of[person.email].append(code)
        modules = (await s.execute(select(Module).where(Module.cohort_id == cohort.id))).scalars()
        for module in modules:
            members = [
                world.people[e] for e, codes in world.modules_of.items() if module.code in codes
            ]
            chan = server.script.add_channel(
                (module.channel_name or module.code).lower(), members=members
            )
            world.channels[module.code] = chan
            if bind_channels:
                module.channel_id = chan.id
        cohort.guild_id = server.team_id
    return world
