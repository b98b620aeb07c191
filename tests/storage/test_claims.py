"""Claims on a real database: of many processes racing for one key, exactly one wins."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from bot.db.claims import CLAIM_TTL, ClaimBatcher, claim_once, prune_claims
from bot.db.engine import Database
from bot.db.models import AssignmentStatus, ProcessedEvent
from bot.peer import engine, service
from tests.storage.test_peer_service import SUB_DUE, Course, course, submit_all  # noqa: F401

NOW = datetime(2026, 12, 7, 6, 0, tzinfo=UTC)


async def _claim(db: Database, key: str, now: datetime = NOW) -> bool:
    async with db.session() as session:
        return await claim_once(session, key, now)


async def test_one_of_many_concurrent_claims_wins(db: Database) -> None:
    # Separate engines stand for separate processes: their own pools and connections.
    others = [Database(db.url) for _ in range(3)]
    try:
        results = await asyncio.gather(
            *(_claim(d, f"interaction:{n}") for n in range(20) for d in [db, *others])
        )
    finally:
        for other in others:
            await other.dispose()
    per_key = [results[i : i + 4] for i in range(0, len(results), 4)]
    assert [sum(r) for r in per_key] == [1] * 20
    assert await _claim(db, "interaction:0") is False  # a replay (gateway RESUME) loses too


async def test_old_interaction_claims_are_pruned_and_nothing_else(db: Database) -> None:
    old = NOW - CLAIM_TTL - timedelta(minutes=1)
    assert await _claim(db, "interaction:1", old)
    assert await _claim(db, "interaction:2", NOW - timedelta(hours=1))
    assert await _claim(db, "other:3", old)
    async with db.session() as session:
        assert await prune_claims(session, "interaction:", NOW) == 1
    async with db.session() as session:
        keys = set((await session.execute(select(ProcessedEvent.key))).scalars())
    assert keys == {"interaction:2", "other:3"}


# --------------------------------------------------------------- gateway events that act


@pytest.mark.postgres
async def test_a_member_leaving_seen_by_two_processes_moves_their_reviews_once(
    course: Course,  # noqa: F811 (the fixture imported above)
    backend: str,
) -> None:
    """Both processes get the member-remove event; the exercise's row lock makes the second
    find nothing left to move, so reviews are reassigned once and tutors told once."""
    if backend != "postgres":
        pytest.skip("several processes share PostgreSQL (README: Running several processes)")
    ex = await course.create()
    await submit_all(course, ex)
    course.now = SUB_DUE + timedelta(minutes=1)
    async with course.db.session() as s:
        assert await engine.allocate_exercise(s, ex, course.now, on_demand=False)
    leaver = str(course.person("sofiarossi.data").platform_user_id)
    other = Database(course.db.url)

    async def left(db: Database) -> int:
        async with db.session() as s:
            return await service.member_left(s, leaver, course.now)

    try:
        moved = await asyncio.gather(left(course.db), left(other))
    finally:
        await other.dispose()
    assert sorted(moved) == [0, 3]
    await course.due()
    assert len(await course.assignments(ex, AssignmentStatus.PENDING)) == 33
    told = [t for t in course.chat.to(course.person(course.tutor)) if "left the server" in t]
    assert len(told) == 1, told


async def test_claims_arriving_together_each_learn_their_own_outcome(db: Database) -> None:
    """A burst of claims is written in few transactions, yet each caller still wins or loses
    its own key, against an earlier claim and against a second process's batcher."""
    assert await _claim(db, "interaction:taken")
    mine, theirs = ClaimBatcher(db), ClaimBatcher(other := Database(db.url))
    keys = [f"interaction:{n}" for n in range(300)]
    try:
        results = await asyncio.gather(
            *(b.claim(k, NOW) for k in keys for b in (mine, theirs)),
            mine.claim("interaction:taken", NOW),
            mine.claim("interaction:twice", NOW),
            mine.claim("interaction:twice", NOW),
        )
    finally:
        await other.dispose()
    per_key = [results[i : i + 2] for i in range(0, 2 * len(keys), 2)]
    assert [sum(r) for r in per_key] == [1] * len(keys)
    assert results[-3:] == [False, True, False]
    assert await mine.claim("interaction:later", NOW)  # a lone claim after the burst


async def test_a_claim_the_database_refuses_raises_to_its_caller(tmp_path: Path) -> None:
    broken = Database(f"sqlite+aiosqlite:///{tmp_path}/missing/dir/bot.db")
    batcher = ClaimBatcher(broken)
    try:
        with pytest.raises(Exception):  # noqa: B017 - whatever the driver raises
            await asyncio.gather(batcher.claim("interaction:1", NOW), batcher.claim("i:2", NOW))
        assert batcher._writer is None  # the next claim starts a new write
    finally:
        await broken.dispose()
