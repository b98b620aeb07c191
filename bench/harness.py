"""The production-shaped bench harness: the bot as operators run it, Discord as the bot meets it.

Why: a bench that runs the local server, the bot and the client it compares against in one
process and one event loop charges the server's work to whoever is measured and lets the
denominator share the bot's loop; its ratios were 10-60% kinder than the ones measured with
each party in its own process. Here:

- this process hosts the local Discord-compatible server (``cohortlab.localdiscord``) with a
  delay on every REST request (``--latency-ms``, default 50) and Discord's rate limits
  (``RateLimiter.discord_like()``: 50 requests/s per token, per-route buckets, X-RateLimit-*
  headers and 429s);
- the bot is ``python -m bot run`` in its own process, configured by environment variables
  only, ready once it has registered its commands and its ``/healthz`` answers 200;
- a bare discord.py client (``bench/bare_client.py``) runs in a third process when a ratio
  needs one;
- every database is fresh: a SQLite file in a temporary directory, or a PostgreSQL database
  created for the run and dropped after (``--db sqlite|postgres|both``).

Each bench prints every round, the median and the range (``Series``).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import aiohttp
import asyncpg
from sqlalchemy.engine import make_url

from bot.db.engine import Database
from bot.db.migrate import upgrade
from cohortlab.localdiscord.models import BotApp, Channel
from cohortlab.localdiscord.ratelimit import RateLimiter
from cohortlab.localdiscord.server import LocalDiscordServer

ROOT = Path(__file__).resolve().parent.parent
POSTGRES_URL = os.environ.get(
    "COHORTBOT_BENCH_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"
)
_counter = itertools.count()
#: Seconds the bare client may take to see one round's messages before the bench gives up.
BARE_TIMEOUT = 900.0


# ------------------------------------------------------------------ options


def add_options(parser: argparse.ArgumentParser, *, rounds: int) -> None:
    """The options every production-shaped bench takes."""
    parser.add_argument("--db", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument("--latency-ms", type=float, default=50.0, help="delay per REST request")
    parser.add_argument("--rounds", type=int, default=rounds)
    parser.add_argument("--quick", action="store_true", help="small sizes, 1-2 rounds")


def backends(choice: str) -> list[str]:
    return ["sqlite", "postgres"] if choice == "both" else [choice]


def load() -> str:
    """The machine's load when a figure was taken: other work on 2 cores moves it."""
    one, five, _ = os.getloadavg()
    return f"load {one:.1f}/{five:.1f} on {os.cpu_count()} cores"


# ------------------------------------------------------------------ figures


@dataclass
class Series:
    """One figure over rounds: every round, the median and the range."""

    name: str
    unit: str = ""
    fmt: str = "{:.2f}"
    values: list[float] = field(default_factory=list)

    def add(self, value: float) -> None:
        self.values.append(value)

    @property
    def median(self) -> float:
        return statistics.median(self.values)

    def line(self, target: str = "") -> str:
        f = self.fmt.format
        rounds = " ".join(f(v) for v in self.values)
        low, high = min(self.values), max(self.values)
        tail = f"  {target}" if target else ""
        return (
            f"  {self.name}: median {f(self.median)}{self.unit} range {f(low)}-{f(high)}"
            f"{self.unit} (rounds: {rounds}){tail}"
        )


def cpu_seconds(pid: int | None) -> float:
    """User + system CPU seconds a process (and its reaped children) has used so far (Linux)."""
    if pid is None:
        return 0.0
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    ticks = os.sysconf("SC_CLK_TCK")
    return sum(int(f) for f in fields[11:15]) / ticks


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


# ---------------------------------------------------------------- databases


def _pg(database: str, *, driver: str = "postgresql+asyncpg") -> str:
    url = make_url(POSTGRES_URL).set(drivername=driver, database=database)
    return url.render_as_string(hide_password=False)


async def _pg_admin(sql: str) -> None:
    conn = await asyncpg.connect(
        _pg(make_url(POSTGRES_URL).database or "postgres", driver="postgresql")
    )
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


@contextlib.asynccontextmanager
async def fresh_database(backend: str, workdir: Path) -> AsyncIterator[str]:
    """A migrated, empty database for one run; dropped afterwards (PostgreSQL)."""
    n = next(_counter)
    if backend == "sqlite":
        url = f"sqlite+aiosqlite:///{workdir / f'bench_{n}.db'}"
        name = None
    else:
        name = f"cohortbot_bench_{os.getpid()}_{n}"
        await _pg_admin(f'DROP DATABASE IF EXISTS "{name}"')
        await _pg_admin(f'CREATE DATABASE "{name}"')
        url = _pg(name)
    db = Database(url)
    try:
        await upgrade(db)
    finally:
        await db.dispose()
    try:
        yield url
    finally:
        if name is not None:
            await _pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


# ------------------------------------------------------------------- server


def discord_like_server(latency_ms: float) -> LocalDiscordServer:
    """The local server with Discord's rate limits and a delay on every REST request."""
    server = LocalDiscordServer(ratelimiter=RateLimiter.discord_like())
    server.rest.latency = latency_ms / 1000
    return server


def add_member_app(
    server: LocalDiscordServer, guild_id: int, name: str, roles: tuple[int, ...] = ()
) -> BotApp:
    """A second application (the bare client) that is a member of ``guild_id``."""
    app = server.state.add_app(name, f"{name}-token")
    server.state.add_member(guild_id, app.user_id, roles=roles)
    server.commit()
    return app


def role_id(server: LocalDiscordServer, guild_id: int, name: str) -> int:
    guild = server.state.guilds[guild_id]
    return next(r.id for r in guild.roles.values() if r.name == name)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# ---------------------------------------------------------------- processes


class BotProcess:
    """``python -m bot run`` in its own process, configured by environment variables only."""

    def __init__(
        self, server: LocalDiscordServer, db_url: str, workdir: Path, **settings: str
    ) -> None:
        self.server = server
        self.db_url = db_url
        self.workdir = workdir
        self.settings = settings
        self.web_port = free_port()
        self.log_path = workdir / f"bot_{next(_counter)}.log"
        self.proc: asyncio.subprocess.Process | None = None
        self._log: IO[bytes] | None = None

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("COHORTBOT_")}
        env.update(
            DISCORD_TOKEN=self.server.token,
            COHORTBOT_DISCORD_API_BASE=self.server.api_base,
            COHORTBOT_DISCORD_GATEWAY_URL=self.server.gateway_url,
            COHORTBOT_DATABASE_URL=self.db_url,
            COHORTBOT_WEB_PORT=str(self.web_port),
            COHORTBOT_GUILD_READY_TIMEOUT="0.1",
            COHORTBOT_LOG_LEVEL="WARNING",
        )
        env.update({f"COHORTBOT_{k.upper()}": v for k, v in self.settings.items()})
        return env

    async def start(self, *, timeout: float = 120) -> float:  # noqa: ASYNC109
        """Start and wait until ready; the seconds that took (spawn to /healthz 200)."""
        self._log = self.log_path.open("ab")
        began = time.perf_counter()
        # BENCH_PROFILE=<dir>: the bot runs under cProfile and writes <dir>/bot_<n>.prof on exit.
        profile = os.environ.get("BENCH_PROFILE")
        wrap = ["-m", "cProfile", "-o", f"{profile}/{self.log_path.stem}.prof"] if profile else []
        self.proc = await asyncio.create_subprocess_exec(
            sys.executable,
            *wrap,
            "-m",
            "bot",
            "run",
            env=self.env(),
            cwd=self.workdir,
            stdout=self._log,
            stderr=self._log,
        )
        await self.until_healthy(timeout)
        return time.perf_counter() - began

    async def until_healthy(self, timeout: float) -> None:  # noqa: ASYNC109
        """What an operator's probe does: poll /healthz until the bot says it is ready."""
        deadline = time.monotonic() + timeout
        url = f"http://127.0.0.1:{self.web_port}/healthz"
        async with aiohttp.ClientSession() as http:
            while time.monotonic() < deadline:
                if self.proc is not None and self.proc.returncode is not None:
                    raise SystemExit(f"the bot exited: {self.log_tail()}")
                with contextlib.suppress(aiohttp.ClientError):
                    async with http.get(url) as resp:
                        if resp.status == 200:
                            return
                await asyncio.sleep(0.02)
        raise SystemExit(f"the bot never became healthy: {self.log_tail()}")

    async def stop(self) -> None:
        """SIGTERM, as an operator stops it."""
        if self.proc is not None and self.proc.returncode is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(self.proc.wait(), timeout=60)
            except TimeoutError:
                self.proc.kill()
                await self.proc.wait()
        if self._log is not None:
            self._log.close()
            self._log = None

    def log_tail(self, chars: int = 3000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except FileNotFoundError:
            return ""


class BareClient:
    """``bench/bare_client.py`` in its own process: discord.py with the bot's intents, counting.

    It answers ``wait <channel> <n>`` on stdin with ``done`` once it has seen ``n`` messages in
    that channel; the bench times from the last frame queued to that line.
    """

    def __init__(self, server: LocalDiscordServer, app: BotApp) -> None:
        self.server = server
        self.app = app
        self.proc: subprocess.Popen[str] | None = None

    async def start(self) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("COHORTBOT_")}
        env.update(
            BENCH_TOKEN=self.app.token,
            BENCH_API_BASE=self.server.api_base,
            BENCH_GATEWAY_URL=self.server.gateway_url,
        )
        self.proc = subprocess.Popen(  # noqa: ASYNC220 - pipes read in a thread below
            [sys.executable, str(ROOT / "bench" / "bare_client.py")],
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        line = await self._read()
        if line != "ready":
            raise SystemExit(f"bare client: {line!r}")

    async def _read(self) -> str:
        assert self.proc is not None and self.proc.stdout is not None
        return (await asyncio.to_thread(self.proc.stdout.readline)).strip()

    async def count(self, channel: Channel, n: int, start: Callable[[], object]) -> float:
        """Tell it what to wait for, call ``start`` (which queues the frames), time until done."""
        assert self.proc is not None and self.proc.stdin is not None
        self.proc.stdin.write(f"wait {channel.id} {n}\n")
        self.proc.stdin.flush()
        reader = asyncio.create_task(self._read())
        start()
        began = time.perf_counter()
        try:
            line = await asyncio.wait_for(reader, BARE_TIMEOUT)
        except TimeoutError:
            raise SystemExit(f"the bare client saw fewer than {n} messages in time") from None
        if line != "done":
            raise SystemExit(f"bare client: {line!r}")
        return time.perf_counter() - began

    async def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            assert self.proc.stdin is not None
            self.proc.stdin.close()
            try:
                await asyncio.to_thread(self.proc.wait, 30)
            except subprocess.TimeoutExpired:
                self.proc.kill()


async def until(check: Callable[[], bool], timeout: float, what: str, every: float = 0.01) -> None:  # noqa: ASYNC109
    deadline = time.perf_counter() + timeout
    while not check():
        if time.perf_counter() > deadline:
            raise SystemExit(f"gave up waiting for {what}")
        await asyncio.sleep(every)


@contextlib.contextmanager
def workdir() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="cohortbot-bench-") as tmp:
        yield Path(tmp)
