"""Run the local Slack server by hand: ``python -m cohortlab.localslack [--port 3001]``.

It prints the environment a bot process needs (tokens, API URL) and a tiny workspace (a
tutor, two students, #general and #math70095) so ``cohortbot run`` can be tried against it
without Slack. Stop with Ctrl-C.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys

from cohortlab.localslack.server import LocalSlackServer


async def serve(port: int, mode: str, events_url: str) -> None:
    async with LocalSlackServer(port=port, mode=mode) as server:
        if events_url:
            server.events_url = events_url
        cohort = server.script.build_cohort(students=("alice", "bob"))
        people = ", ".join(f"{a.name}={a.id}" for a in cohort.tutors + cohort.students)
        lines = [
            f"SLACK_API_URL={server.api_base}",
            f"SLACK_BOT_TOKEN={server.bot_token}",
            f"SLACK_APP_TOKEN={server.app_token}",
            f"SLACK_SIGNING_SECRET={server.signing_secret}",
            f"# mode={server.mode} events_url={server.events_url}",
            f"# people: {people}; channels: #general={cohort.general.id}",
        ]
        sys.stdout.write("\n".join(lines) + "\n")
        sys.stdout.flush()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.Event().wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=3001)
    parser.add_argument("--mode", choices=["socket", "http"], default="socket")
    parser.add_argument("--events-url", default="")
    args = parser.parse_args()
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve(args.port, args.mode, args.events_url))


if __name__ == "__main__":
    main()
