"""``cohortbot`` command line: run the bot, migrate, load the programme and roster, export, demo.

Each command prints one clear line on failure and exits non-zero; nothing here echoes the token.
"""

from __future__ import annotations

import argparse
import asyncio
import errno
import socket
import sys
from collections.abc import Callable, Coroutine, Sequence
from importlib.metadata import entry_points
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


def _port_taken(host: str, port: int) -> str | None:
    """One line if the web port cannot be bound (checked before any log line is written)."""
    if port == 0:
        return None
    try:
        with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind((host, port))
    except OSError as exc:
        return _web_port_problem(host, port, exc)
    return None


def _web_port_problem(host: str, port: int, exc: OSError) -> str:
    if exc.errno == errno.EADDRINUSE:
        why = "is already in use (another cohortbot, or another program)"
    else:
        why = f"cannot be used: {exc.strerror or exc}"
    return (
        f"the web port {host}:{port} for /healthz {why}; set COHORTBOT_WEB_PORT "
        "(or COHORTBOT_WEB_HOST) to a free one"
    )


async def cmd_run(args: argparse.Namespace, settings: Settings) -> int:
    missing = settings.missing_for_run()
    if missing is not None:
        return _fail(missing, EXIT_USAGE)
    from bot.db.engine import sqlite_folder_problem

    problem = sqlite_folder_problem(settings.database_url) or _port_taken(
        settings.web_host, settings.web_port
    )
    if problem is not None:
        return _fail(problem, EXIT_USAGE)
    from bot.logging_setup import configure_logging
    from bot.runtime import BotCrashed, StartupError

    configure_logging(settings.log_level, json_lines=settings.log_json, secrets=settings.secrets())
    app: Any
    if settings.platform == "discord":
        from bot.discord_app import Application

        app = Application(settings)
    else:
        platform_app = _platform_application(settings.platform)
        if platform_app is None:
            return _fail(
                f"the {settings.platform} adapter is not installed: run `make install` "
                "(it registers the platform with cohortbot).",
                EXIT_USAGE,
            )
        app = platform_app(settings)
    try:
        await app.run_until_signal()
    except StartupError as exc:
        await app.stop()
        return _fail(str(exc), EXIT_USAGE)
    except BotCrashed as exc:
        return _fail(f"stopped after a failure: {exc}", EXIT_FAILED)
    return EXIT_OK


#: Chat platforms beside Discord, as installed adapters declare them (pyproject's entry points):
#: the core names no adapter package, the installed distribution's metadata is the only link.
PLATFORM_GROUP = "cohortbot.platforms"


def _platform_application(name: str) -> Callable[[Settings], Any] | None:
    """The application class an installed adapter registered for ``name``, if any."""
    for ep in entry_points(group=PLATFORM_GROUP):
        if ep.name == name:
            try:
                loaded: Callable[[Settings], Any] = ep.load()
            except ImportError:  # metadata left behind by a package that is gone
                return None
            return loaded
    return None


def _open_database(settings: Settings) -> Any:
    """The configured database, or one line and exit if its SQLite folder is missing."""
    from bot.db.engine import Database, sqlite_folder_problem

    problem = sqlite_folder_problem(settings.database_url)
    if problem is not None:
        raise SystemExit(_fail(problem))
    return Database(settings.database_url, echo=settings.db_echo)


async def cmd_migrate(args: argparse.Namespace, settings: Settings) -> int:
    from bot.db.migrate import schema_state, upgrade

    db = _open_database(settings)
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


def _unreadable(path: Path, exc: OSError) -> SystemExit:
    """One line naming the file and what is wrong with it (a folder, no access, ...)."""
    if isinstance(exc, FileNotFoundError):
        message = f"no such file: {path}"
    elif isinstance(exc, IsADirectoryError):
        message = f"{path} is a folder; give the file inside it"
    elif isinstance(exc, PermissionError):
        message = f"cannot read {path}: permission denied"
    else:
        message = f"cannot read {path}: {exc.strerror or exc}"
    return SystemExit(_fail(message, EXIT_USAGE))


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise _unreadable(path, exc) from None
    except UnicodeDecodeError:
        raise SystemExit(_fail(f"{path} is not UTF-8 text", EXIT_USAGE)) from None


async def _with_schema(settings: Settings) -> Any:
    from bot.db.migrate import schema_state

    db = _open_database(settings)
    try:
        problem = (await schema_state(db)).problem()
    except BaseException:
        await db.dispose()
        raise
    if problem:
        await db.dispose()
        raise SystemExit(_fail(problem, EXIT_USAGE))
    return db


def _refused(path: Path, verb: str, errors: Sequence[str]) -> int:
    """One problem is one line; several are listed above the verdict."""
    if len(errors) == 1:
        return _fail(f"{path} was not {verb}: {errors[0]}; nothing changed.")
    for line in errors:
        print(f"  {line}", file=sys.stderr)
    return _fail(f"{path} was not {verb}; nothing changed.")


async def cmd_programme_load(args: argparse.Namespace, settings: Settings) -> int:
    """All-or-nothing: any problem is listed and nothing changes."""
    from bot.roster.service import RosterError, load_programme

    text = _read(args.file)
    db = await _with_schema(settings)
    try:
        async with db.session() as session:
            report = await load_programme(session, text)
    except RosterError as exc:
        return _refused(args.file, "loaded", exc.errors)
    finally:
        await db.dispose()
    print(report.summary())
    return EXIT_OK


def _share(value: str) -> float:
    """``10%``, ``10`` or ``0.1`` -> 0.1: the share of the roster a sync may withdraw."""
    raw = value.strip().removesuffix("%")
    try:
        number = float(raw)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a share such as 10%") from None
    share = number / 100 if value.strip().endswith("%") or number > 1 else number
    if not 0 <= share <= 1:
        raise argparse.ArgumentTypeError(f"{value!r} is not between 0% and 100%")
    return share


def _roster_file(path: Path, settings: Settings) -> Path:
    """The file, if it is one and within the size limit (a 50 MB roster is a mistake)."""
    try:
        size = path.stat().st_size
        if path.is_dir():
            raise IsADirectoryError(21, "is a folder")
    except OSError as exc:
        raise _unreadable(path, exc) from None
    limit = settings.roster_max_mb
    if size > limit * 1_000_000:
        raise SystemExit(
            _fail(
                f"{path} is {size / 1_000_000:.1f} MB, over the {limit:g} MB limit for a roster "
                "(raise COHORTBOT_ROSTER_MAX_MB if it really is one roster)",
                EXIT_USAGE,
            )
        )
    return path


def _withdrawal_question(report: Any, max_share: float) -> str | None:
    """Why a sync needs a confirmation (too many people, or staff, withdrawn), or None."""
    reasons = []
    if report.persons_absent and report.absent_share > max_share:
        reasons.append(
            f"{report.persons_absent} of {report.roster_size} people "
            f"({report.absent_share:.0%}, over --max-withdraw {max_share:.0%})"
        )
    if report.absent_staff:
        names = ", ".join(report.absent_staff[:3])
        more = f" and {len(report.absent_staff) - 3} more" if len(report.absent_staff) > 3 else ""
        reasons.append(f"tutors or admins ({names}{more})")
    if not reasons:
        return None
    return "the sync would withdraw " + " including ".join(reasons)


def _ask(question: str) -> str:
    """The operator's answer; end of input (Ctrl-D) is a no."""
    try:
        return input(question)
    except EOFError:
        print(file=sys.stderr)
        return ""


async def cmd_roster_import(args: argparse.Namespace, settings: Settings) -> int:
    """Add and update; withdraw people missing from the file only with --sync, and ask first
    when that withdraws many people or any tutor or admin."""
    from bot.roster.service import RosterError, RosterReport, import_roster_in_batches

    path = _roster_file(args.file, settings)
    db = await _with_schema(settings)

    async def attempt(dry_run: bool) -> RosterReport:
        with path.open(encoding="utf-8-sig", newline="") as lines:
            return await import_roster_in_batches(
                db, args.cohort, lines, sync=args.sync, dry_run=dry_run
            )

    try:
        if args.sync and not args.dry_run and not args.yes:
            question = _withdrawal_question(await attempt(dry_run=True), args.max_withdraw)
            if question is not None:
                if not sys.stdin.isatty():
                    return _fail(
                        f"not imported: {question}; check the file, then add --yes to "
                        "confirm (or import without --sync). Nothing changed."
                    )
                answer = await asyncio.to_thread(
                    _ask, f"{question[0].upper()}{question[1:]}. Go on? [y/N] "
                )
                if answer.strip().lower() not in ("y", "yes"):
                    return _fail("not imported; nothing changed.")
        report = await attempt(dry_run=args.dry_run)
    except RosterError as exc:
        return _refused(args.file, "imported", exc.errors)
    except UnicodeDecodeError:
        return _fail(f"{args.file} is not UTF-8 text; nothing changed.", EXIT_USAGE)
    except (FileNotFoundError, IsADirectoryError, PermissionError) as exc:
        raise _unreadable(args.file, exc) from None
    finally:
        await db.dispose()
    print(report.summary())
    return EXIT_OK


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


PLUGIN_GROUP = "cohortbot.commands"
# Commands that plug-ins of the same distribution provide; if one is missing, the command still
# exists and says so in one line instead of argparse's "invalid choice".
PLUGIN_COMMANDS = {
    "demo": "play a scripted term against a built-in local Discord server (no account needed)",
}

Register = Callable[["argparse._SubParsersAction[argparse.ArgumentParser]"], None]


def _not_installed(name: str) -> Handler:
    async def handler(args: argparse.Namespace, settings: Settings) -> int:
        return _fail(
            f"the {name} command is not installed (its package, cohortlab, ships with the "
            "source checkout: run `make install` there)"
        )

    return handler


def _add_plugins(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Subcommands from the entry-point group ``cohortbot.commands``.

    The demo lives in ``cohortlab``, which ``bot/`` never imports (tests/unit/test_layers.py);
    the installed distribution's metadata is the only link.
    """
    loaded: set[str] = set()
    for ep in sorted(entry_points(group=PLUGIN_GROUP), key=lambda e: e.name):
        try:
            register: Register = ep.load()
        except ImportError:  # metadata left behind by a package that is gone
            continue
        register(sub)
        loaded.add(ep.name)
    for name, help_text in PLUGIN_COMMANDS.items():
        if name not in loaded:
            # No options of its own: whatever follows (even --help) reaches the one-line answer.
            p = sub.add_parser(name, help=help_text, prefix_chars="\0", add_help=False)
            p.add_argument("rest", nargs="*")
            p.set_defaults(handler=_not_installed(name))


def _command_group(
    sub: argparse._SubParsersAction[argparse.ArgumentParser],
    name: str,
    *,
    help: str,
    epilog: str,
    fmt: type[argparse.HelpFormatter],
) -> argparse._SubParsersAction[argparse.ArgumentParser]:
    """A command whose actions come after it (``cohortbot roster import``): one shape for all."""
    p = sub.add_parser(
        name,
        help=help,
        description=f"{name.capitalize()} commands.",
        epilog=epilog,
        formatter_class=fmt,
    )
    return p.add_subparsers(dest="action", metavar="ACTION", required=True)


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

    _add_plugins(sub)

    psub = _command_group(
        sub,
        "programme",
        help="load a programme (cohort and modules) from a TOML file",
        epilog="Example:\n  cohortbot programme load examples/mlds-2025.toml",
        fmt=fmt,
    )
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

    rsub = _command_group(
        sub,
        "roster",
        help="import students and tutors from a CSV file",
        epilog=ROSTER_EXAMPLE,
        fmt=fmt,
    )
    ri = rsub.add_parser(
        "import",
        help="enrol students and tutors (adds and updates; --sync also withdraws)",
        description="Enrol students, tutors and admins from a CSV file with the columns "
        "student_number, name, email, discord, role, modules, group. Adds and updates only: "
        "people missing from the file keep their enrolments unless --sync is given. Any "
        "error refuses the whole file with line-numbered messages and changes nothing.",
        epilog=ROSTER_EXAMPLE + "\n  cohortbot roster import late-joiners.csv --cohort MLDS-2025"
        "\n  cohortbot roster import full-roster.csv --cohort MLDS-2025 --sync --dry-run",
        formatter_class=fmt,
    )
    ri.add_argument("file", type=Path)
    ri.add_argument("--cohort", required=True, help="cohort code from the programme file")
    ri.add_argument(
        "--sync",
        action="store_true",
        help="the file is the whole roster: withdraw people missing from it",
    )
    ri.add_argument(
        "--dry-run",
        action="store_true",
        help="print what would be added, changed and withdrawn; write nothing",
    )
    ri.add_argument(
        "--max-withdraw",
        type=_share,
        default=0.10,
        metavar="SHARE",
        help="a sync withdrawing more than this share of the roster asks first (default 10%%)",
    )
    ri.add_argument(
        "--yes",
        action="store_true",
        help="confirm a large sync or one withdrawing tutors or admins without asking",
    )
    ri.set_defaults(handler=cmd_roster_import)

    esub = _command_group(
        sub,
        "export",
        help="export records for the programme office (the gradebook)",
        epilog=EXPORT_EXAMPLE,
        fmt=fmt,
    )
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
        where = ".".join(str(p) for p in first["loc"]).upper()
        name = where if where.startswith("DISCORD_TOKEN") else f"COHORTBOT_{where}"
        message = str(first["msg"]).removeprefix("Value error, ")
        return _fail(f"bad setting {name}: {message}", EXIT_USAGE)
    handler: Handler = args.handler
    try:
        return asyncio.run(handler(args, settings))
    except KeyboardInterrupt:
        return EXIT_FAILED
    except Exception as exc:
        from bot.db.engine import connect_problem

        if isinstance(exc, OSError) and exc.errno == errno.EADDRINUSE:  # taken since the check
            return _fail(_web_port_problem(settings.web_host, settings.web_port, exc), EXIT_USAGE)
        problem = connect_problem(exc, settings.database_url)
        if problem is None:
            raise
        return _fail(problem)
