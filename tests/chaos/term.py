"""A chaos term: a seeded random schedule of what a cohort does, run in real time through the
local Discord server against `cohortbot run` as its own process, while the bot is SIGKILLed
and its gateway dropped at random moments; then the record is judged against what the server
holds.

The schedule (what happens, to whom, at which offset) comes from the seed alone; when the bot
is down, commands are retried until it answers, so timings move but the judgement does not:
every check below must hold whatever the timing was.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
from collections import Counter, defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from bot.calendar import messages as notice_messages
from bot.db.engine import Database
from bot.db.models import (
    AssignmentStatus,
    Contribution,
    DiscussionPrompt,
    Module,
    Notice,
    NoticeStatus,
    OutboxMessage,
    OutboxState,
    PeerExercise,
    PeerReview,
    PeerSubmission,
    Person,
    PromptStatus,
    ReviewAssignment,
)
from bot.discussions import render
from bot.discussions.answers import parse_relayed
from bot.discussions.jobs import STALE_CLAIM
from bot.gradebook import ledger
from bot.gradebook.reconcile import reconcile
from cohortlab.localdiscord.models import Channel, Message
from cohortlab.localdiscord.scripting import Actor, ApiError
from cohortlab.localdiscord.server import LocalDiscordServer
from cohortlab.sandbox import World, build_world, example_texts
from cohortlab.setups.peer import review_button, review_requests, write_review
from tests.chaos.botproc import BotProcess

MODULE = "MATH70097"
#: How long the random activity lasts (seconds after the base moment).
ACTIVITY = 110.0
#: Small rubric: short posts earn points, so most posts matter to the ledger.
RUBRIC = "initial_min_words=20 reply_min_words=8 replies_required=2 late_penalty_fraction=0.5"
NOTICE_LEASE = timedelta(minutes=2)
VOCAB = [
    *("bias", "variance", "kernel", "margin", "ridge", "lasso", "prior", "posterior", "fold"),
    *("leakage", "split", "model", "error", "sample", "feature", "tree", "boost", "gradient"),
    *("loss", "risk", "label", "noise", "signal", "estimate", "test", "train"),
]


def at(moment: datetime) -> str:
    """A moment as a tutor types it, to the second."""
    return f"{moment.astimezone(UTC):%Y-%m-%dT%H:%M:%S}Z"


def words(rng: random.Random, n: int, tag: str) -> str:
    return f"[{tag}] " + " ".join(rng.choice(VOCAB) for _ in range(n))


# --------------------------------------------------------------------------- the plan


@dataclass
class ThreadEvent:
    at: float  # seconds after the prompt opens
    kind: str  # post | reply | edit | delete
    actor: int
    size: int
    seed: int


@dataclass
class PromptPlan:
    index: int
    opens: float
    closes: float
    at_creation: list[int]
    events: list[ThreadEvent]
    late_answers: list[tuple[float, int]]  # seconds after the close, student index

    @property
    def title(self) -> str:
        return f"Chaos week {self.index}"


@dataclass
class Fault:
    at: float
    kind: str  # kill | early-kill (during start-up) | drop | cut | invalidate | reconnect
    down_for: float
    settle: float  # seconds after the bot is connected again


@dataclass
class Plan:
    seed: int
    prompts: list[PromptPlan]
    deadlines: list[tuple[str, float]]  # kind, seconds after base when its notice is due
    tutorial_reminder: float
    submission_deadline: float
    submitters: list[tuple[int, float]]  # student index, when
    leaver: int
    leaves_at: float  # seconds after the submission deadline
    faults: list[Fault]


def make_plan(seed: int, students: int) -> Plan:
    rng = random.Random(seed)
    slots = sorted(rng.uniform(6, 40) for _ in range(2))
    prompts: list[PromptPlan] = []
    for i in range(rng.randint(3, 5)):
        # the first two open together (several threads created at once), the rest at random
        opens = slots[0] if i < 2 else rng.choice([*slots, rng.uniform(6, 50)])
        closes = opens + rng.uniform(18, 40)
        events = []
        for _ in range(rng.randint(8, 16)):
            # a third of the activity is bunched around the close time
            t = (
                closes - opens + rng.uniform(-3, 2)
                if rng.random() < 0.33
                else rng.uniform(0, closes - opens)
            )
            kind = rng.choices(["post", "reply", "edit", "delete"], [5, 4, 2, 1])[0]
            events.append(
                ThreadEvent(
                    t, kind, rng.randrange(students), rng.randint(6, 40), rng.randrange(10**9)
                )
            )
        events.sort(key=lambda e: e.at)
        prompts.append(
            PromptPlan(
                index=i + 1,
                opens=opens,
                closes=closes,
                at_creation=rng.sample(range(students), rng.randint(1, 3)),
                events=events,
                late_answers=[
                    (rng.uniform(2, 20), rng.randrange(students)) for _ in range(rng.randint(0, 2))
                ],
            )
        )
    deadlines = [
        (rng.choice(["submission_deadline", "marking_period_end"]), rng.uniform(8, ACTIVITY - 10))
        for _ in range(rng.randint(2, 4))
    ]
    submission_deadline = rng.uniform(45, 60)
    pool = rng.sample(range(students), 6)
    submitters = [(s, rng.uniform(1, submission_deadline - 12)) for s in pool]
    faults = []
    n = rng.randint(22, 26)
    times = sorted(rng.uniform(3, ACTIVITY) for _ in range(n))
    for t in times:
        kind = rng.choices(
            ["kill", "early-kill", "drop", "cut", "invalidate", "reconnect"], [5, 1, 2, 2, 1, 1]
        )[0]
        faults.append(Fault(t, kind, rng.uniform(0.1, 3.0), rng.uniform(0, 1.5)))
    return Plan(
        seed=seed,
        prompts=prompts,
        deadlines=deadlines,
        tutorial_reminder=rng.uniform(8, ACTIVITY - 10),
        submission_deadline=submission_deadline,
        submitters=submitters,
        leaver=rng.choice(pool),
        leaves_at=rng.uniform(2, 12),
        faults=faults,
    )


# --------------------------------------------------------------------------- the run


@dataclass
class Tally:
    posts: int = 0
    refused: int = 0
    edits: int = 0
    deletes: int = 0
    late_answers: int = 0
    submissions: int = 0
    reviews: int = 0
    kills: int = 0
    drops: int = 0
    command_retries: int = 0
    notes: list[str] = field(default_factory=list)


class ChaosTerm:
    def __init__(self, server: LocalDiscordServer, db: Database, workdir: Path, seed: int) -> None:
        self.server = server
        self.db = db
        self.workdir = workdir
        self.seed = seed
        self.tally = Tally()
        self.bot = BotProcess(
            server, db.url, workdir, extra_env={"COHORTBOT_SCHEDULER_TICK_SECONDS": "1"}
        )
        self.world: World | None = None
        self.base = datetime.now(UTC)
        self.stop = asyncio.Event()
        self.locks: dict[int, asyncio.Lock] = defaultdict(asyncio.Lock)
        self.prompt_ids: dict[int, int] = {}  # plan index -> prompt id
        self.exercise_id: int | None = None
        self.leaver_id = 0
        self.tasks: list[asyncio.Task[Any]] = []
        self.must_finish: list[asyncio.Task[Any]] = []

    # ------------------------------------------------------------ helpers

    @property
    def students(self) -> list[Actor]:
        assert self.world is not None
        return self.world.students(MODULE)

    @property
    def tutor(self) -> Actor:
        assert self.world is not None
        return self.world.tutors(MODULE)[0]

    @property
    def channel(self) -> Channel:
        assert self.world is not None
        return self.world.channel(MODULE)

    def moment(self, offset: float) -> datetime:
        return self.base + timedelta(seconds=offset)

    async def sleep_until(self, offset: float) -> None:
        delay = (self.moment(offset) - datetime.now(UTC)).total_seconds()
        if delay > 0:
            await asyncio.sleep(delay)

    def connected(self) -> bool:
        return any(s.conn is not None for s in self.server.gateway.sessions.values())

    async def until_connected(self, timeout: float = 60) -> None:  # noqa: ASYNC109
        await self.server.script.wait_for(
            self.connected, timeout=timeout, what="a connected bot session"
        )

    async def as_user(
        self, actor: Actor, what: str, work: Callable[[], Awaitable[Message]]
    ) -> Message | None:
        """Do one interactive thing as a person, again and again until the bot answers it
        (it may be down or restarting); None if the term ended first."""
        while True:
            async with self.locks[actor.id]:
                with contextlib.suppress(AssertionError):
                    await self.until_connected(timeout=30)
                try:
                    return await work()
                except (AssertionError, ApiError, KeyError) as exc:
                    self.tally.command_retries += 1
                    last = f"{what}: {str(exc).splitlines()[0][:160]}"
            if self.stop.is_set():
                self.tally.notes.append(f"gave up on {last}")
                return None
            await asyncio.sleep(0.5)

    # ------------------------------------------------------------ set-up

    async def set_up(self, plan: Plan) -> None:
        programme, roster = example_texts()
        self.world = await build_world(
            self.server, self.db, programme_text=programme, roster_text=roster
        )
        await self.bot.start()
        await self.server.script.wait_for_commands(
            timeout=60, names=["prompt", "exercise", "deadline", "tutorial", "submit"]
        )
        await self.until_connected()
        # The tutor starts once the bot has linked the module's channel (it does so after the
        # guild is ready; commands are registered earlier).
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 60
        while loop.time() < deadline:
            async with self.db.session() as s:
                linked = (
                    await s.execute(select(Module.channel_id).where(Module.code == MODULE))
                ).scalar_one()
            if linked is not None:
                break
            await asyncio.sleep(0.1)
        self.base = datetime.now(UTC) + timedelta(seconds=20)
        tutor, channel = self.tutor, self.channel
        for p in plan.prompts:
            reply = await (
                await tutor.command(
                    "prompt create",
                    where=channel,
                    module=MODULE,
                    title=p.title,
                    opens=at(self.moment(p.opens)),
                    closes=at(self.moment(p.closes)),
                    rubric=RUBRIC,
                    text=f"{p.title}: where did you meet this in practice?",
                )
            ).reply(contains="Scheduled prompt #", timeout=15)
            self.prompt_ids[p.index] = int(reply.content.split("#", 1)[1].split(" ", 1)[0])
        for n, (kind, due) in enumerate(plan.deadlines):
            await (
                await tutor.command(
                    "deadline add",
                    where=channel,
                    module=MODULE,
                    kind=kind,
                    title=f"Chaos item {n + 1}",
                    due=at(self.moment(due) + timedelta(hours=1)),
                    offsets="1h",
                )
            ).reply(timeout=15)
        await (
            await tutor.command(
                "tutorial add",
                where=channel,
                module=MODULE,
                title="Chaos tutorial",
                start=at(self.moment(plan.tutorial_reminder) + timedelta(minutes=15)),
                duration="1h",
                reminders="15m",
            )
        ).reply(timeout=15)
        reply = await (
            await tutor.command(
                "exercise create",
                where=channel,
                options={
                    "module": MODULE,
                    "title": "Chaos exercise",
                    "brief": "Explain one way test data leaks into model selection.",
                    "submission_deadline": at(self.moment(plan.submission_deadline)),
                    "review_deadline": at(
                        self.moment(plan.submission_deadline) + timedelta(days=3)
                    ),
                    "k": 2,
                    "rubric": "Overall 0-10: convincing",
                    "reminder_hours": 0,
                },
            )
        ).reply(timeout=15)
        assert reply.content.startswith("Created peer exercise"), reply.content
        self.exercise_id = int(reply.content.split("#", 1)[1].split(" ", 1)[0])
        assert datetime.now(UTC) < self.base, "set-up took longer than its margin"

    # ------------------------------------------------------------ activity

    def thread_of(self, title: str) -> Channel | None:
        for ch in self.server.state.channels.values():
            if ch.is_thread and ch.parent_id == self.channel.id and ch.name == title:
                return ch
        return None

    def _post(self, actor: Actor, thread: Channel, text: str, reply_to: Message | None) -> None:
        try:
            self.server.state.create_message(
                actor.id,
                thread.id,
                text,
                reference=(
                    {"message_id": str(reply_to.id), "channel_id": str(thread.id)}
                    if reply_to is not None
                    else None
                ),
            )
            self.tally.posts += 1
        except ApiError:
            self.tally.refused += 1  # locked after its close: a student cannot post there
        self.server.commit()

    async def run_prompt(self, p: PromptPlan) -> None:
        students = self.students
        thread = await self.server.wait_until(
            lambda: self.thread_of(p.title),
            timeout=ACTIVITY + STALE_CLAIM.total_seconds() + 60,
            describe=lambda: f"thread of {p.title} never created",
        )
        # Posted the moment the thread exists, before the bot can have heard of it.
        rng = random.Random(self.seed * 1000 + p.index)
        for who in p.at_creation:
            self._post(students[who], thread, words(rng, rng.randint(15, 35), "first"), None)
        for ev in p.events:
            await self.sleep_until(p.opens + ev.at)
            erng = random.Random(ev.seed)
            actor = students[ev.actor]
            mine = [m for m in self.server.script.messages(thread) if m.author_id == actor.id]
            others = [
                m
                for m in self.server.script.messages(thread)
                if m.author_id != actor.id and m.author_id != self.server.bot_user_id
            ]
            if ev.kind == "reply" and others:
                self._post(actor, thread, words(erng, ev.size, "reply"), erng.choice(others))
            elif ev.kind == "edit" and mine:
                target = erng.choice(mine)
                try:
                    self.server.state.edit_message(
                        actor.id, thread.id, target.id, {"content": words(erng, ev.size, "edit")}
                    )
                    self.tally.edits += 1
                except ApiError:
                    self.tally.refused += 1
                self.server.commit()
            elif ev.kind == "delete" and mine:
                try:
                    self.server.state.delete_message(actor.id, thread.id, erng.choice(mine).id)
                    self.tally.deletes += 1
                except ApiError:
                    self.tally.refused += 1
                self.server.commit()
            else:
                self._post(actor, thread, words(erng, ev.size, "post"), None)

    async def late_answer(self, p: PromptPlan, after: float, who: int) -> None:
        await self.sleep_until(p.closes + after)
        actor = self.students[who]
        prompt_id = self.prompt_ids[p.index]
        text = words(random.Random(self.seed + prompt_id + who), 30, "late")

        async def work() -> Message:
            handle = await actor.command("prompt answer", where=self.channel, prompt=prompt_id)
            await handle.modal(timeout=8)
            sent = await actor.submit_modal(answer=text)
            return await sent.reply(timeout=10)

        reply = await self.as_user(actor, f"late answer to #{prompt_id}", work)
        if reply is not None:
            self.tally.late_answers += 1
            self.tally.notes.append(f"late answer #{prompt_id}: {reply.content[:90]}")

    async def submit(self, who: int, when: float, plan: Plan) -> None:
        await self.sleep_until(when)
        actor = self.students[who]

        async def work() -> Message:
            handle = await actor.command(
                "submit",
                where=self.channel,
                exercise=self.exercise_id,
                text=words(random.Random(self.seed + who), 40, "work"),
            )
            return await handle.reply(timeout=10)

        reply = await self.as_user(actor, "submission", work)
        if reply is not None and "Received" in reply.content:
            self.tally.submissions += 1

    async def reviewer(self, who: int) -> None:
        actor = self.students[who]
        done: set[str] = set()
        while not self.stop.is_set():
            for request in review_requests(actor):
                cid = review_button(request) or ""
                if cid in done:
                    continue

                async def work(request: Message = request) -> Message:
                    return await write_review(actor, request, {"Overall": "7"}, "Clear and fair.")

                reply = await self.as_user(actor, "review", work)
                if reply is not None:
                    done.add(cid)
                    self.tally.reviews += 1
            await asyncio.sleep(0.3)

    async def leave(self, who: int, plan: Plan) -> None:
        await self.sleep_until(plan.submission_deadline + plan.leaves_at)
        assert self.world is not None
        self.server.script.remove_member(self.world.guild, self.students[who])

    async def faults(self, plan: Plan) -> None:
        for fault in plan.faults:
            await self.sleep_until(fault.at)
            if fault.kind != "early-kill":
                # at a random moment of a running bot, not always while it starts up
                with contextlib.suppress(AssertionError):
                    await self.until_connected(timeout=20)
                await asyncio.sleep(fault.settle)
            if fault.kind not in ("kill", "early-kill"):
                gw = self.server.gateway
                done = 0
                if fault.kind == "drop":
                    done = await gw.drop(code=4000)
                elif fault.kind == "cut":
                    done = await gw.drop(code=None)
                elif fault.kind == "invalidate":
                    done = gw.invalidate(resumable=False)
                else:
                    done = gw.send_reconnect()
                if done:
                    self.tally.drops += 1
                    continue
            await self.bot.kill()
            self.tally.kills += 1
            await asyncio.sleep(fault.down_for)
            await self.bot.start()

    async def run(self, plan: Plan) -> None:
        spawn = asyncio.create_task
        for p in plan.prompts:
            self.tasks.append(spawn(self.run_prompt(p)))
            for after, who in p.late_answers:
                self.must_finish.append(spawn(self.late_answer(p, after, who)))
        for who, when in plan.submitters:
            self.must_finish.append(spawn(self.submit(who, when, plan)))
            if who != plan.leaver:
                self.tasks.append(spawn(self.reviewer(who)))
        self.leaver_id = self.students[plan.leaver].id
        self.tasks.append(spawn(self.leave(plan.leaver, plan)))
        faults = spawn(self.faults(plan))
        await faults
        if not self.bot.alive:
            await self.bot.start()
        await self.until_connected(timeout=60)

    # ------------------------------------------------------------ settling

    async def settle(self, plan: Plan) -> None:
        """Wait (bounded) for what was due to be done: prompts closed (a claim left by a
        killed process is retried after STALE_CLAIM), notices past their lease, commands
        answered, reviews written."""
        limit = float(
            os.environ.get("COHORTBOT_CHAOS_SETTLE_SECONDS", STALE_CLAIM.total_seconds() + 120)
        )
        loop = asyncio.get_running_loop()
        deadline = loop.time() + limit
        waiting = ""
        start = loop.time()
        while loop.time() < deadline:
            waiting = await self._waiting()
            if not waiting:
                break
            await asyncio.sleep(1)
        self.tally.notes.append(
            f"settled after {loop.time() - start:.0f}s"
            if not waiting
            else f"never settled: {waiting}"
        )
        self.stop.set()
        await asyncio.wait_for(
            asyncio.gather(*self.must_finish, return_exceptions=True), timeout=60
        )
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)

    async def _waiting(self) -> str:
        """What is still to happen ('' when nothing)."""
        now = datetime.now(UTC)
        unfinished = sum(1 for t in self.must_finish if not t.done())
        async with self.db.session() as s:
            open_prompts = (
                await s.execute(
                    select(func.count())
                    .select_from(DiscussionPrompt)
                    .where(DiscussionPrompt.status != PromptStatus.CLOSED)
                )
            ).scalar_one()
            waiting = (
                await s.execute(
                    select(func.count())
                    .select_from(Notice)
                    .where(
                        Notice.due_at <= now,
                        Notice.status.in_([NoticeStatus.PENDING, NoticeStatus.CLAIMED]),
                    )
                )
            ).scalar_one()
            # the leaver's own pending reviews are judged at the end, not waited for
            pending_reviews = (
                await s.execute(
                    select(func.count())
                    .select_from(ReviewAssignment)
                    .join(Person, Person.id == ReviewAssignment.reviewer_id)
                    .where(
                        ReviewAssignment.status == AssignmentStatus.PENDING,
                        Person.platform_user_id != str(self.leaver_id),
                    )
                )
            ).scalar_one()
            allocated = (
                await s.execute(select(func.count()).select_from(ReviewAssignment))
            ).scalar_one()
            # Prompt posts and closing summaries go through the outbox after the prompt's row
            # changes: one claimed by a killed process is sent after its lease runs out.
            unsent = (
                await s.execute(
                    select(func.count())
                    .select_from(OutboxMessage)
                    .where(
                        OutboxMessage.feature == "discussions",
                        OutboxMessage.state.in_([OutboxState.PENDING, OutboxState.CLAIMED]),
                    )
                )
            ).scalar_one()
        what = {
            "commands unanswered": unfinished,
            "prompts not closed": open_prompts,
            "notices due not sent": waiting,
            "discussion posts not sent": unsent,
            "reviews pending": pending_reviews,
            "allocation missing": int(allocated == 0),
        }
        return ", ".join(f"{k} {v}" for k, v in what.items() if v)

    # ------------------------------------------------------------ judging

    async def record_problems(self) -> tuple[list[str], dict[str, int]]:
        """Every message the server holds in a watched thread, recorded exactly once."""
        state = self.server.state
        bot_id = self.server.bot_user_id
        async with self.db.session() as s:
            prompts = (await s.execute(select(DiscussionPrompt))).scalars().all()
            rows = (
                await s.execute(
                    select(
                        Contribution.message_id,
                        Contribution.thread_id,
                        Contribution.content,
                        Contribution.deleted_at,
                    )
                )
            ).all()
        problems: list[str] = []
        threads = {p.thread_id for p in prompts if p.thread_id is not None}
        for p in prompts:
            if p.thread_id is None:
                problems.append(f"prompt {p.id} has no thread")
        # Each prompt posted once and closed once (markers in the channel and the thread).
        channel_markers = Counter(
            render.marker_of(m.content) for m in self.server.script.messages(self.channel)
        )
        for p in prompts:
            parts = {
                mark: n
                for mark, n in channel_markers.items()
                if mark and mark.startswith(f"-# cohortbot prompt {p.id} · part ")
            }
            if not parts or any(n != 1 for n in parts.values()):
                problems.append(f"prompt {p.id} posted as {parts or 'nothing'}")
        server_threads = [
            ch
            for ch in state.channels.values()
            if ch.is_thread and ch.parent_id == self.channel.id and ch.owner_id == bot_id
        ]
        if len(server_threads) != len(prompts):
            problems.append(f"{len(server_threads)} prompt threads for {len(prompts)} prompts")
        expected: dict[str, Message] = {}
        for ch in server_threads:
            if str(ch.id) not in threads:
                problems.append(f"thread {ch.name} ({ch.id}) is not any prompt's thread")
            closing = 0
            for m in self.server.script.messages(ch, include_deleted=True):
                if m.author_id == bot_id:
                    mark = render.marker_of(m.content) or ""
                    closing += mark.endswith("· closed") and not m.deleted
                    if parse_relayed(m.content) is None:
                        continue
                expected[str(m.id)] = m
            if closing != 1:
                problems.append(f"thread {ch.name}: closing summary posted {closing} times")
        ids = Counter(mid for mid, *_ in rows)
        duplicated = sum(n - 1 for n in ids.values()) + sum(1 for mid in ids if mid not in expected)
        for mid in ids:
            if mid not in expected:
                problems.append(f"contribution {mid} is no message in a prompt thread")
        # A message posted and deleted while no bot was there to see it (no gateway delivery,
        # no history read in between) cannot be recorded by anyone: reported, not lost.
        unseen = [mid for mid in expected if mid not in ids and expected[mid].deleted]
        lost = [mid for mid in expected if mid not in ids and not expected[mid].deleted]
        for mid in lost:
            m = expected[mid]
            problems.append(
                f"lost: message {mid} by {self.server.script.name_of(m.author_id)} in "
                f"{state.channels[m.channel_id].name} ({m.content[:40]!r}"
                f"{', deleted' if m.deleted else ''})"
            )
        by_id = {mid: (thread, content, deleted) for mid, thread, content, deleted in rows}
        for mid, m in expected.items():
            if mid not in by_id:
                continue
            _, content, deleted_at = by_id[mid]
            if m.deleted and deleted_at is None:
                problems.append(f"message {mid} deleted on the server, not flagged")
            if not m.deleted and deleted_at is not None:
                problems.append(f"message {mid} flagged deleted but still there")
            if not m.deleted and m.author_id != bot_id and content != m.content:
                problems.append(
                    f"message {mid} recorded as {content[:30]!r}, is {m.content[:30]!r}"
                )
        counts = {
            "messages": len(expected),
            "lost": len(lost),
            "duplicated": duplicated,
            "deleted": sum(1 for m in expected.values() if m.deleted),
            "unseen_deleted": len(unseen),
        }
        return problems, counts

    async def ledger_problems(self) -> list[str]:
        """The ledger equals the credits recomputed from the record, item by item."""
        problems: list[str] = []
        async with self.db.session() as s:
            module_ids = (await s.execute(select(Module.id))).scalars().all()
            for module_id in module_ids:
                result = await reconcile(s, module_id)
                problems += [d.text for d in result.discrepancies]
                totals = await ledger.totals(s, module_id)
                ledger_totals = {
                    (pid, source.value): value
                    for pid, by_source in totals.items()
                    for source, value in by_source.items()
                    if value != 0
                }
                if result.expected_totals != ledger_totals:
                    problems.append(
                        f"module {module_id}: recomputed totals {result.expected_totals} != "
                        f"ledger {ledger_totals}"
                    )
        return problems

    async def notice_problems(self) -> tuple[list[str], int]:
        """Every notice due sent exactly once (or skipped as documented), judged from the
        server's messages (each ends with its marker) and from the database."""
        now = datetime.now(UTC)
        async with self.db.session() as s:
            notices = (await s.execute(select(Notice).where(Notice.due_at <= now))).scalars().all()
        seen: Counter[int] = Counter()
        ids = {n.id for n in notices}
        for m in self.server.state.messages.values():
            if m.author_id != self.server.bot_user_id or m.deleted or m.visible_to is not None:
                continue
            lines = m.content.rstrip().splitlines()
            last = lines[-1].strip() if lines else ""
            if last.startswith("-# cohortbot notice "):
                with contextlib.suppress(ValueError):
                    seen[int(last.rsplit(" ", 1)[1])] += 1
        problems: list[str] = []
        sent = 0
        for n in notices:
            posted = seen[n.id]
            if n.kind == notice_messages.TUTORIAL_CARD_EDIT:
                continue  # edits the card in place: no message of its own
            if n.status == NoticeStatus.SENT:
                sent += 1
                if posted != 1:
                    problems.append(f"notice {n.id} ({n.kind}) sent, found {posted} times")
            elif n.status in (NoticeStatus.SKIPPED, NoticeStatus.CANCELLED):
                if posted:
                    problems.append(f"notice {n.id} ({n.kind}) {n.status}, but posted {posted}x")
            else:
                problems.append(
                    f"notice {n.id} ({n.kind}) due {n.due_at:%H:%M:%S} is {n.status}"
                    f" ({n.last_error}), posted {posted}x"
                )
        for nid, count in seen.items():
            if nid not in ids:
                problems.append(f"a notice {nid} posted {count}x is not due or unknown")
        return problems, sent

    async def peer_problems(self, plan: Plan) -> tuple[list[str], int]:
        """Every submission has k reviews, or the tutor was told why."""
        async with self.db.session() as s:
            exercise = await s.get(PeerExercise, self.exercise_id)
            assert exercise is not None
            subs = (
                (
                    await s.execute(
                        select(PeerSubmission).where(
                            PeerSubmission.exercise_id == exercise.id, PeerSubmission.is_current
                        )
                    )
                )
                .scalars()
                .all()
            )
            done = Counter(
                author
                for (author,) in (
                    await s.execute(
                        select(ReviewAssignment.author_id)
                        .join(PeerReview, PeerReview.assignment_id == ReviewAssignment.id)
                        .where(ReviewAssignment.exercise_id == exercise.id)
                    )
                ).all()
            )
            names = {
                p.id: p.display_name for p in (await s.execute(select(Person))).scalars().all()
            }
            k = exercise.reviews_per_submission
        told = "\n".join(m.content for m in self.tutor.dms())
        problems = []
        for sub in subs:
            why = f"Still missing: {names.get(sub.person_id)}" in told or "short of" in told
            if done[sub.person_id] < k and not why:
                problems.append(
                    f"submission of {names.get(sub.person_id)} has {done[sub.person_id]} of {k}"
                    " reviews and the tutor was not told why"
                )
        return problems, sum(done.values())
