"""One transaction per command, with the cohort and the caller resolved from the roster.

Whatever the platform, every command runs inside ``open_context``: a refusal (``UserError``)
raised anywhere inside rolls the whole transaction back, so a refused command changes nothing.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, Row, Select, bindparam, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.access.identity import ChatUser, resolve_cohort
from bot.access.permissions import Caller, load_caller
from bot.db.engine import Database
from bot.db.models import Cohort, Enrolment, EnrolmentStatus, Module, Person
from bot.errors import UserError

NO_COHORT = (
    "This server is not linked to a cohort yet: an admin must run "
    "`cohortbot programme load` with this server's id."
)


@dataclass
class CommandContext:
    session: AsyncSession
    cohort: Cohort
    caller: Caller


async def cohort_for(session: AsyncSession, guild_id: str | None) -> Cohort:
    """The cohort of a server; in a DM, the deployment's only bound cohort."""
    if guild_id is not None:
        cohort = await resolve_cohort(session, guild_id)
        if cohort is None:
            raise UserError(NO_COHORT)
        return cohort
    bound = (
        (await session.execute(select(Cohort).where(Cohort.guild_id.is_not(None)))).scalars().all()
    )
    if len(bound) != 1:
        raise UserError("Use this command in your cohort's server rather than in a direct message.")
    return bound[0]


def _known_caller_query(platform_user: ColumnElement[bool]) -> Select[Any]:
    """A caller's cohort, person and active enrolments in the server ``guild_id`` names;
    ``platform_user`` picks which accounts."""
    return (
        select(Cohort, Person, Enrolment.module_id, Enrolment.role)
        .join(Module, Module.cohort_id == Cohort.id)
        .join(Enrolment, Enrolment.module_id == Module.id)
        .join(Person, Person.id == Enrolment.person_id)
        .where(
            Cohort.guild_id == bindparam("guild_id"),
            platform_user,
            Person.erased_at.is_(None),
            Enrolment.status == EnrolmentStatus.ACTIVE,
        )
    )


#: Built once: constructing a four-table SELECT costs more Python than running it does.
KNOWN_CALLER = _known_caller_query(Person.platform_user_id == bindparam("platform_user_id"))

#: ``KNOWN_CALLER`` for many callers of one server at once (a crowd's commands in one query).
KNOWN_CALLERS = _known_caller_query(
    Person.platform_user_id.in_(bindparam("platform_user_ids", expanding=True))
)


async def known_callers(
    session: AsyncSession, guild_id: str, platform_user_ids: Sequence[str]
) -> dict[str, tuple[Cohort, Caller]]:
    """``_known_caller`` for many platform ids of one server in one query: each id the bot
    knows, with the caller exactly as ``open_context`` resolves them; the others are absent
    (they take ``open_context``'s step-by-step path, with its messages)."""
    rows = (
        await session.execute(
            KNOWN_CALLERS,
            {"guild_id": guild_id, "platform_user_ids": sorted(set(platform_user_ids))},
        )
    ).all()
    by_user: dict[str, list[Row[Any]]] = {}
    for row in rows:
        by_user.setdefault(row[1].platform_user_id, []).append(row)
    found: dict[str, tuple[Cohort, Caller]] = {}
    for platform_user_id, mine in by_user.items():
        known = known_caller_from(mine)
        if known is not None:
            found[platform_user_id] = known
    return found


async def _known_caller(
    session: AsyncSession, guild_id: str, user: ChatUser
) -> tuple[Cohort, Caller] | None:
    """The common case in one query: a linked server and a caller the bot has seen before.

    Every command pays for this, so it matters under load (1,000 students asking for their
    marks at once); anything unusual falls back to the step-by-step path and its messages.
    """
    rows = (await session.execute(KNOWN_CALLER, known_caller_params(guild_id, user))).all()
    return known_caller_from(rows)


def known_caller_params(guild_id: str, user: ChatUser) -> dict[str, str]:
    return {"guild_id": guild_id, "platform_user_id": user.platform_user_id}


def known_caller_from(rows: Sequence[Row[Any]]) -> tuple[Cohort, Caller] | None:
    """The caller from ``KNOWN_CALLER``'s rows (one per active enrolment), or None."""
    if not rows:
        return None
    cohort, person = rows[0][0], rows[0][1]
    roles = {module_id: role for _c, _p, module_id, role in rows}
    return cohort, Caller(person=person, cohort_id=cohort.id, roles=roles)


#: Opens the roster-checked command context for one command (each platform's adapter makes
#: one: the Discord cog's ``command_context`` for an interaction, Slack's ``Call.context``).
ContextOpener = Callable[[], AbstractAsyncContextManager["CommandContext"]]


@asynccontextmanager
async def open_context(
    db: Database, guild_id: str | None, user: ChatUser
) -> AsyncIterator[CommandContext]:
    async with db.session() as session:
        known = await _known_caller(session, guild_id, user) if guild_id is not None else None
        if known is not None:
            cohort, caller = known
        else:
            cohort = await cohort_for(session, guild_id)
            caller = await load_caller(session, cohort.id, user)
        yield CommandContext(session=session, cohort=cohort, caller=caller)
