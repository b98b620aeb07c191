"""A whole cohort in one process: the local Discord server, the real bot, a controllable clock.

``cohortbot demo`` and the end-to-end tests both use this: the cohort's server is built from
the same programme and roster files an operator loads, the bot is the same ``Application``
``cohortbot run`` builds (pointed at the local server by its two URL settings), and scheduled
work fires when the clock is advanced, not by waiting.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
from sqlalchemy import select

from bot.clock import ManualClock
from bot.config import Settings
from bot.db.engine import Database
from bot.db.migrate import upgrade
from bot.db.models import Cohort, Enrolment, EnrolmentStatus, Module, Person, Role
from bot.roster.service import import_roster, load_programme
from cohortlab.localdiscord import permissions as P
from cohortlab.localdiscord.models import GUILD_CATEGORY, Channel, Guild
from cohortlab.localdiscord.models import Role as GuildRole
from cohortlab.localdiscord.permissions import ROLE_TARGET, Overwrite
from cohortlab.localdiscord.scripting import BOT_PERMISSIONS, Actor
from cohortlab.localdiscord.server import LocalDiscordServer

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
TUTOR_PERMISSIONS = P.VIEW_CHANNEL | P.SEND_MESSAGES | P.READ_MESSAGE_HISTORY | P.MANAGE_MESSAGES


@dataclass
class World:
    """The cohort as it exists on the local server, with handles to act as each person."""

    server: LocalDiscordServer
    guild: Guild
    cohort_code: str
    people: dict[str, Actor] = field(default_factory=dict)
    roles_of: dict[str, Role] = field(default_factory=dict)
    modules_of: dict[str, list[str]] = field(default_factory=dict)
    channels: dict[str, Channel] = field(default_factory=dict)
    module_roles: dict[str, GuildRole] = field(default_factory=dict)
    general: Channel | None = None
    staff: Channel | None = None

    def person(self, username: str) -> Actor:
        return self.people[username]

    def with_role(self, role: Role, module: str | None = None) -> list[Actor]:
        return [
            self.people[name]
            for name, r in self.roles_of.items()
            if r == role and (module is None or module in self.modules_of[name])
        ]

    def tutors(self, module: str | None = None) -> list[Actor]:
        return self.with_role(Role.TUTOR, module)

    def students(self, module: str | None = None) -> list[Actor]:
        return self.with_role(Role.STUDENT, module)

    def admins(self) -> list[Actor]:
        return self.with_role(Role.ADMIN)

    def channel(self, module_code: str) -> Channel:
        return self.channels[module_code]


async def build_world(
    server: LocalDiscordServer,
    db: Database,
    *,
    programme_text: str,
    roster_text: str,
) -> World:
    """Load programme and roster into the database, then build the matching Discord server."""
    async with db.session() as s:
        programme = await load_programme(s, programme_text)
        await import_roster(s, programme.cohort_code, roster_text)

    state = server.state
    async with db.session() as s:
        cohort = (
            await s.execute(select(Cohort).where(Cohort.code == programme.cohort_code))
        ).scalar_one()
        modules = (
            (
                await s.execute(
                    select(Module).where(Module.cohort_id == cohort.id).order_by(Module.code)
                )
            )
            .scalars()
            .all()
        )
        owner = state.add_user("programme-office", global_name="Programme Office")
        guild = state.create_guild(cohort.name[:100], owner.id)
        world = World(server=server, guild=guild, cohort_code=cohort.code)
        tutor_role = state.create_role(guild.id, "Tutor", permissions=TUTOR_PERMISSIONS, hoist=True)
        student_role = state.create_role(guild.id, "Student")
        bot_role = state.create_role(
            guild.id, "cohortbot", permissions=BOT_PERMISSIONS, managed=True
        )
        world.general = state.create_channel(guild.id, "general")
        world.staff = state.create_channel(
            guild.id,
            "staff",
            overwrites=[
                Overwrite(guild.id, ROLE_TARGET, deny=P.VIEW_CHANNEL),
                Overwrite(tutor_role.id, ROLE_TARGET, allow=P.VIEW_CHANNEL),
                Overwrite(bot_role.id, ROLE_TARGET, allow=P.VIEW_CHANNEL),
            ],
        )
        category = state.create_channel(guild.id, "Modules", type=GUILD_CATEGORY)
        for module in modules:
            world.channels[module.code] = state.create_channel(
                guild.id,
                (module.channel_name or module.code).lower(),
                parent_id=category.id,
                topic=f"{module.code} {module.title}",
            )
            world.module_roles[module.code] = state.create_role(guild.id, module.code)

        rows = (
            await s.execute(
                select(Person, Enrolment.role, Module.code)
                .join(Enrolment, Enrolment.person_id == Person.id)
                .join(Module, Module.id == Enrolment.module_id)
                .where(Module.cohort_id == cohort.id, Enrolment.status == EnrolmentStatus.ACTIVE)
                .order_by(Person.id, Module.code)
            )
        ).all()
        by_person: dict[int, tuple[Person, Role, list[str]]] = {}
        for person, role, code in rows:
            entry = by_person.setdefault(person.id, (person, role, []))
            entry[2].append(code)
        for person, role, codes in by_person.values():
            username = person.platform_username or f"user{person.platform_user_id}"
            user = state.add_user(username, global_name=person.display_name)
            if person.platform_user_id is not None:
                person.platform_user_id = str(user.id)
            guild_roles = [world.module_roles[c].id for c in codes]
            guild_roles.append(student_role.id if role == Role.STUDENT else tutor_role.id)
            state.add_member(guild.id, user.id, roles=guild_roles)
            actor = server.script.actor(user.id)
            actor.home_channel = world.general.id
            world.people[username] = actor
            world.roles_of[username] = role
            world.modules_of[username] = codes
        cohort.guild_id = str(guild.id)
    state.add_member(guild.id, server.bot_user_id, roles=[bot_role.id])
    server.commit()
    server.notify()
    return world


def example_texts() -> tuple[str, str]:
    return (
        (EXAMPLES / "mlds-2025.toml").read_text(encoding="utf-8"),
        (EXAMPLES / "roster-mlds-2025.csv").read_text(encoding="utf-8"),
    )


async def _no_identify_wait(shard_id: int | None, *, initial: bool = False) -> None:
    """Discord allows one IDENTIFY per 5 s; the local server does not need the wait."""


class Sandbox:
    """Server + bot + clock, started and stopped together."""

    def __init__(
        self,
        db: Database,
        *,
        start: datetime | None = None,
        settings: dict[str, Any] | None = None,
    ) -> None:
        self.db = db
        now = start or datetime.now(UTC).replace(microsecond=0)
        self.clock = ManualClock(now)
        self.server = LocalDiscordServer(clock=self.clock.now)
        self.extra_settings = settings or {}
        self.world: World | None = None
        self.hosts_contacted: set[str] = set()
        self.app: Any = None

    async def start(
        self, *, programme_text: str | None = None, roster_text: str | None = None
    ) -> World:
        from bot.discord_app import Application

        default_programme, default_roster = example_texts()
        await self.server.start()
        await upgrade(self.db)
        self.world = await build_world(
            self.server,
            self.db,
            programme_text=programme_text or default_programme,
            roster_text=roster_text or default_roster,
        )
        values: dict[str, Any] = {
            "discord_token": self.server.token,
            "database_url": self.db.url,
            "discord_api_base": self.server.api_base,
            "discord_gateway_url": self.server.gateway_url,
            "web_port": 0,
            "guild_ready_timeout": 0.1,
            "scheduler_tick_seconds": 3600,
        }
        settings = Settings(**{**values, **self.extra_settings})  # extra settings win
        self.app = Application(settings, clock=self.clock, db=self.db, http_trace=self._tracer())
        self.app.bot.before_identify_hook = _no_identify_wait
        await self.app.start()
        await self.app.wait_until_ready()
        await self.server.script.wait_for_commands()
        return self.world

    def _tracer(self) -> aiohttp.TraceConfig:
        """Record every host the bot's HTTP client contacts (REST and the gateway)."""
        trace = aiohttp.TraceConfig()

        async def on_start(
            _session: aiohttp.ClientSession, _ctx: Any, params: aiohttp.TraceRequestStartParams
        ) -> None:
            self.hosts_contacted.add(f"{params.url.host}:{params.url.port}")

        trace.on_request_start.append(on_start)
        return trace

    async def advance(self, delta: timedelta) -> None:
        """Move time forward and run whatever became due, as the scheduler would."""
        self.clock.advance(delta)
        await self.run_due()

    async def run_due(self) -> None:
        await self.app.scheduler.run_all_now()
        await asyncio.sleep(0)

    async def stop(self) -> None:
        if self.app is not None:
            await self.app.stop()
        await self.server.stop()
