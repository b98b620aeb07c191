"""Pure parsing of the programme file (TOML) and the roster file (CSV) into plain dataclasses.

No I/O and no database: the service decides what to write. Every check runs to the end so an
admin fixes a file in one pass; each message names where the problem is (TOML: line, column and
key path; CSV: line and column name).
"""

from __future__ import annotations

import csv
import io
import re
import tomllib
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from bot.csv_input import csv_records
from bot.db.models import Designation, Role
from bot.insights.thresholds import ThresholdsError, parse_thresholds

__all__ = [
    "CohortSpec",
    "DiscordHandle",
    "ModuleSpec",
    "ProgrammeSpec",
    "Roster",
    "RosterEntry",
    "RosterError",
    "parse_discord_handle",
    "parse_programme",
    "parse_roster",
]


class RosterError(Exception):
    """A programme or roster refused as a whole; ``errors`` lists every problem found."""

    def __init__(self, errors: Iterable[str]) -> None:
        self.errors: list[str] = list(errors)
        count = len(self.errors)
        head = f"{count} problem{'s' if count != 1 else ''} found, nothing was written"
        super().__init__(head + ":\n" + "\n".join(f"  {e}" for e in self.errors))


# --------------------------------------------------------------------------- shared checks

_CODE_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$")
_EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s.]+$")
_USERNAME_RE = re.compile(r"^[a-z0-9_.]{2,32}$")
_SNOWFLAKE_RE = re.compile(r"^[0-9]{17,20}$")
_CHANNEL_RE = re.compile(r"^[^\s#]{1,100}$")

MAX_ECTS = Decimal("9999.99")  # Module.ects is Numeric(6, 2)


@dataclass(frozen=True)
class DiscordHandle:
    """Exactly one of ``user_id`` (a snowflake) and ``username`` (lowercased, no '@') is set."""

    user_id: str | None
    username: str | None

    @property
    def key(self) -> str:
        """One string per account, to spot the same handle twice in a file."""
        return f"id:{self.user_id}" if self.user_id else f"name:{self.username}"

    def __str__(self) -> str:
        return self.user_id or self.username or ""


def parse_discord_handle(value: str) -> DiscordHandle:
    """17-20 digits is an account id; anything else is a username (the '@' is optional).

    15, 16 or 21+ digits is refused as a mistyped id rather than taken for a username.

    Raises ``ValueError`` with a sentence fit for an admin.
    """
    raw = value.strip()
    if raw.isascii() and raw.isdigit() and _SNOWFLAKE_RE.match(raw):
        return DiscordHandle(user_id=raw, username=None)
    if raw.isascii() and raw.isdigit() and len(raw) >= 15:
        raise ValueError(
            f"{raw!r} looks like a Discord id but has {len(raw)} digits (ids have 17-20)"
        )
    name = raw.removeprefix("@").lower()
    if "#" in name:
        raise ValueError(
            f"{value.strip()!r} uses the old name#1234 form; "
            "give the new username or the numeric id"
        )
    if not _USERNAME_RE.match(name) or ".." in name:
        raise ValueError(
            f"{value.strip()!r} is neither a Discord id (17-20 digits) nor a username "
            "(2-32 characters: letters, digits, '_' and '.')"
        )
    return DiscordHandle(user_id=None, username=name)


# --------------------------------------------------------------------------- programme (TOML)


@dataclass(frozen=True)
class CohortSpec:
    code: str
    name: str
    timezone: str
    guild_id: str | None
    total_ects: Decimal | None


@dataclass(frozen=True)
class ModuleSpec:
    code: str
    title: str
    year: int
    term: str
    ects: Decimal
    designation: Designation
    pass_fail: bool
    in_weighted_average: bool
    note: str | None
    channel: str | None
    channel_id: str | None


@dataclass(frozen=True)
class ProgrammeSpec:
    cohort: CohortSpec
    modules: tuple[ModuleSpec, ...]
    #: The ``[early_warning]`` table as written (checked), None when the file has none.
    early_warning: dict[str, Any] | None = None

    @property
    def total_ects(self) -> Decimal:
        return sum((m.ects for m in self.modules), Decimal(0))


_COHORT_KEYS = ("code", "name", "timezone", "guild_id", "total_ects")
_MODULE_KEYS = (
    "code",
    "title",
    "year",
    "term",
    "ects",
    "designation",
    "pass_fail",
    "in_weighted_average",
    "note",
    "channel",
    "channel_id",
)
_TOP_KEYS = ("cohort", "modules", "early_warning")

_HEADER_RE = re.compile(r"^\s*(\[\[?)\s*([A-Za-z0-9_\-\"'. ]+?)\s*\]\]?")
_KEY_RE = re.compile(r"^(\s*)([\"']?)([A-Za-z0-9_\-]+)\2\s*=")
_Loc = tuple[str, int | None, str]  # (table, array index, key)


def _toml_locations(text: str) -> dict[_Loc, tuple[int, int]]:
    """Map (table, index, key) to (line, column) by scanning the text.

    tomllib returns no positions; this cheap scan covers the shapes people write by hand
    (``[cohort]``, ``[[modules]]``, ``key = value``). Key "" is the table header itself.
    """
    where: dict[_Loc, tuple[int, int]] = {}
    table, index = "", None
    counts: dict[str, int] = {}
    in_multiline: str | None = None
    for number, line in enumerate(text.splitlines(), start=1):
        if in_multiline is not None:
            if line.count(in_multiline) % 2 == 1:
                in_multiline = None
            continue
        header = _HEADER_RE.match(line)
        if header and not _KEY_RE.match(line):
            table = header.group(2).strip().strip("\"'")
            if header.group(1) == "[[":
                index = counts.get(table, 0)
                counts[table] = index + 1
            else:
                index = None
            where.setdefault((table, index, ""), (number, line.index("[") + 1))
            continue
        key = _KEY_RE.match(line)
        if key:
            where.setdefault((table, index, key.group(3)), (number, len(key.group(1)) + 1))
            for quote in ('"""', "'''"):
                if line.count(quote) % 2 == 1:
                    in_multiline = quote
    return where


class _Problems:
    """Collects TOML problems with their best-known position."""

    def __init__(self, text: str) -> None:
        self.where = _toml_locations(text)
        self.errors: list[str] = []

    def add(self, table: str, index: int | None, key: str, message: str) -> None:
        path = table if index is None else f"{table}[{index}]"
        if key:
            path = f"{path}.{key}" if path else key
        pos = self.where.get((table, index, key)) or self.where.get((table, index, ""))
        prefix = f"line {pos[0]}, column {pos[1]}: " if pos else ""
        self.errors.append(f"{prefix}{path}: {message}")


def _string(
    problems: _Problems,
    table: str,
    index: int | None,
    data: Mapping[str, Any],
    key: str,
    *,
    required: bool,
    max_len: int,
) -> str | None:
    if key not in data:
        if required:
            problems.add(table, index, key, "required")
        return None
    value = data[key]
    if not isinstance(value, str):
        problems.add(table, index, key, f"must be a text string, got {_show(value)}")
        return None
    value = value.strip()
    if not value:
        if required:
            problems.add(table, index, key, "must not be empty")
        return None
    if len(value) > max_len:
        problems.add(table, index, key, f"must be at most {max_len} characters")
        return None
    return value


def _bool(
    problems: _Problems,
    table: str,
    index: int | None,
    data: Mapping[str, Any],
    key: str,
    default: bool,
) -> bool:
    value = data.get(key, default)
    if not isinstance(value, bool):
        problems.add(table, index, key, f"must be true or false, got {_show(value)}")
        return default
    return value


def _show(value: Any) -> str:
    """A value as written in the file (tomllib hands floats over as Decimal), cut short so a
    message stays one readable line whatever the file holds."""
    text = str(value) if isinstance(value, Decimal) else repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _positive_decimal(value: Any) -> Decimal | None:
    if isinstance(value, bool) or not isinstance(value, int | Decimal):
        return None
    number = Decimal(value)
    if not number.is_finite() or number <= 0 or number > MAX_ECTS:
        return None
    if number != number.quantize(Decimal("0.01")):
        return None
    return number


def _snowflake(value: Any) -> str | None:
    text = (
        str(value).strip() if isinstance(value, int | str) and not isinstance(value, bool) else ""
    )
    return text if _SNOWFLAKE_RE.match(text) else None


def _cohort(problems: _Problems, data: Any) -> CohortSpec | None:
    if not isinstance(data, dict):
        problems.add("", None, "cohort", "must be a table: [cohort] with code, name, timezone")
        return None
    for key in data:
        if key not in _COHORT_KEYS:
            problems.add(
                "cohort", None, key, f"unknown key (expected one of {', '.join(_COHORT_KEYS)})"
            )
    code = _string(problems, "cohort", None, data, "code", required=True, max_len=64)
    if code is not None and not _CODE_RE.match(code):
        problems.add("cohort", None, "code", f"{code!r}: use letters, digits, '-', '_', '.'")
        code = None
    name = _string(problems, "cohort", None, data, "name", required=True, max_len=200)
    timezone: str | None = "Europe/London"
    if "timezone" in data:
        timezone = _string(problems, "cohort", None, data, "timezone", required=True, max_len=64)
    if timezone is not None:
        try:
            ZoneInfo(timezone)
        except (ZoneInfoNotFoundError, ValueError):
            problems.add(
                "cohort", None, "timezone", f"{timezone!r} is not an IANA time zone (Europe/London)"
            )
            timezone = None
    guild_id = None
    if "guild_id" in data:
        guild_id = _snowflake(data["guild_id"])
        if guild_id is None:
            problems.add(
                "cohort",
                None,
                "guild_id",
                f"must be a Discord id (17-20 digits), got {_show(data['guild_id'])}",
            )
    total = None
    if "total_ects" in data:
        total = _positive_decimal(data["total_ects"])
        if total is None:
            problems.add("cohort", None, "total_ects", "must be a positive number")
    if code is None or name is None or timezone is None:
        return None
    return CohortSpec(code=code, name=name, timezone=timezone, guild_id=guild_id, total_ects=total)


def _module(problems: _Problems, index: int, data: Any) -> ModuleSpec | None:
    t = "modules"
    if not isinstance(data, dict):
        problems.add(t, index, "", "must be a table ([[modules]])")
        return None
    before = len(problems.errors)
    for key in data:
        if key not in _MODULE_KEYS:
            problems.add(t, index, key, f"unknown key (expected one of {', '.join(_MODULE_KEYS)})")
    code = _string(problems, t, index, data, "code", required=True, max_len=32)
    if code is not None and not _CODE_RE.match(code):
        problems.add(t, index, "code", f"{code!r}: use letters, digits, '-', '_', '.'")
    title = _string(problems, t, index, data, "title", required=True, max_len=200)
    term = _string(problems, t, index, data, "term", required=True, max_len=32)
    year = data.get("year")
    if "year" not in data:
        problems.add(t, index, "year", "required")
    elif isinstance(year, bool) or not isinstance(year, int) or not 1 <= year <= 10:
        problems.add(t, index, "year", f"must be a whole number from 1 to 10, got {_show(year)}")
    ects = None
    if "ects" not in data:
        problems.add(t, index, "ects", "required")
    else:
        ects = _positive_decimal(data["ects"])
        if ects is None:
            problems.add(
                t,
                index,
                "ects",
                f"must be a positive number with at most 2 decimals, got {_show(data['ects'])}",
            )
    designation = None
    raw = _string(problems, t, index, data, "designation", required=True, max_len=32)
    if raw is not None:
        try:
            designation = Designation(raw.lower())
        except ValueError:
            allowed = ", ".join(d.value for d in Designation)
            problems.add(t, index, "designation", f"{raw!r} is not one of {allowed}")
    pass_fail = _bool(problems, t, index, data, "pass_fail", False)
    in_average = _bool(problems, t, index, data, "in_weighted_average", not pass_fail)
    if pass_fail and in_average:
        problems.add(
            t, index, "in_weighted_average", "a pass/fail module has no mark to average; set false"
        )
    note = _string(problems, t, index, data, "note", required=False, max_len=10_000)
    channel = _string(problems, t, index, data, "channel", required=False, max_len=101)
    if channel is not None:
        channel = channel.removeprefix("#").lower()
        if not _CHANNEL_RE.match(channel):
            problems.add(
                t, index, "channel", f"{channel!r}: a channel name is 1-100 characters, no spaces"
            )
    channel_id = None
    if "channel_id" in data:
        channel_id = _snowflake(data["channel_id"])
        if channel_id is None:
            problems.add(t, index, "channel_id", "must be a Discord channel id (17-20 digits)")
    if len(problems.errors) > before:
        return None
    assert code and title and term and isinstance(year, int)
    assert ects is not None and designation is not None
    return ModuleSpec(
        code=code,
        title=title,
        year=year,
        term=term,
        ects=ects,
        designation=designation,
        pass_fail=pass_fail,
        in_weighted_average=in_average,
        note=note,
        channel=channel,
        channel_id=channel_id,
    )


def parse_programme(text: str) -> ProgrammeSpec:
    """Parse and check a programme file; raises ``RosterError`` listing every problem."""
    try:
        data = tomllib.loads(text.lstrip("\ufeff"), parse_float=Decimal)
    except tomllib.TOMLDecodeError as exc:
        raise RosterError([f"not valid TOML: {exc}"]) from None
    except RecursionError:
        raise RosterError(
            ["not valid TOML for a programme: arrays or tables nested hundreds of levels deep"]
        ) from None
    problems = _Problems(text.lstrip("\ufeff"))
    for key in data:
        if key not in _TOP_KEYS:
            problems.add(
                "", None, key, "unknown table (expected [cohort], [[modules]] and [early_warning])"
            )
    cohort = None
    if "cohort" not in data:
        problems.add("", None, "cohort", "required: a [cohort] table with code, name, timezone")
    else:
        cohort = _cohort(problems, data["cohort"])
    raw_modules = data.get("modules")
    modules: list[ModuleSpec] = []
    if not isinstance(raw_modules, list) or not raw_modules:
        problems.add("", None, "modules", "required: at least one [[modules]] table")
    else:
        seen: dict[str, int] = {}
        for index, raw in enumerate(raw_modules):
            module = _module(problems, index, raw)
            if module is None:
                continue
            first = seen.setdefault(module.code.upper(), index)
            if first != index:
                problems.add(
                    "modules", index, "code", f"{module.code!r} is already used by modules[{first}]"
                )
                continue
            modules.append(module)
    spec_total = sum((m.ects for m in modules), Decimal(0))
    if (
        cohort is not None
        and cohort.total_ects is not None
        and len(modules) == len(raw_modules or [])
        and spec_total != cohort.total_ects
    ):
        problems.add(
            "cohort",
            None,
            "total_ects",
            f"the modules add up to {spec_total.normalize():f} ECTS, "
            f"not {cohort.total_ects.normalize():f}",
        )
    early_warning = data.get("early_warning")
    if early_warning is not None:
        if not isinstance(early_warning, dict):
            problems.add("", None, "early_warning", "must be a table: [early_warning]")
        else:
            try:
                parse_thresholds(early_warning)
            except ThresholdsError as exc:
                problems.errors.extend(exc.errors)
    if problems.errors:
        raise RosterError(problems.errors)
    assert cohort is not None
    return ProgrammeSpec(
        cohort=cohort,
        modules=tuple(modules),
        early_warning={
            k: float(v) if isinstance(v, Decimal) else v for k, v in early_warning.items()
        }
        if isinstance(early_warning, dict)
        else None,
    )


# --------------------------------------------------------------------------- roster (CSV)

REQUIRED_COLUMNS = ("student_number", "name", "discord", "role", "modules")
OPTIONAL_COLUMNS = ("email", "group")
ALL_COLUMNS = ("student_number", "name", "email", "discord", "role", "modules", "group")


@dataclass(frozen=True)
class RosterEntry:
    """One person as the roster says they should be; ``modules`` holds canonical codes."""

    line: int
    student_number: str | None
    name: str
    email: str | None
    discord: DiscordHandle | None
    role: Role
    modules: tuple[str, ...]
    group: str | None


@dataclass(frozen=True)
class Roster:
    entries: tuple[RosterEntry, ...]


def _without_bom(lines: Iterable[str]) -> Iterator[str]:
    first = True
    for line in lines:
        yield line.removeprefix("\ufeff") if first else line
        first = False


def _column_name(raw: str) -> str:
    return re.sub(r"[\s\-]+", "_", raw.strip().lower())


def _split_modules(raw: str) -> list[str]:
    return [token for token in re.split(r"[;\s]+", raw.strip()) if token]


def parse_roster(source: str | Iterable[str], module_codes: Iterable[str]) -> Roster:
    """Parse and check a roster against the cohort's module codes.

    ``source`` is the text, or its lines (a file opened with ``newline=""``): the file is
    read as it is parsed, never held whole.

    Raises ``RosterError`` with every problem ("line 7, column role: ...") so that an import
    is either entirely right or writes nothing.
    """
    canonical = {code.upper(): code for code in module_codes}
    valid_list = ", ".join(sorted(canonical.values())) or "(none: load the programme first)"
    errors: list[str] = []
    lines = io.StringIO(source, newline="") if isinstance(source, str) else iter(source)
    reader = csv.reader(_without_bom(lines))
    header: list[str] | None = None
    columns: dict[str, int] = {}
    entries: list[RosterEntry] = []
    seen: dict[str, int] = {}  # student numbers and Discord handles -> first line
    for start, record in csv_records(reader, errors):
        if header is None:
            header = record
            columns = _read_header(record, start, errors)
            continue
        if len(record) != len(header):
            errors.append(
                f"line {start}: expected {len(header)} fields as in the header, found "
                f'{len(record)} (a name or list with a comma needs "quotes")'
            )
            continue
        entry = _read_row(record, start, columns, canonical, valid_list, errors, seen)
        if entry is not None:
            entries.append(entry)
    if header is None and not errors:
        errors.append(
            "the file is empty: expected a header line naming the columns " + ", ".join(ALL_COLUMNS)
        )
    elif header is not None and not entries and not errors:
        errors.append("the file has a header but no people")
    if errors:
        raise RosterError(errors)
    return Roster(entries=tuple(entries))


def _read_header(record: list[str], line: int, errors: list[str]) -> dict[str, int]:
    columns: dict[str, int] = {}
    for position, raw in enumerate(record):
        name = _column_name(raw)
        if name not in ALL_COLUMNS:
            errors.append(
                f"line {line}, column {raw.strip() or f'#{position + 1}'}: unknown column "
                f"(expected {', '.join(ALL_COLUMNS)})"
            )
        elif name in columns:
            errors.append(f"line {line}, column {name}: appears twice in the header")
        else:
            columns[name] = position
    missing = [c for c in REQUIRED_COLUMNS if c not in columns]
    if missing:
        errors.append(
            f"line {line}: missing column{'s' if len(missing) > 1 else ''} "
            f"{', '.join(missing)} (the header must name {', '.join(REQUIRED_COLUMNS)})"
        )
    return columns


def _read_row(
    record: list[str],
    line: int,
    columns: Mapping[str, int],
    canonical: Mapping[str, str],
    valid_list: str,
    errors: list[str],
    seen: dict[str, int],
) -> RosterEntry | None:
    """Check one data row; columns missing from the header were reported already."""
    before = len(errors)

    def cell(column: str) -> str:
        position = columns.get(column)
        return record[position].strip() if position is not None else ""

    def problem(column: str, message: str) -> None:
        errors.append(f"line {line}, column {column}: {message}")

    role: Role | None = None
    raw_role = cell("role")
    if "role" in columns:
        if not raw_role:
            problem("role", "required (student, tutor or admin)")
        else:
            try:
                role = Role(raw_role.lower())
            except ValueError:
                problem("role", f"{raw_role!r} is not one of {', '.join(r.value for r in Role)}")

    name = cell("name")
    if "name" in columns and not name:
        problem("name", "required")
    elif len(name) > 200:
        problem("name", "must be at most 200 characters")

    student_number = cell("student_number") or None
    if student_number is None and role is Role.STUDENT:
        problem("student_number", "required for a student")
    elif student_number is not None and (len(student_number) > 32 or " " in student_number):
        problem("student_number", f"{student_number!r}: at most 32 characters, no spaces")
    elif student_number is not None:
        first = seen.setdefault(f"number:{student_number}", line)
        if first != line:
            problem("student_number", f"{student_number!r} is already on line {first}")

    email = cell("email") or None
    if email is not None and (len(email) > 320 or not _EMAIL_RE.match(email)):
        problem("email", f"{email!r} is not an email address")

    discord: DiscordHandle | None = None
    raw_discord = cell("discord")
    if raw_discord:
        try:
            discord = parse_discord_handle(raw_discord)
        except ValueError as exc:
            problem("discord", str(exc))
        else:
            first = seen.setdefault(discord.key, line)
            if first != line:
                problem("discord", f"{str(discord)!r} is already on line {first}")
    elif "discord" in columns and student_number is None and role not in (None, Role.STUDENT):
        problem(
            "discord",
            "required when there is no student number (re-imports find people by one of them)",
        )

    codes: list[str] = []
    raw_modules = cell("modules")
    if "modules" in columns:
        tokens = _split_modules(raw_modules)
        if not tokens:
            problem("modules", "required: module codes separated by ';' or spaces, or '*' for all")
        elif "*" in tokens:
            codes = sorted(canonical.values())
            if len(tokens) > 1:
                problem("modules", "'*' means all modules; give it alone")
        else:
            unknown = [t for t in tokens if t.upper() not in canonical]
            for token in unknown:
                problem("modules", f"unknown module code {token!r} (valid: {valid_list})")
            codes = list(dict.fromkeys(canonical[t.upper()] for t in tokens if t not in unknown))

    group = cell("group") or None
    if group is not None:
        group = " ".join(group.split())
        if len(group) > 64:
            problem("group", "must be at most 64 characters")

    if len(errors) > before or role is None:
        return None
    return RosterEntry(
        line=line,
        student_number=student_number,
        name=name,
        email=email,
        discord=discord,
        role=role,
        modules=tuple(codes),
        group=group,
    )
