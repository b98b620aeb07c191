"""Reading times, durations and zone names typed by people, and writing them back.

Every parser returns aware UTC datetimes or ``timedelta`` values and raises
``CalendarInputError`` with one sentence a tutor can act on; the error handler shows that
sentence as it is, so messages never contain tracebacks or internal names.

Local wall times are resolved with the RFC 5545 rule (the one calendar clients apply to ICS
files), which is also Python's ``fold=0``:

- a time that does not exist (the spring-forward gap, e.g. 01:30 on the last Sunday of March
  in Europe/London) is read with the offset in force *before* the gap, so it lands one gap
  length later on the wall clock (01:30 GMT = 02:30 BST);
- a time that happens twice (the autumn fold, e.g. 01:30 on the last Sunday of October) means
  the *first* of the two, the one still on summer time.

Using the same rule as calendar clients means an ICS feed and the bot's own notices agree.
"""

from __future__ import annotations

import difflib
import enum
import functools
import math
import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, time, timedelta, timezone, tzinfo
from zoneinfo import ZoneInfo, available_timezones

from bot.errors import UserError, shown

__all__ = [
    "AOE",
    "EXAMPLE_TIMES",
    "CalendarInputError",
    "WallTime",
    "ZoneLike",
    "autocomplete_zones",
    "classify_wall_time",
    "discord_timestamp",
    "end_of_local_day",
    "format_duration",
    "format_offsets",
    "get_zone",
    "localize",
    "parse_duration",
    "parse_instant",
    "parse_offsets",
    "parse_span",
    "require_order",
    "suggest_zones",
    "typed_wall_time",
    "user_input",
]


class CalendarInputError(ValueError):
    """Input a person can fix; ``str(error)`` is one sentence that tells them how."""


@contextmanager
def user_input(what: str | None = None) -> Iterator[None]:
    """The parsers' one-sentence errors, shown to the user as refusals (``UserError``).

    The one way every service turns a time it could not read into a refusal. ``what`` names
    the field when a command reads several (``"Until"`` gives ``Until: Could not read ...``).
    """
    try:
        yield
    except CalendarInputError as exc:
        raise UserError(f"{what}: {exc}" if what else str(exc)) from exc


ZoneLike = str | ZoneInfo

EXAMPLE_TIMES = "use e.g. 2026-12-01 18:00 or 2026-12-01T18:00Z"

#: "Anywhere on Earth": a deadline day that has not ended anywhere until it ended at UTC−12.
AOE = timezone(timedelta(hours=-12), "AoE")

MAX_DURATION = timedelta(days=366)
MAX_OFFSETS = 10
_MIN_YEAR = 1970
_MAX_YEAR = 2199
_MAX_OFFSET = timedelta(hours=18)
_ECHO_LIMIT = 60
_MAX_INPUT = 100

# --------------------------------------------------------------------------- zones

# Names in the tz database that are not places: "localtime" depends on the host and
# "Factory" means "unset"; offering them would let a cohort pick a zone that means nothing.
_NOT_ZONES = frozenset({"localtime", "Factory", "posixrules"})
_REGIONS = frozenset(
    {
        "Africa",
        "America",
        "Antarctica",
        "Arctic",
        "Asia",
        "Atlantic",
        "Australia",
        "Europe",
        "Indian",
        "Pacific",
    }
)
# Shown for an empty autocomplete box: where an international online cohort most often is.
_COMMON_ZONES = (
    "UTC",
    "Europe/London",
    "Europe/Dublin",
    "Europe/Lisbon",
    "Europe/Paris",
    "Europe/Berlin",
    "Europe/Madrid",
    "Europe/Athens",
    "Africa/Lagos",
    "Africa/Cairo",
    "Africa/Nairobi",
    "Africa/Johannesburg",
    "Asia/Dubai",
    "Asia/Karachi",
    "Asia/Kolkata",
    "Asia/Dhaka",
    "Asia/Singapore",
    "Asia/Shanghai",
    "Asia/Tokyo",
    "Australia/Sydney",
    "Pacific/Auckland",
    "America/Sao_Paulo",
    "America/New_York",
    "America/Chicago",
    "America/Los_Angeles",
)


@functools.cache
def _zone_names() -> tuple[str, ...]:
    """Scanning the tz database costs tens of milliseconds, so it is done once."""
    return tuple(sorted(available_timezones() - _NOT_ZONES))


@functools.cache
def _zone_by_lower() -> dict[str, str]:
    return {name.lower(): name for name in _zone_names()}


def _preference(name: str) -> int:
    """Geographic Area/City names first: they are what people recognise and pick."""
    if name == "UTC" or name.split("/", 1)[0] in _REGIONS:
        return 0
    return 1


@functools.cache
def _zone_by_city() -> dict[str, str]:
    by_city: dict[str, str] = {}
    for name in sorted(_zone_names(), key=lambda n: (_preference(n), n)):
        by_city.setdefault(name.rsplit("/", 1)[-1].lower(), name)
    return by_city


def _normalise_zone_query(text: str) -> str:
    return re.sub(r"\s+", "_", text.strip()).lower()


def suggest_zones(text: str, n: int = 3) -> list[str]:
    """Close zone names for a mistyped one, by whole name and by city (``Tokyo``)."""
    query = _normalise_zone_query(text)
    if not query:
        return []
    found: list[str] = []
    lower = _zone_by_lower()
    for match in difflib.get_close_matches(query, list(lower), n=n, cutoff=0.6):
        found.append(lower[match])
    cities = _zone_by_city()
    city_query = query.rsplit("/", 1)[-1]
    for match in difflib.get_close_matches(city_query, list(cities), n=n, cutoff=0.7):
        found.append(cities[match])
    found.extend(autocomplete_zones(query, limit=n))
    unique = list(dict.fromkeys(found))
    return unique[:n]


def get_zone(name: ZoneLike) -> ZoneInfo:
    """A validated IANA zone; unknown names get the nearest real names in the error."""
    if isinstance(name, ZoneInfo):
        return name
    canonical = _zone_by_lower().get(name.strip().lower())
    if canonical is not None:
        return ZoneInfo(canonical)
    echoed = _echo(name)
    close = suggest_zones(name)
    if close:
        raise CalendarInputError(f"Unknown time zone {echoed}; did you mean {_or_list(close)}?")
    raise CalendarInputError(
        f"Unknown time zone {echoed}; use an IANA name such as Europe/London or Asia/Tokyo."
    )


def autocomplete_zones(partial: str, limit: int = 25) -> list[str]:
    """Zone names for an autocomplete box (Discord shows at most 25).

    Ranking: whole-name prefix ("eur" -> Europe/...), then a prefix of the city or of a word in
    it ("tok" -> Asia/Tokyo, "york" -> America/New_York), then any substring. Inside a rank,
    commonly used zones come first, then Area/City names, then legacy aliases (``US/Eastern``).
    """
    query = _normalise_zone_query(partial)
    if not query:
        names = set(_zone_names())
        return [z for z in _COMMON_ZONES if z in names][:limit]
    ranked: list[tuple[int, int, str]] = []
    for name in _zone_names():
        low = name.lower()
        if low.startswith(query):
            rank = 0
        elif any(part.startswith(query) for part in _name_parts(low)):
            rank = 1
        elif query in low:
            rank = 2
        else:
            continue
        ranked.append((rank, _popularity(name), name))
    ranked.sort()
    return [name for _, _, name in ranked[:limit]]


def _popularity(name: str) -> int:
    """Position in the common list, so "eur" offers Europe/London before Europe/Amsterdam."""
    if name in _COMMON_ZONES:
        return _COMMON_ZONES.index(name)
    return len(_COMMON_ZONES) + _preference(name)


def _name_parts(lower_name: str) -> list[str]:
    parts: list[str] = []
    for segment in lower_name.split("/"):
        parts.append(segment)
        parts.extend(re.split(r"[_\-]", segment)[1:])
    return parts


# --------------------------------------------------------------------------- wall times


class WallTime(enum.StrEnum):
    """How a local wall-clock reading maps onto real instants in one zone."""

    NORMAL = "normal"
    NONEXISTENT = "nonexistent"  # inside a spring-forward gap
    AMBIGUOUS = "ambiguous"  # inside an autumn fold: happens twice


def classify_wall_time(wall: datetime, zone: ZoneLike) -> WallTime:
    """Lets callers warn "18:00 does not exist that day" instead of silently moving it."""
    _require_naive(wall)
    tz = get_zone(zone)
    first = wall.replace(tzinfo=tz, fold=0)
    second = wall.replace(tzinfo=tz, fold=1)
    if first.utcoffset() == second.utcoffset():
        return WallTime.NORMAL
    round_trip = first.astimezone(UTC).astimezone(tz).replace(tzinfo=None, fold=0)
    if round_trip != wall.replace(fold=0):
        return WallTime.NONEXISTENT
    return WallTime.AMBIGUOUS


def localize(wall: datetime, zone: ZoneLike) -> datetime:
    """The UTC instant of a naive local wall time, by the RFC 5545 rule in the module doc."""
    _require_naive(wall)
    tz = get_zone(zone)
    return wall.replace(tzinfo=tz, fold=0).astimezone(UTC)


def end_of_local_day(day: date, zone: ZoneLike | tzinfo) -> datetime:
    """23:59:59 on ``day`` in ``zone``, as UTC: how a date-only deadline is stored."""
    tz = zone if isinstance(zone, tzinfo) else get_zone(zone)
    if isinstance(tz, ZoneInfo):
        return localize(datetime.combine(day, time(23, 59, 59)), tz)
    return datetime.combine(day, time(23, 59, 59), tzinfo=tz).astimezone(UTC)


def _require_naive(wall: datetime) -> None:
    if wall.tzinfo is not None:
        raise ValueError(f"expected a naive local wall time, got aware {wall!r}")


def _require_aware(value: datetime, what: str = "datetime") -> None:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"naive {what} {value!r} refused: pass an aware datetime")


# --------------------------------------------------------------------------- instants

_INSTANT = re.compile(
    r"""^\s*
    (?P<y>\d{4})-(?P<mo>\d{1,2})-(?P<d>\d{1,2})
    (?:(?:T|\s+)(?P<h>\d{1,2}):(?P<mi>\d{2})(?::(?P<s>\d{2}))?)?
    \s*(?P<tz>Z|UTC|GMT|[+-]\d{2}(?::?\d{2})?|AoE|anywhere\s+on\s+earth)?
    \s*$""",
    re.IGNORECASE | re.VERBOSE,
)
_CLOCK = re.compile(r"^\s*(?P<h>\d{1,2}):(?P<mi>\d{2})(?::(?P<s>\d{2}))?\s*$")


def _echo(text: str) -> str:
    """User text quoted inside an error, cut short so the sentence stays one line."""
    return shown(text, _ECHO_LIMIT)


def _or_list(items: list[str]) -> str:
    if len(items) == 1:
        return items[0]
    return ", ".join(items[:-1]) + " or " + items[-1]


def _show_utc(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def _parse(text: str, zone: ZoneLike | None) -> tuple[datetime, tzinfo, datetime | None]:
    """Returns the instant, the zone/offset it was read in (for a later bare end time), and
    the naive wall time typed when it was read in ``zone`` (None when an offset was given)."""
    # Length is capped first: nobody types a 100-character time, and long whitespace runs
    # would make the regex backtrack quadratically.
    match = _INSTANT.match(text) if len(text) <= _MAX_INPUT else None
    if match is None:
        raise CalendarInputError(f"Could not read {_echo(text)} as a time; {EXAMPLE_TIMES}.")
    year, month, day = int(match["y"]), int(match["mo"]), int(match["d"])
    if not _MIN_YEAR <= year <= _MAX_YEAR:
        raise CalendarInputError(
            f"{_echo(text)} is not in a usable year ({_MIN_YEAR}-{_MAX_YEAR}); {EXAMPLE_TIMES}."
        )
    has_clock = match["h"] is not None
    hour = int(match["h"]) if has_clock else 0
    minute = int(match["mi"]) if has_clock else 0
    second = int(match["s"]) if match["s"] is not None else 0
    try:
        day_value = date(year, month, day)
        clock = time(hour, minute, second)
    except ValueError:
        raise CalendarInputError(
            f"{_echo(text)} is not a real date and time; {EXAMPLE_TIMES}."
        ) from None
    wall = datetime.combine(day_value, clock)
    suffix = (match["tz"] or "").strip()
    suffix_key = " ".join(suffix.lower().split())
    if suffix_key in {"aoe", "anywhere on earth"}:
        if not has_clock:
            return end_of_local_day(day_value, AOE), AOE, None
        return wall.replace(tzinfo=AOE).astimezone(UTC), AOE, None
    if not has_clock:
        day_text = day_value.isoformat()
        raise CalendarInputError(
            f"{_echo(text)} has no time of day; add one, e.g. {day_text} 18:00, or write "
            f"{day_text} AoE for the end of that day anywhere on Earth."
        )
    if suffix:
        offset_zone = _offset_zone(suffix, text)
        return wall.replace(tzinfo=offset_zone).astimezone(UTC), offset_zone, None
    if zone is None:
        raise CalendarInputError(
            f"{_echo(text)} has no time zone; add an offset, e.g. 2026-12-01 18:00+01:00 "
            "or 2026-12-01T18:00Z."
        )
    tz = get_zone(zone)
    return localize(wall, tz), tz, wall


def typed_wall_time(text: str, zone: ZoneLike) -> datetime | None:
    """The naive local time a person typed, when it is read in ``zone`` (no offset given).

    It may not exist (a spring-forward gap): the instant ``parse_instant`` returns is then
    moved by the gap, and ``classify_wall_time`` on this says so, so the tutor can be told.
    """
    return _parse(text, zone)[2]


def _offset_zone(suffix: str, text: str) -> tzinfo:
    if suffix.upper() in {"Z", "UTC", "GMT"}:
        return UTC
    sign = -1 if suffix[0] == "-" else 1
    digits = suffix[1:].replace(":", "")
    hours = int(digits[:2])
    minutes = int(digits[2:] or "0")
    offset = timedelta(hours=hours, minutes=minutes)
    if minutes >= 60 or offset > _MAX_OFFSET:
        raise CalendarInputError(
            f"{_echo(text)} has an impossible UTC offset; use one like +01:00 or -05:00."
        )
    return timezone(sign * offset)


def parse_instant(
    text: str,
    zone: ZoneLike | None = None,
    *,
    now: datetime | None = None,
    allow_past: bool = False,
) -> datetime:
    """One moment typed by a person, as aware UTC.

    Accepts ``2026-12-01T18:00Z``, ``2026-12-01 18:00+01:00``, a local ``2026-12-01 18:00``
    read in ``zone``, and ``2026-12-01 AoE`` (the end of that day at UTC−12, the usual
    "anywhere on Earth" academic deadline). A date with no time is refused rather than taken as
    midnight, which is never what a tutor means. When ``now`` is given and ``allow_past`` is
    false, a moment before ``now`` is refused.
    """
    instant, _, _ = _parse(text, zone)
    _refuse_past(text, instant, now, allow_past)
    return instant


def _refuse_past(text: str, instant: datetime, now: datetime | None, allow_past: bool) -> None:
    if now is None or allow_past:
        return
    _require_aware(now, "now")
    if instant < now:
        raise CalendarInputError(
            f"{_echo(text)} ({_show_utc(instant)}) is in the past; give a time after "
            f"{_show_utc(now)}."
        )


def require_order(start: datetime, end: datetime) -> None:
    """An event must last: an end at or before its start is a typo, never intended."""
    _require_aware(start, "start")
    _require_aware(end, "end")
    if end <= start:
        raise CalendarInputError(
            f"The end ({_show_utc(end)}) must be after the start ({_show_utc(start)})."
        )


def parse_span(
    start_text: str,
    end_text: str,
    zone: ZoneLike | None = None,
    *,
    now: datetime | None = None,
    allow_past: bool = False,
) -> tuple[datetime, datetime]:
    """A start and an end typed by a tutor.

    The end may be a full time, a bare clock time on the start's local day (``19:30``, read in
    the same zone or offset as the start), or a duration (``1h30m``). An end on or before the
    start is refused rather than rolled over to the next day.
    """
    start, start_tz, _ = _parse(start_text, zone)
    _refuse_past(start_text, start, now, allow_past)
    clock = _CLOCK.match(end_text)
    if clock is not None:
        local_day = start.astimezone(start_tz).date()
        try:
            end_clock = time(int(clock["h"]), int(clock["mi"]), int(clock["s"] or 0))
        except ValueError:
            raise CalendarInputError(
                f"{_echo(end_text)} is not a real clock time; use e.g. 19:30."
            ) from None
        wall = datetime.combine(local_day, end_clock)
        if isinstance(start_tz, ZoneInfo):
            end = localize(wall, start_tz)
        else:
            end = wall.replace(tzinfo=start_tz).astimezone(UTC)
    elif _looks_like_duration(end_text):
        end = start + parse_duration(end_text)
    else:
        end, _, _ = _parse(end_text, zone if zone is not None else _zone_of(start_tz))
    require_order(start, end)
    return start, end


def _zone_of(tz: tzinfo) -> ZoneInfo | None:
    return tz if isinstance(tz, ZoneInfo) else None


# --------------------------------------------------------------------------- durations

_DURATION = re.compile(
    r"""^\s*
    (?:(?P<w>\d+)\s*w\s*)?
    (?:(?P<d>\d+)\s*d\s*)?
    (?:(?P<h>\d+)\s*h\s*)?
    (?:(?P<m>\d+)\s*m\s*)?
    (?:(?P<s>\d+)\s*s\s*)?
    $""",
    re.IGNORECASE | re.VERBOSE,
)
_UNIT_SECONDS = {"w": 604_800, "d": 86_400, "h": 3_600, "m": 60, "s": 1}
_DURATION_HINT = "use e.g. 7d, 48h, 15m or 1h30m"


def _looks_like_duration(text: str) -> bool:
    match = _DURATION.match(text)
    return match is not None and any(match.groupdict().values())


def parse_duration(text: str) -> timedelta:
    """``7d``, ``48h``, ``15m``, ``1h30m`` (also ``w`` and ``s``); zero is allowed ("at start")."""
    match = _DURATION.match(text)
    if match is None or not any(match.groupdict().values()):
        raise CalendarInputError(f"Could not read {_echo(text)} as a duration; {_DURATION_HINT}.")
    values = {unit: value for unit, value in match.groupdict().items() if value is not None}
    # Digit count is capped before int() so absurd input cannot build huge numbers.
    too_long = any(len(value) > 7 for value in values.values())
    seconds = 0 if too_long else sum(int(v) * _UNIT_SECONDS[u] for u, v in values.items())
    if too_long or seconds > MAX_DURATION.total_seconds():
        raise CalendarInputError(
            f"{_echo(text)} is longer than {MAX_DURATION.days} days; {_DURATION_HINT}."
        )
    return timedelta(seconds=seconds)


def format_duration(value: timedelta) -> str:
    """The canonical spelling (largest units first, no weeks): ``parse_duration`` reads it back.

    Used as the offset label in notice dedupe keys, so it must be stable: ``24h`` and ``1d``
    are the same offset and both come out as ``1d``.
    """
    if value < timedelta(0):
        raise ValueError(f"negative duration {value!r} has no spelling")
    if value.microseconds:
        raise ValueError(f"duration {value!r} has sub-second precision")
    remaining = int(value.total_seconds())
    if remaining == 0:
        return "0m"
    parts: list[str] = []
    for unit in ("d", "h", "m", "s"):
        size = _UNIT_SECONDS[unit]
        count, remaining = divmod(remaining, size)
        if count:
            parts.append(f"{count}{unit}")
    return "".join(parts)


def parse_offsets(text: str) -> list[timedelta]:
    """A list like ``7d,48h,24h,1h``; duplicates dropped, earliest notice (largest) first."""
    pieces = [piece for piece in re.split(r"[,;\s]+", text) if piece]
    if not pieces:
        raise CalendarInputError(
            f"Give at least one notice offset; {_DURATION_HINT}, separated by commas."
        )
    offsets: set[timedelta] = set()
    for piece in pieces:
        offsets.add(parse_duration(piece))
    if len(offsets) > MAX_OFFSETS:
        raise CalendarInputError(
            f"{_echo(text)} has {len(offsets)} offsets; give at most {MAX_OFFSETS}."
        )
    return sorted(offsets, reverse=True)


def format_offsets(offsets: list[timedelta] | tuple[timedelta, ...]) -> str:
    """The canonical list spelling, what ``parse_offsets`` reads back to the same list."""
    return ",".join(format_duration(o) for o in sorted(set(offsets), reverse=True))


# --------------------------------------------------------------------------- rendering

_TIMESTAMP_STYLES = frozenset("tTdDfFR")


def discord_timestamp(value: datetime, style: str = "F") -> str:
    """Discord's ``<t:UNIX:STYLE>`` markup: every reader's client shows it in their own zone.

    ``F`` is the long local date and time, ``R`` is relative ("in 2 hours"). Plain markup, so
    other platforms' adapters can rewrite it; nothing here imports discord.
    """
    _require_aware(value)
    if style not in _TIMESTAMP_STYLES:
        raise ValueError(f"unknown Discord timestamp style {style!r}")
    return f"<t:{math.floor(value.timestamp())}:{style}>"
