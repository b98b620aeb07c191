"""``cohortbot`` command line: run the bot, migrate, load the programme and roster, export, demo.

Each command prints one clear line on failure and exits non-zero; nothing here echoes the token.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Callable, Coroutine, Sequence
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from bot import __version__
from bot.config import Settings, get_settings

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2

ROSTER_EXAMPLE = (
    "Example:\n  cohortbot roster import examples/roster-mlds-2025.csv --cohort MLDS-2025"
)

Handler = Callable[[argparse.Namespace, Settings], Coroutine[Any, Any, int]]


def _fail(message: str, code: int = EXIT_FAILED) -> int:
    print(f"cohortbot: {message}", file=sys.stderr)
    return code


async def cmd_run(args: argparse.Namespace, settings: Settings) -> int:
    if settings.discord_token is None:
        return _fail(
            "DISCORD_TOKEN is not set: put the bot token in the environment or in .env.",
            EXIT_USAGE,
        )
    from bot.discord_app import Application, BotCrashed, StartupError
    from bot.logging_setup import configure_logging

    configure_logging(
        settings.log_level,
        json_lines=settings.log_json,
        secrets=[settings.discord_token.get_secret_value()],
    )
    app = Application(settings)
    try:
        await app.run_until_signal()
    except StartupError as exc:
        await app.stop()
        return _fail(str(exc), EXIT_USAGE)
    except BotCrashed as exc:
        return _fail(f"stopped after a failure: {exc}", EXIT_FAILED)
    return EXIT_OK


async def cmd_migrate(args: argparse.Namespace, settings: Settings) -> int:
    from bot.db.engine import Database
    from bot.db.migrate import schema_state, upgrade

    db = Database(settings.database_url)
    try:
        if args.check:
            state = await schema_state(db)
            problem = state.problem()
            if problem:
                return _fail(problem)
            print(f"The database is at the current revision ({state.head}).")
            return EXIT_OK
        before = (await schema_state(db)).current
        await upgrade(db)
        after = (await schema_state(db)).current
    finally:
        await db.dispose()
    if before == after:
        print(f"The database was already at the current revision ({after}).")
    else:
        print(f"Migrated the database from {before or 'empty'} to {after}.")
    return EXIT_OK


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise SystemExit(_fail(f"no such file: {path}", EXIT_USAGE)) from None
    except UnicodeDecodeError:
        raise SystemExit(_fail(f"{path} is not UTF-8 text", EXIT_USAGE)) from None


async def _with_schema(settings: Settings) -> Any:
    from bot.db.engine import Database
    from bot.db.migrate import schema_state

    db = Database(settings.database_url)
    problem = (await schema_state(db)).problem()
    if problem:
        await db.dispose()
        raise SystemExit(_fail(problem, EXIT_USAGE))
    return db


async def _load_file(args: argparse.Namespace, settings: Settings, verb: str) -> int:
    """Programme load and roster import share one shape: all-or-nothing, errors listed."""
    from bot.roster.service import RosterError, import_roster, load_programme

    text = _read(args.file)
    db = await _with_schema(settings)
    try:
        async with db.session() as session:
            if verb == "loaded":
                report: Any = await load_programme(session, text)
            else:
                report = await import_roster(session, args.cohort, text)
    except RosterError as exc:
        for line in exc.errors:
            print(f"  {line}", file=sys.stderr)
        return _fail(f"{args.file} was not {verb}; nothing changed.")
    finally:
        await db.dispose()
    print(report.summary())
    return EXIT_OK


async def cmd_programme_load(args: argparse.Namespace, settings: Settings) -> int:
    return await _load_file(args, settings, "loaded")


async def cmd_roster_import(args: argparse.Namespace, settings: Settings) -> int:
    return await _load_file(args, settings, "imported")


EXPORT_EXAMPLE = (
    "Examples:\n"
    "  cohortbot export gradebook --module MATH70097 --out gradebook-MATH70097.csv\n"
    "  cohortbot export gradebook --cohort MLDS-2025 --format xlsx --out programme.xlsx"
)


async def cmd_export_gradebook(args: argparse.Namespace, settings: Settings) -> int:
    from sqlalchemy import select

    from bot.clock import SystemClock
    from bot.db.models import Cohort, Module
    from bot.errors import UserError
    from bot.gradebook.service import build_module_export, build_programme_export

    fmt = args.format
    if fmt is None:
        fmt = "xlsx" if args.out is not None and args.out.suffix.lower() == ".xlsx" else "csv"
    db = await _with_schema(settings)
    try:
        async with db.session() as session:
            cohorts = (await session.execute(select(Cohort).order_by(Cohort.code))).scalars().all()
            if args.cohort is not None:
                cohort = next((c for c in cohorts if c.code == args.cohort), None)
                if cohort is None:
                    known = ", ".join(c.code for c in cohorts) or "none loaded"
                    return _fail(f"no cohort {args.cohort!r}; known: {known}", EXIT_USAGE)
            elif len(cohorts) == 1:
                cohort = cohorts[0]
            else:
                known = ", ".join(c.code for c in cohorts) or "none loaded"
                return _fail(f"name the cohort with --cohort (known: {known})", EXIT_USAGE)
            now = SystemClock().now()
            if args.module is not None:
                code = args.module.strip().upper()
                module = (
                    await session.execute(
                        select(Module).where(Module.cohort_id == cohort.id, Module.code == code)
                    )
                ).scalar_one_or_none()
                if module is None:
                    return _fail(f"no module {code!r} in cohort {cohort.code}", EXIT_USAGE)
                file = await build_module_export(session, module, fmt, now)
            else:
                file = await build_programme_export(session, cohort, fmt, now)
    except UserError as exc:
        return _fail(exc.sentence)
    finally:
        await db.dispose()
    out: Path = args.out or Path(file.filename)
    try:
        await asyncio.to_thread(out.write_bytes, file.data)
    except OSError as exc:
        return _fail(f"cannot write {out}: {exc.strerror}")
    print(f"Wrote {out}: {file.summary}.")
    return EXIT_OK


async def cmd_demo(args: argparse.Namespace, settings: Settings) -> int:
    from bot.demo import run_demo

    return await run_demo(args, settings)


def _parser() -> argparse.ArgumentParser:
    fmt = argparse.RawDescriptionHelpFormatter
    parser = argparse.ArgumentParser(
        prog="cohortbot",
        description="Runs an online MSc cohort's teaching rhythm on Discord and keeps the "
        "participation records that count toward marks.",
        epilog="Settings come from the environment or .env (see README). Example:\n"
        "  cohortbot migrate && cohortbot run",
        formatter_class=fmt,
    )
    parser.add_argument("--version", action="version", version=f"cohortbot {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    p = sub.add_parser(
        "run",
        help="connect to Discord and run the bot until stopped (SIGTERM stops it cleanly)",
        description="Connect to Discord (or a Discord-compatible server) and run the bot, "
        "its scheduler and the web endpoints /healthz and /metrics.",
        epilog="Example:\n  DISCORD_TOKEN=... cohortbot run",
        formatter_class=fmt,
    )
    p.set_defaults(handler=cmd_run)

    p = sub.add_parser(
        "migrate",
        help="create or upgrade the database schema to this version",
        description="Upgrade the database named by COHORTBOT_DATABASE_URL to the newest schema.",
        epilog="Examples:\n  cohortbot migrate\n"
        "  COHORTBOT_DATABASE_URL=postgresql+asyncpg://bot@db/cohortbot cohortbot migrate\n"
        "  cohortbot migrate --check",
        formatter_class=fmt,
    )
    p.add_argument("--check", action="store_true", help="only report whether a migration is due")
    p.set_defaults(handler=cmd_migrate)

    p = sub.add_parser(
        "demo",
        help="play a scripted term against a built-in local Discord server (no account needed)",
        description="Start a local Discord-compatible server with a demo cohort, run the bot "
        "against it, play a scripted term and print what tutors and students saw.",
        epilog="Example:\n  cohortbot demo --out demo-output",
        formatter_class=fmt,
    )
    p.add_argument("--out", type=Path, default=Path("demo-output"), help="folder for exports")
    p.set_defaults(handler=cmd_demo)

    p = sub.add_parser(
        "programme",
        help="load a programme (cohort and modules) from a TOML file",
        description="Programme commands.",
        epilog="Example:\n  cohortbot programme load examples/mlds-2025.toml",
        formatter_class=fmt,
    )
    psub = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    pl = psub.add_parser(
        "load",
        help="create or update the cohort and its modules",
        description="Create or update a cohort and its modules from a TOML file; re-loading "
        "updates in place.",
        epilog="Example:\n  cohortbot programme load examples/mlds-2025.toml",
        formatter_class=fmt,
    )
    pl.add_argument("file", type=Path)
    pl.set_defaults(handler=cmd_programme_load)

    p = sub.add_parser(
        "roster",
        help="import students and tutors from a CSV file",
        description="Roster commands.",
        epilog=ROSTER_EXAMPLE,
        formatter_class=fmt,
    )
    rsub = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    ri = rsub.add_parser(
        "import",
        help="enrol students and tutors (all-or-nothing; re-import updates)",
        description="Enrol students, tutors and admins from a CSV file with the columns "
        "student_number, name, email, discord, role, modules, group. Any error refuses the "
        "whole file with line-numbered messages and changes nothing.",
        epilog=ROSTER_EXAMPLE,
        formatter_class=fmt,
    )
    ri.add_argument("file", type=Path)
    ri.add_argument("--cohort", required=True, help="cohort code from the programme file")
    ri.set_defaults(handler=cmd_roster_import)

    p = sub.add_parser(
        "export",
        help="export records for the programme office (the gradebook)",
        description="Export commands.",
        epilog=EXPORT_EXAMPLE,
        formatter_class=fmt,
    )
    esub = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    eg = esub.add_parser(
        "gradebook",
        help="a module's gradebook, or the whole programme's, as CSV or XLSX",
        description="Write a module's gradebook (one row per student, one column per item, "
        "totals, provisional/released, late flags, extensions) or, without --module, the "
        "programme's (participation and module marks per module, provisional classification). "
        "The same data always gives a byte-identical CSV. Columns: docs/gradebook.md.",
        epilog=EXPORT_EXAMPLE,
        formatter_class=fmt,
    )
    eg.add_argument("--cohort", help="cohort code (needed when several are loaded)")
    eg.add_argument("--module", help="module code; leave out for the whole programme")
    eg.add_argument(
        "--format", choices=["csv", "xlsx"], help="file format (default: from --out, else csv)"
    )
    eg.add_argument("--out", type=Path, help="file to write (default: gradebook-CODE.csv)")
    eg.set_defaults(handler=cmd_export_gradebook)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        settings = get_settings()
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        return _fail(f"bad setting {where.upper()}: {first['msg']}", EXIT_USAGE)
    handler: Handler = args.handler
    try:
        return asyncio.run(handler(args, settings))
    except KeyboardInterrupt:
        return EXIT_FAILED
