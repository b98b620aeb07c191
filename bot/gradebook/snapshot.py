"""What the student view needs about a module, kept for a moment in this process.

When a thousand students ask for their marks at once (the end of term), each answer needs the
module's items, weights, release, extensions and late flags; those change rarely, so they are
loaded once and shared for ``TTL_SECONDS``. Each student's own ledger rows are always read
fresh, so points show at once. A snapshot is dropped early when the gradebook itself changes
something it holds (weights, a release, imported marks), in the bot's reader process too, and
whenever the bot's clock has moved on (so the demo's and tests' controllable clock never sees
stale items). Another process (or another feature closing a prompt) is seen within
``TTL_SECONDS``.
"""

from __future__ import annotations

import asyncio
import bisect
import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from bot.db.models import Cohort, DiscussionPrompt, DiscussionScore, Module
from bot.gradebook.book import Item, ItemType, Layout
from bot.gradebook.loading import (
    ItemRows,
    Release,
    SchemeInfo,
    load_extensions,
    load_item_rows,
    load_late,
    load_release,
    load_scheme,
)
from bot.gradebook.view import ViewPlan

TTL_SECONDS = 2.0


@dataclass(frozen=True)
class ModuleInfo:
    id: int
    cohort_id: int
    code: str
    title: str


@dataclass
class ModuleSnapshot:
    module: ModuleInfo
    zone: str
    scheme: SchemeInfo
    release: Release | None
    rows: ItemRows
    extensions: dict[int, dict[tuple[str, int], datetime]]
    late: dict[int, set[tuple[str, int]]]
    explanations: dict[int, dict[tuple[str, int], str]]
    taken_at: float
    taken_now: datetime
    #: The layout, with the moments between which it holds (``ItemRows.moments``).
    _layout: tuple[datetime | None, datetime | None, list[Item], Layout] | None = field(
        default=None, repr=False
    )
    #: The student view's shared text for the layout above (``plan_at``).
    _plan: tuple[Layout, ViewPlan] | None = field(default=None, repr=False)

    def fresh(self, now: datetime) -> bool:
        return time.monotonic() - self.taken_at < TTL_SECONDS and (
            abs((now - self.taken_now).total_seconds()) < TTL_SECONDS
        )

    def layout_at(self, now: datetime) -> tuple[list[Item], Layout]:
        """The items and layout at ``now``, built again only once ``now`` has crossed one of
        the moments they depend on (a thousand students asking within seconds share one)."""
        held = self._layout
        if (
            held is not None
            and (held[0] is None or held[0] <= now)
            and (held[1] is None or now < held[1])
        ):
            return held[2], held[3]
        moments = self.rows.moments
        at = bisect.bisect_right(moments, now)
        since = moments[at - 1] if at else None
        until = moments[at] if at < len(moments) else None
        items = self.rows.items_at(self.zone, now)
        self._layout = (since, until, items, Layout(items))
        return items, self._layout[3]

    def plan_at(self, now: datetime) -> tuple[list[Item], Layout, ViewPlan]:
        """``layout_at`` and what every student's view of it shares (built once per layout)."""
        items, layout = self.layout_at(now)
        held = self._plan
        if held is None or held[0] is not layout:
            released = self.release is not None
            held = self._plan = (layout, ViewPlan(items, self.scheme.scheme, released))
        return items, layout, held[1]


_SNAPSHOTS: dict[tuple[str, int], ModuleSnapshot] = {}
#: Counts ``forget`` calls, so a reader process (``bot.sqlite_offload.marks_reader``) can drop
#: what it holds when this process changed something (``catch_up``).
_generation = 0
_MODULES: dict[tuple[str, int], tuple[float, dict[str, ModuleInfo], str]] = {}
_LOCKS: dict[tuple[str, int, int], asyncio.Lock] = {}


def _db_key(session: AsyncSession) -> str:
    bind: Any = session.bind  # an engine, or a connection (``Database.reading``)
    if bind is None:
        return ""
    return db_key(bind.url if isinstance(bind, AsyncEngine) else bind.engine.url)


def db_key(url: object) -> str:
    """Which database a snapshot came from (tests run several in one process)."""
    return str(url)


def _lock(key: tuple[str, int]) -> asyncio.Lock:
    loop_key = (key[0], key[1], id(asyncio.get_running_loop()))
    lock = _LOCKS.get(loop_key)
    if lock is None:
        lock = _LOCKS[loop_key] = asyncio.Lock()
    return lock


def forget(session: AsyncSession, module_id: int) -> None:
    """Drop a module's snapshot (the gradebook changed something it holds)."""
    global _generation
    _generation += 1
    _SNAPSHOTS.pop((_db_key(session), module_id), None)


def generation() -> int:
    return _generation


def catch_up(seen: int) -> None:
    """In a reader process: the bot has forgotten snapshots since ``seen``; drop ours."""
    global _generation
    if seen != _generation:
        _SNAPSHOTS.clear()
        _generation = seen


def held_modules(db_key: str, cohort_id: int) -> dict[str, ModuleInfo] | None:
    """The cohort's modules if this process holds them fresh (else None: call
    ``cohort_modules``)."""
    hit = _MODULES.get((db_key, cohort_id))
    if hit is not None and time.monotonic() - hit[0] < TTL_SECONDS:
        return hit[1]
    return None


def held(db_key: str, module_id: int, now: datetime) -> ModuleSnapshot | None:
    """The module's snapshot if this process holds it fresh for ``now`` (else None)."""
    hit = _SNAPSHOTS.get((db_key, module_id))
    return hit if hit is not None and hit.fresh(now) else None


async def cohort_modules(
    session: AsyncSession, cohort_id: int
) -> tuple[dict[str, ModuleInfo], str]:
    """The cohort's modules by upper-case code, and its time zone (cached briefly)."""
    key = (_db_key(session), cohort_id)
    hit = _MODULES.get(key)
    if hit is not None and time.monotonic() - hit[0] < TTL_SECONDS:
        return hit[1], hit[2]
    rows = await session.execute(
        select(Module.id, Module.cohort_id, Module.code, Module.title).where(
            Module.cohort_id == cohort_id
        )
    )
    modules = {code.upper(): ModuleInfo(mid, cid, code, title) for mid, cid, code, title in rows}
    zone = (await session.execute(select(Cohort.timezone).where(Cohort.id == cohort_id))).scalar()
    _MODULES[key] = (time.monotonic(), modules, zone or "UTC")
    return modules, zone or "UTC"


async def module_snapshot(
    session: AsyncSession, module: ModuleInfo, zone: str, now: datetime
) -> ModuleSnapshot:
    key = (_db_key(session), module.id)
    hit = _SNAPSHOTS.get(key)
    if hit is not None and hit.fresh(now):
        return hit
    async with _lock(key):
        hit = _SNAPSHOTS.get(key)
        if hit is not None and hit.fresh(now):
            return hit
        snapshot = await _take(session, module, zone, now)
        _SNAPSHOTS[key] = snapshot
        return snapshot


async def _take(
    session: AsyncSession, module: ModuleInfo, zone: str, now: datetime
) -> ModuleSnapshot:
    scheme = await load_scheme(session, module.id)
    release = await load_release(session, module.id)
    rows = await load_item_rows(session, module.id)
    items = rows.items_at(zone, now)
    extensions = await load_extensions(session, items, None)
    late = await load_late(session, items, None)
    explanations: dict[int, dict[tuple[str, int], str]] = {}
    result = await session.execute(
        select(DiscussionScore.person_id, DiscussionScore.prompt_id, DiscussionScore.explanation)
        .join(DiscussionPrompt, DiscussionPrompt.id == DiscussionScore.prompt_id)
        .where(DiscussionPrompt.module_id == module.id, DiscussionScore.explanation.is_not(None))
    )
    for person_id, prompt_id, text in result.all():
        if text:
            explanations.setdefault(person_id, {})[(ItemType.PROMPT.value, prompt_id)] = text
    return ModuleSnapshot(
        module=module,
        zone=zone,
        scheme=scheme,
        release=release,
        rows=rows,
        extensions=dict(extensions),
        late=dict(late),
        explanations=explanations,
        taken_at=time.monotonic(),
        taken_now=now,
    )
