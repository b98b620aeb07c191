"""Match a chat user to a roster person, and a chat server to a cohort.

"Who is this chat account?" is answered here and only here (``people_of_sync`` and its async
forms), for commands, recorded posts and the member list alike. The roster may name people by
username (or e-mail) before the bot has ever seen them; the first time the bot sees such an
account (in the start-up member list, a join, or when they act) its platform id is linked to
the person, so later renames do not matter and DMs, exports and requests reach them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import NamedTuple

from sqlalchemy import func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from bot.db.models import Cohort, Module, Person

#: Ids per ``IN (...)`` list: well under SQLite's bound-parameter limit.
_IN_CHUNK = 500


class ChatUser(NamedTuple):
    """What any chat platform can tell us about the person behind an event.

    An immutable tuple rather than a frozen dataclass: one is built per gateway message, and a
    frozen dataclass costs several times as much to construct.
    """

    platform_user_id: str
    username: str
    display_name: str
    #: Only where the platform tells it (Discord does not, so the recorder's queued form of a
    #: message, ``bot.chat.WireMessage``, does not carry it).
    email: str | None = None


def roster_username(username: str) -> str:
    """A username as the roster stores it: lower case, without a leading @."""
    return username.strip().lower().lstrip("@")


def people_of_sync(session: Session, users: Mapping[str, ChatUser | None]) -> dict[str, int]:
    """Roster person ids of platform accounts (platform id -> person id), linking on first sight.

    ``None`` instead of a ``ChatUser`` looks the id up only. A username (or e-mail) that fits
    more than one unlinked person links nobody: the bot never guesses who someone is.
    """
    found, _ = _people_and_links(session, users)
    return found


def link_members_sync(session: Session, users: Iterable[ChatUser]) -> int:
    """Link every roster person among these members; returns how many were linked now.

    A person the roster names by id only also gets their username, for the exports.
    """
    by_id = {u.platform_user_id: u for u in users}
    _, linked = _people_and_links(session, by_id)
    named = 0
    unnamed = [uid for uid in by_id if uid not in linked]
    for start in range(0, len(unnamed), _IN_CHUNK):
        rows = session.execute(
            select(Person).where(
                Person.platform_user_id.in_(unnamed[start : start + _IN_CHUNK]),
                Person.platform_username.is_(None),
                Person.erased_at.is_(None),
            )
        )
        for person in rows.scalars().all():
            assert person.platform_user_id is not None
            name = roster_username(by_id[person.platform_user_id].username)
            if name:
                person.platform_username = name
                named += 1
    if named:
        session.flush()
    return len(linked)


def _people_and_links(
    session: Session, users: Mapping[str, ChatUser | None]
) -> tuple[dict[str, int], set[str]]:
    """Known and newly linked person ids, and which platform ids were linked by this call."""
    found = _by_ids(session, list(users))
    unknown = [u for uid, u in users.items() if uid not in found and u is not None]
    if not unknown:
        return found, set()
    by_name = {roster_username(u.username): u.platform_user_id for u in unknown if u.username}
    by_email = {u.email.strip().lower(): u.platform_user_id for u in unknown if u.email}
    names, emails = list(by_name), list(by_email)
    candidates: dict[str, dict[int, Person]] = {}
    for start in range(0, max(len(names), len(emails)), _IN_CHUNK):
        wanted = [Person.platform_username.in_(names[start : start + _IN_CHUNK])]
        if emails[start : start + _IN_CHUNK]:
            wanted.append(func.lower(Person.email).in_(emails[start : start + _IN_CHUNK]))
        rows = session.execute(
            select(Person).where(
                or_(*wanted), Person.platform_user_id.is_(None), Person.erased_at.is_(None)
            )
        )
        for person in rows.scalars().all():
            uid = by_name.get(person.platform_username or "")
            if uid is None:
                uid = by_email.get((person.email or "").strip().lower())
            if uid is not None:
                candidates.setdefault(uid, {})[person.id] = person
    claimed: dict[int, int] = {}
    for people in candidates.values():
        for person_id in people:
            claimed[person_id] = claimed.get(person_id, 0) + 1
    linked: set[str] = set()
    for uid, people in candidates.items():
        if len(people) != 1:
            continue
        person = next(iter(people.values()))
        if claimed[person.id] != 1:
            continue
        person.platform_user_id = uid
        found[uid] = person.id
        linked.add(uid)
    if linked:
        session.flush()
    late = [u.platform_user_id for u in unknown if u.platform_user_id not in found]
    if late:
        # Linked by someone else (the member list at start-up) since the first look.
        found.update(_by_ids(session, late))
    return found, linked


def _by_ids(session: Session, ids: Sequence[str]) -> dict[str, int]:
    found: dict[str, int] = {}
    for start in range(0, len(ids), _IN_CHUNK):
        rows = session.execute(
            select(Person.platform_user_id, Person.id).where(
                Person.platform_user_id.in_(ids[start : start + _IN_CHUNK])
            )
        )
        found.update({str(uid): pid for uid, pid in rows.all()})
    return found


async def resolve_person(session: AsyncSession, user: ChatUser) -> Person | None:
    """The roster person behind a chat user, linking the platform id on first sight."""
    person = (
        await session.execute(
            select(Person).where(Person.platform_user_id == user.platform_user_id)
        )
    ).scalar_one_or_none()
    if person is not None:
        return person
    found = await session.run_sync(people_of_sync, {user.platform_user_id: user})
    person_id = found.get(user.platform_user_id)
    return None if person_id is None else await session.get(Person, person_id)


async def link_members(session: AsyncSession, users: Sequence[ChatUser]) -> int:
    """The bot saw these members (start-up list, a join, an update): link the roster's."""
    if not users:
        return 0
    return await session.run_sync(link_members_sync, users)


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
