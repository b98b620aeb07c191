"""`cohortbot run` as its own process, configured by environment variables only, that a test
can SIGKILL and start again as a supervisor would."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys
from pathlib import Path
from typing import IO

from cohortlab.localdiscord.server import LocalDiscordServer


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class BotProcess:
    """One bot at a time; every start appends its output to one log file."""

    def __init__(
        self,
        server: LocalDiscordServer,
        db_url: str,
        cwd: Path,
        *,
        extra_env: dict[str, str] | None = None,
    ) -> None:
        self.server = server
        self.db_url = db_url
        self.cwd = cwd
        self.extra_env = extra_env or {}
        self.log_path = cwd / "bot.log"
        self.proc: asyncio.subprocess.Process | None = None
        self.starts = 0
        self.kills = 0
        self._log: IO[bytes] | None = None

    def _env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("COHORTBOT_")}
        env.update(
            DISCORD_TOKEN=self.server.token,
            COHORTBOT_DISCORD_API_BASE=self.server.api_base,
            COHORTBOT_DISCORD_GATEWAY_URL=self.server.gateway_url,
            COHORTBOT_DATABASE_URL=self.db_url,
            COHORTBOT_WEB_PORT=str(free_port()),
            COHORTBOT_GUILD_READY_TIMEOUT="0.1",
            COHORTBOT_LOG_LEVEL="WARNING",
        )
        env.update(self.extra_env)
        return env

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.returncode is None

    async def start(self) -> None:
        assert not self.alive, "one bot at a time"
        if self._log is None:
            self._log = self.log_path.open("ab")
        self.starts += 1
        self._log.write(f"\n===== start {self.starts} =====\n".encode())
        self._log.flush()
        self.proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bot",
            "run",
            env=self._env(),
            cwd=self.cwd,
            stdout=self._log,
            stderr=self._log,
        )

    async def kill(self) -> None:
        """SIGKILL: nothing flushed, nothing said goodbye."""
        if not self.alive:
            return
        assert self.proc is not None
        self.proc.kill()
        self.kills += 1
        await asyncio.wait_for(self.proc.wait(), timeout=30)

    async def stop(self) -> int | None:
        """SIGTERM, as an operator stops it; the exit code."""
        if not self.alive:
            return None if self.proc is None else self.proc.returncode
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)
        try:
            return await asyncio.wait_for(self.proc.wait(), timeout=30)
        except TimeoutError:
            self.proc.kill()
            await self.proc.wait()
            return None

    async def close(self) -> None:
        if self.alive:
            assert self.proc is not None
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
