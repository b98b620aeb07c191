"""What a running bot is, whatever its chat platform: the platform-free half of the process.

``bot.discord_app.Application`` and ``slackapp.app.SlackApplication`` both build on this: the
database check, the web server (health, metrics, dashboard), and the scheduled work that
acts on its own (calendar notices, peer allocation, digests, and last the one outbox that
sends what they queued). Registering the jobs here, once, means Slack runs the same jobs as
Discord, not a copy of them.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import signal
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Protocol

from bot.calendar.engine import EngineConfig, new_worker_id
from bot.calendar.engine import run_due as run_calendar_due
from bot.chat import ChatPort
from bot.clock import Clock
from bot.config import Settings
from bot.dashboard.digest import send_digests
from bot.db.engine import Database
from bot.db.migrate import schema_state
from bot.metrics import Metrics
from bot.outbox import Outbox, remove_waker
from bot.peer.jobs import run_due as run_peer_due
from bot.scheduler import Scheduler
from bot.web.dashboard import DashboardSources
from bot.web.server import HealthSources, WebServer, build_web_app

log = logging.getLogger(__name__)

#: The scheduled job that sends what the outbox holds.
OUTBOX_JOB = "outbox"
CALENDAR_JOB = "calendar"
PEER_JOB = "peer"
DIGEST_JOB = "early-warning-digest"
#: How long a clean stop waits for sends and scheduled work under way.
DRAIN_SECONDS = 15.0


class StartupError(Exception):
    """A reason the bot cannot start, as one line for the operator."""


class BotCrashed(Exception):
    """The chat connection ended without being asked to: a supervisor must restart us."""


async def quiesce(scheduler: Scheduler, outbox: Outbox, waker: Callable[[], None]) -> None:
    """The first half of every clean stop, whatever the platform: nothing new starts, the
    sends under way finish and are recorded (nothing left claimed), the scheduled work under
    way ends, all while the connection still works; the platform closes it after."""
    scheduler.pause()
    remove_waker(waker)
    await outbox.drain(DRAIN_SECONDS)
    await scheduler.idle(DRAIN_SECONDS)


class Runnable(Protocol):
    """What ``cohortbot run`` runs: a platform's application."""

    crash: str | None

    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    async def stopped(self) -> None:
        """Returns when the application stopped (asked to, or its connection died)."""
        ...


def settle_memory() -> None:
    """Once started, keep the garbage collector off what start-up built.

    Everything loaded at start-up (modules, the ORM's and the chat library's classes,
    settings: about 150,000 objects) lives as long as the process. With the collector's
    defaults, a full collection walked all of it again every half second while a thousand
    students asked for their marks, 150-220 ms each with the event loop stopped
    (docs/benchmarks.md). ``gc.freeze`` moves it out of the collector's sight (it is still
    freed as usual when nothing refers to it), and a larger first threshold makes the
    collections of what is created afterwards ten times rarer (each still small).
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(10_000, 10, 10)


async def run_until_signal(app: Runnable) -> None:
    """``cohortbot run``: start, then stop cleanly on SIGTERM/SIGINT or when the app stops.

    Raises ``BotCrashed`` (after the same clean stop) when the chat connection died on its
    own, so the process exits non-zero and its supervisor restarts it.
    """
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    await app.start()
    settle_memory()
    waiter = asyncio.create_task(stop.wait())
    stopped = asyncio.create_task(app.stopped())
    await asyncio.wait({waiter, stopped}, return_when=asyncio.FIRST_COMPLETED)
    waiter.cancel()
    stopped.cancel()
    log.info("shutting down")
    await app.stop()
    if app.crash is not None:
        raise BotCrashed(app.crash)


async def check_schema(db: Database) -> None:
    """Refuse to start on a database the migrations have not brought up to date."""
    problem = (await schema_state(db)).problem()
    if problem:
        raise StartupError(problem)


def build_web_server(
    settings: Settings,
    *,
    db: Database,
    clock: Clock,
    metrics: Metrics,
    scheduler: Scheduler,
    outbox: Outbox,
    connected: Callable[[], bool],
) -> WebServer:
    """/healthz, /metrics and the dashboard, the same for every platform."""
    return WebServer(
        build_web_app(
            HealthSources(
                database=db,
                metrics=metrics,
                gateway_connected=connected,
                scheduler_alive=lambda: scheduler.alive,
                clock=clock.now,
            ),
            DashboardSources(
                db=db,
                clock=clock.now,
                outbox=outbox,
                public_url=settings.public_url,
                secret=(
                    settings.dashboard_secret.get_secret_value()
                    if settings.dashboard_secret
                    else None
                ),
            ),
        ),
        settings.web_host,
        settings.web_port,
    )


@dataclass(kw_only=True, eq=False)
class ScheduledWork:
    """The jobs that act on their own and only need the chat port and the outbox.

    ``register_features`` before a platform adds its own jobs; ``register_outbox`` last, so a
    run of every job (the demo's clock) sends what the others queued.
    """

    db: Database
    chat: ChatPort
    outbox: Outbox
    scheduler: Scheduler
    clock: Clock
    metrics: Metrics
    calendar_config: EngineConfig = field(
        default_factory=lambda: EngineConfig(worker_id=new_worker_id())
    )
    _calendar_wake_at: datetime | None = field(default=None, init=False)

    def register_features(self) -> None:
        self.scheduler.register(CALENDAR_JOB, self.calendar_once)
        self.scheduler.register(DIGEST_JOB, self.digests_once)
        self.scheduler.register(PEER_JOB, self.peer_once)

    def register_outbox(self) -> None:
        self.scheduler.register(OUTBOX_JOB, self.send_owed)

    # ---------------------------------------------------------------- calendar notices

    async def run_calendar(self) -> None:
        """Send what is due now, under the job's lock (a command that must see it sent waits
        for a scheduled run already sending); nothing once stopping."""
        await self.scheduler.run_now(CALENDAR_JOB)

    async def calendar_once(self) -> None:
        report = await run_calendar_due(
            self.db,
            self.chat,
            now=self.clock.now(),
            config=self.calendar_config,
            clock=self.clock.now,
            on_outcome=lambda outcome: self.metrics.notices.labels(outcome=outcome).inc(),
            sender=self.outbox,
        )
        self.wake_calendar(report.next_due_at)

    def wake_calendar(self, at: datetime | None) -> None:
        """One pending wake at a time: the earliest moment anything is due."""
        if at is None:
            return
        now = self.clock.now()
        if self._calendar_wake_at is not None and now < self._calendar_wake_at <= at:
            return
        self._calendar_wake_at = at
        delay = max(0.0, (at - now).total_seconds())
        # APScheduler runs on real time; the bot's clock may be the demo's.
        self.scheduler.wake(CALENDAR_JOB, at=datetime.now(UTC) + timedelta(seconds=delay))

    # ---------------------------------------------------------------- peer, digests

    async def peer_once(self) -> None:
        await run_peer_due(self.db, self.chat, self.clock.now(), sender=self.outbox)

    def wake_peer(self) -> None:
        self.scheduler.wake(PEER_JOB)

    async def digests_once(self) -> None:
        """The weekly digest (opt-in per cohort); cheap when no cohort asked for one."""
        try:
            queued = await send_digests(self.db, self.clock.now())
        except Exception:
            log.exception("early-warning digest run failed")
            return
        if queued:
            log.info("queued %d early-warning digest(s) in the outbox", queued)

    # ---------------------------------------------------------------- the outbox

    async def send_owed(self) -> None:
        """The outbox's scheduled run; then a wake for the next retry or lease ending."""
        await self.outbox.run()
        due = await self.outbox.next_due()
        if due is not None and not self.outbox.closing:
            # The scheduler keeps real time; the bot's clock may be a demo's: wake after the
            # same span. (What is overdue waits for the tick: no busy retry.)
            wait = due - self.clock.now()
            if wait > timedelta(0):
                self.scheduler.wake(OUTBOX_JOB, datetime.now(UTC) + wait, key="next")

    def wake_outbox(self) -> None:
        """Something was enqueued (and committed): send it now, not at the next tick."""
        if not self.outbox.closing:
            self.scheduler.wake(OUTBOX_JOB)
