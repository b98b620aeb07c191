"""Match a chat user to a roster person, and a chat server to a cohort.

The roster may name people by username before the bot has ever seen them; the first time such
a user acts, their platform id is linked to the person so later renames do not matter.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.db.models import Cohort, Module, Person


class ChatUser(NamedTuple):
    """What any chat platform can tell us about the person behind an event.

    An immutable tuple rather than a frozen dataclass: one is built per gateway message, and a
    frozen dataclass costs several times as much to construct.
    """

    platform_user_id: str
    username: str
    display_name: str


async def resolve_person(session: AsyncSession, user: ChatUser) -> Person | None:
    """The roster person behind a chat user, linking the platform id on first sight."""
    person = (
        await session.execute(
            select(Person).where(Person.platform_user_id == user.platform_user_id)
        )
    ).scalar_one_or_none()
    if person is not None:
        return person
    username = user.username.lower().lstrip("@")
    candidates = (
        (
            await session.execute(
                select(Person).where(
                    Person.platform_username == username, Person.platform_user_id.is_(None)
                )
            )
        )
        .scalars()
        .all()
    )
    if len(candidates) != 1:
        return None
    person = candidates[0]
    person.platform_user_id = user.platform_user_id
    await session.flush()
    return person


async def resolve_cohort(session: AsyncSession, guild_id: str) -> Cohort | None:
    """The cohort living in this chat server.

    A programme loaded without a server id is bound to the first server the bot meets, as long
    as exactly one such cohort exists (the common single-cohort deployment).
    """
    cohort = (
        await session.execute(select(Cohort).where(Cohort.guild_id == guild_id))
    ).scalar_one_or_none()
    if cohort is not None:
        return cohort
    unbound = (
        (await session.execute(select(Cohort).where(Cohort.guild_id.is_(None)))).scalars().all()
    )
    if len(unbound) != 1:
        return None
    unbound[0].guild_id = guild_id
    await session.flush()
    return unbound[0]


@dataclass(frozen=True)
class ChannelInfo:
    id: str
    name: str


async def bind_module_channels(
    session: AsyncSession, cohort: Cohort, channels: list[ChannelInfo], roles: list[ChannelInfo]
) -> list[str]:
    """Attach each module to its channel and role by name; returns the modules left unbound.

    A module's channel is the one named in the programme file, else its code in lower case;
    its role is named after the module code.
    """
    by_name = {c.name.lower(): c.id for c in channels}
    roles_by_name = {r.name.lower(): r.id for r in roles}
    modules = (
        (await session.execute(select(Module).where(Module.cohort_id == cohort.id))).scalars().all()
    )
    unbound: list[str] = []
    for module in modules:
        wanted = (module.channel_name or module.code).lower()
        channel_id = by_name.get(wanted)
        if channel_id is not None:
            module.channel_id = channel_id
        elif module.channel_id is None:
            unbound.append(module.code)
        role_id = roles_by_name.get(module.code.lower())
        if role_id is not None:
            module.role_id = role_id
    await session.flush()
    return unbound


@dataclass(frozen=True)
class GuildLink:
    cohort_code: str
    unbound_modules: tuple[str, ...]


async def link_guild(
    session: AsyncSession, guild_id: str, channels: list[ChannelInfo], roles: list[ChannelInfo]
) -> GuildLink | None:
    """Bind a server the bot is in to its cohort and the modules to their channels and roles."""
    cohort = await resolve_cohort(session, guild_id)
    if cohort is None:
        return None
    unbound = await bind_module_channels(session, cohort, channels, roles)
    return GuildLink(cohort_code=cohort.code, unbound_modules=tuple(unbound))
