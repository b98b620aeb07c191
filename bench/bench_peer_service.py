"""A peer exercise at cohort scale through the service and the database (SQLite).

What the pure benches do not show: the cost of the rows around the allocation (assignments,
anonymous labels, one outbox request per review) and of delivering the requests. Baselines in
the same process: the pure ``allocate`` on the same people, and a bare batched insert of as
many rows.

    .venv/bin/python bench/bench_peer_service.py [--students 1000] [--k 3]
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import func, select

from bot.chat import ChatMessage, OutgoingMessage, Posted
from bot.db.engine import Database
from bot.db.migrate import upgrade
from bot.db.models import (
    Cohort,
    Designation,
    Enrolment,
    ExerciseStatus,
    Module,
    OutboxMessage,
    PeerExercise,
    PeerSubmission,
    Person,
    ProcessedEvent,
    Role,
    SubmissionKind,
)
from bot.db.ops import insert_ignore
from bot.discord_links import DISCORD_LINKS
from bot.peer import engine
from bot.peer.allocation import allocate
from bot.peer.outbox import deliver
from bot.peer.rubric import parse_rubric

NOW = datetime(2026, 1, 12, 8, 0, tzinfo=UTC)


class NullChat:
    """Accepts every message at once: the cost measured is the bot's, not Discord's."""

    links = DISCORD_LINKS

    def __init__(self) -> None:
        self.sent = 0

    async def post(self, channel_id: str, message: OutgoingMessage) -> Posted:
        self.sent += 1
        return Posted(channel_id, str(self.sent))

    async def dm(self, user_id: str, message: OutgoingMessage) -> Posted:
        self.sent += 1
        return Posted(user_id, str(self.sent))

    async def edit(self, channel_id: str, message_id: str, message: OutgoingMessage) -> None:
        return None

    async def create_thread(
        self,
        channel_id: str,
        name: str,
        *,
        from_message_id: str | None = None,
        private: bool = False,
    ) -> str:
        return "0"

    async def add_thread_member(self, thread_id: str, user_id: str) -> None:
        return None

    async def set_thread_state(
        self, thread_id: str, *, locked: bool | None = None, archived: bool | None = None
    ) -> None:
        return None

    async def history(
        self, channel_id: str, *, after_id: str | None = None, since: datetime | None = None
    ) -> AsyncIterator[ChatMessage]:
        return
        yield  # pragma: no cover

    async def dm_channel_id(self, user_id: str) -> str:
        return f"dm-{user_id}"


async def build(db: Database, n: int, k: int) -> int:
    async with db.session() as s:
        cohort = Cohort(code="BENCH", name="Bench", guild_id="1")
        s.add(cohort)
        await s.flush()
        module = Module(
            cohort_id=cohort.id,
            code="MATH70097",
            title="Supervised Learning",
            term="Spring",
            ects=5,
            designation=Designation.CORE,
            channel_id="2",
        )
        s.add(module)
        await s.flush()
        people = [
            Person(display_name=f"Student {i}", platform_user_id=str(10**17 + i)) for i in range(n)
        ]
        s.add_all(people)
        await s.flush()
        s.add_all(Enrolment(module_id=module.id, person_id=p.id, role=Role.STUDENT) for p in people)
        exercise = PeerExercise(
            module_id=module.id,
            title="Bench",
            brief="A brief.",
            submission_due_at=NOW + timedelta(days=1),
            review_due_at=NOW + timedelta(days=5),
            reviews_per_submission=k,
            rubric=parse_rubric(None).to_json(),
            late_policy={},
            seed=7,
            status=ExerciseStatus.OPEN,
            created_at=NOW,
        )
        s.add(exercise)
        await s.flush()
        s.add_all(
            PeerSubmission(
                exercise_id=exercise.id,
                person_id=p.id,
                version=1,
                kind=SubmissionKind.TEXT,
                content="An answer of a few words.",
                submitted_at=NOW,
                idempotency_key=f"s{p.id}",
            )
            for p in people
        )
        return exercise.id


async def run(n: int, k: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        db = Database(f"sqlite+aiosqlite:///{Path(tmp) / 'bench.db'}")
        await upgrade(db)
        exercise_id = await build(db, n, k)
        people = list(range(n))

        t0 = time.perf_counter()
        allocate(people, k=k, seed=7)
        pure = time.perf_counter() - t0

        t0 = time.perf_counter()
        async with db.session() as s:
            rows = [{"key": f"bench{i}", "processed_at": NOW} for i in range(2 * n * k)]
            await insert_ignore(s, ProcessedEvent, rows, conflict=["key"])
        bare = time.perf_counter() - t0

        due = NOW + timedelta(days=1, minutes=1)
        t0 = time.perf_counter()
        async with db.session() as s:
            summary = await engine.allocate_exercise(s, exercise_id, due, on_demand=False)
        service = time.perf_counter() - t0
        assert summary is not None

        chat = NullChat()
        t0 = time.perf_counter()
        delivery = await deliver(db, chat, due)
        sending = time.perf_counter() - t0
        async with db.session() as s:
            pending = (
                await s.execute(
                    select(func.count())
                    .select_from(OutboxMessage)
                    .where(OutboxMessage.state == "pending")
                )
            ).scalar_one()
        await db.dispose()

    reviews = summary.reviews
    print(f"peer service on SQLite: {n:,} submissions, k={k} -> {reviews:,} reviews")
    print(f"  pure allocate (baseline)           {pure * 1000:8.1f} ms")
    print(f"  bare insert of {2 * reviews:,} rows (baseline) {bare * 1000:8.1f} ms")
    print(
        f"  allocate_exercise (rows + outbox)  {service * 1000:8.1f} ms   x{service / pure:5.1f} "
        f"pure   x{service / bare:5.1f} bare insert"
    )
    print(
        f"  deliver {delivery.sent:,} messages (null port) {sending * 1000:8.1f} ms   "
        f"{delivery.sent / sending:8.0f} msg/s   (Discord allows ~50 req/s)   pending left "
        f"{pending}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else "")
    parser.add_argument("--students", type=int, default=1000)
    parser.add_argument("--k", type=int, default=3)
    args = parser.parse_args()
    asyncio.run(run(args.students, args.k))


if __name__ == "__main__":
    main()
