"""Every slash command, fed hostile options by hypothesis, as every kind of person: it answers,
logs no traceback, never says "Something went wrong", and a refusal changes nothing.

The commands come from the bot's own tree (as in ``test_permission_matrix``), so a new command
is covered without editing this file. Options are drawn per parameter type: strings up to
Discord's 6,000 characters (any unicode, control characters, NUL, invisible characters, dates
that do not exist, the command's own example values), integers to Discord's ±2**53-1 (and the
ids the command's setup made), users, channels, roles and uploaded files. A form the bot opens
is submitted with hostile text as well.

Each command is invoked ``HOSTILE_EXAMPLES`` times (default 3, derandomized) as a student of
its module, a tutor of another module, the module's tutor, an admin and a member of the server
who is not on the roster, on every configured database. The run prints its counts.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
import zlib
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any, TypeVar

import pytest
from discord import AppCommandOptionType, app_commands
from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis import strategies as st

from bot.db.engine import Database
from cohortlab.localdiscord.scripting import Actor, InvalidInput, Upload
from cohortlab.sandbox import Sandbox, World
from tests.e2e.quiet import first_runs_done
from tests.e2e.test_permission_matrix import (
    DEFAULT_MODULE,
    GENERIC_FAILURE,
    changed_tables,
    dump,
    extras_of,
    leaf_commands,
    people_for,
    resolve_setup,
    settled_dump,
)
from tests.storage_backends import Backends

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

T = TypeVar("T")

EXAMPLES = int(os.environ.get("HOSTILE_EXAMPLES", "3"))
ROLES = ("student", "other_tutor", "module_tutor", "admin", "not_on_roster")
#: Generous: the machine may be busy. Answers slower than Discord's 3 s are counted and printed.
ANSWER_TIMEOUT = 10.0
DISCORD_ANSWER_WINDOW = 3.0
MAX_ID = 2**53 - 1  # Discord's integer options: ±9,007,199,254,740,991

INVISIBLE = "\u200b\u200c\u200d\u2060\ufeff\u00ad\u180e\u2062\u2063\u034f\u3164 \t\n"
CONTROL = "".join(chr(c) for c in [*range(0, 32), 127, *range(0x80, 0xA0)])
SPECIAL_TEXT = [
    "",
    " ",
    "\x00",
    "MATH70097\x00",
    "math70097",
    "2030-02-30",
    "2030-13-01 12:00",
    "9999-12-31 23:59",
    "0001-01-01 00:00",
    "99999-01-01",
    "2030-03-01 25:61",
    "2030-03-01T12:00+99:00",
    "yesterday",
    "-1",
    "0",
    "1e309",
    "nan",
    str(MAX_ID),
    str(-MAX_ID),
    "9" * 400,
    "0d",
    "999999999999d,1h",
    "-5h",
    "1h" * 500,
    "<@1> @everyone",
    "'; DROP TABLE person; --",
    "%s %d {0} {}",
    "\u202eevil",
    "Z̷̡̧a̶l̴g̸o̵" * 50,
    "🎓" * 1500,
    "Asia/Tokyo",
    "Etc/GMT+99",
    "../../etc/passwd",
    "00:00",
    "24:00",
    "23:60",
]


def _cap(limit: int) -> Callable[[str], str]:
    return lambda s: s[:limit]


def text_values(samples: list[str], low: int = 0, high: int = 6000) -> st.SearchStrategy[str]:
    """Hostile text within Discord's length limits for the option (or form field)."""
    high = min(high, 6000)
    repeated = st.builds(
        lambda unit, n: unit * n,
        st.sampled_from(["A", "é", "\x00", "\u200b", "𝕏", "MATH70097 ", "\n\n", "ab\x07"]),
        st.integers(1, 6000),
    )
    hostile = st.one_of(
        st.sampled_from(SPECIAL_TEXT),
        st.text(max_size=80),
        st.text(alphabet=st.sampled_from(INVISIBLE), min_size=1, max_size=30),
        st.text(alphabet=st.sampled_from(CONTROL + "ab "), min_size=1, max_size=30),
        repeated,
        st.text(min_size=1000, max_size=6000),
    )
    if samples:
        hostile = st.one_of(
            st.sampled_from(samples),
            hostile,
            st.tuples(st.sampled_from(samples), st.sampled_from(CONTROL + INVISIBLE)).map(
                lambda p: p[0] + p[1]
            ),
        )
    return hostile.map(_cap(high)).filter(lambda s: len(s) >= low)


def int_values(samples: list[int], low: int | float | None, high: int | float | None) -> Any:
    lo = int(low) if low is not None else -MAX_ID
    hi = int(high) if high is not None else MAX_ID
    extremes = [
        0,
        1,
        -1,
        2**31 - 1,
        2**31,
        -(2**31),
        -(2**31) - 1,
        2**32,
        2**63 // 2**10,
        MAX_ID,
        -MAX_ID,
    ]
    values = st.one_of(
        st.sampled_from(extremes),
        st.integers(-MAX_ID, MAX_ID),
        st.integers(-3, 40),
        *([st.sampled_from(samples), st.sampled_from(samples)] if samples else []),
    )
    return values.map(lambda n: min(max(n, lo), hi))


def float_values(low: float | None, high: float | None) -> Any:
    lo = float(low) if low is not None else -float(MAX_ID)
    hi = float(high) if high is not None else float(MAX_ID)
    return st.one_of(
        st.sampled_from([0.0, -0.0, 1e-300, 100.0, 1e15, -1e15]),
        st.floats(allow_nan=False, allow_infinity=False),
    ).map(lambda x: min(max(x, lo), hi))


def file_values() -> Any:
    csv_like = st.lists(text_values([], 0, 40), max_size=8).map(
        lambda cells: ("student,component,weight,mark\n" + ",".join(cells) + "\n").encode(
            "utf-8", "surrogatepass"
        )
    )
    return st.builds(
        lambda name, data, kind: Upload(name, data, kind),
        st.sampled_from(["marks.csv", "x.xlsx", "\u202e.csv", "a" * 200 + ".csv", "noext"]),
        st.one_of(st.binary(max_size=3000), csv_like, st.just(b"\x00" * 100)),
        st.sampled_from(["text/csv", "application/octet-stream", "image/png"]),
    )


@dataclass
class Pools:
    """What the server has, for user/channel/role options."""

    users: list[Actor]
    channels: list[Any]
    roles: list[Any]


def option_strategy(
    param: app_commands.transformers.CommandParameter | Any, samples: list[Any], pools: Pools
) -> Any:
    kind = param.type
    if param.choices:
        return st.sampled_from([c.value for c in param.choices])
    if kind is AppCommandOptionType.string:
        return text_values(
            [s for s in samples if isinstance(s, str)],
            int(param.min_value or 0),
            int(param.max_value or 6000),
        )
    if kind is AppCommandOptionType.integer:
        ints = [s for s in samples if isinstance(s, int) and not isinstance(s, bool)]
        return int_values(ints, param.min_value, param.max_value)
    if kind is AppCommandOptionType.number:
        return float_values(param.min_value, param.max_value)
    if kind is AppCommandOptionType.boolean:
        return st.booleans()
    if kind is AppCommandOptionType.user:
        return st.sampled_from(pools.users)
    if kind is AppCommandOptionType.channel:
        return st.sampled_from(pools.channels)
    if kind is AppCommandOptionType.role:
        return st.sampled_from(pools.roles)
    if kind is AppCommandOptionType.mentionable:
        return st.sampled_from([*pools.users, *pools.roles])
    if kind is AppCommandOptionType.attachment:
        uploads = [s for s in samples if isinstance(s, Upload)]
        return st.one_of(st.sampled_from(uploads), file_values()) if uploads else file_values()
    raise AssertionError(f"no strategy for option type {kind!r} of {param.name}")


def options_strategy(
    command: app_commands.Command[Any, ..., Any], samples: dict[str, list[Any]], pools: Pools
) -> Any:
    """Required options always, optional ones half the time."""
    fields: dict[str, Any] = {}
    for param in command.parameters:
        values = option_strategy(param, samples.get(param.name, []), pools)
        if param.required:
            fields[param.name] = values.map(lambda v: (True, v))
        else:
            fields[param.name] = st.tuples(st.booleans(), values)
    return st.fixed_dictionaries(fields).map(
        lambda chosen: {name: value for name, (present, value) in chosen.items() if present}
    )


class Tracebacks(logging.Handler):
    """Every ERROR record with a traceback, from any logger (the bot's, discord.py's, asyncio's)."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.exc_info or record.exc_text or "Traceback" in record.getMessage():
            self.records.append(record)


@dataclass
class Tally:
    commands: int = 0
    invocations: int = 0
    unsendable: int = 0
    forms: int = 0
    refusals: int = 0
    slow: int = 0
    slowest: float = 0.0
    roles: set[str] = field(default_factory=set)
    failures: list[str] = field(default_factory=list)
    tracebacks: int = 0
    unanswered: int = 0
    generic: int = 0
    changed: int = 0


def _short(options: dict[str, Any]) -> str:
    def one(v: Any) -> str:
        if isinstance(v, Actor):
            return f"<user {v.id}>"
        if isinstance(v, Upload):
            return f"<file {v.filename[:20]!r} {len(v.data)}B>"
        text = repr(v)
        return text if len(text) <= 60 else f"{text[:50]}...({len(text)} chars)"

    return "{" + ", ".join(f"{k}: {one(v)}" for k, v in options.items()) + "}"


class Driver:
    """Runs on the sandbox's event loop; the hypothesis thread calls it through ``call``."""

    def __init__(self, sandbox: Sandbox, world: World, stranger: Actor, tally: Tally) -> None:
        self.sandbox = sandbox
        self.world = world
        self.stranger = stranger
        self.tally = tally
        self.logs = Tracebacks()

    def refused(self, name: str) -> float:
        total = 0.0
        for metric in self.sandbox.app.metrics.commands.collect():
            for sample in metric.samples:
                labels = sample.labels
                if (
                    sample.name.endswith("_total")
                    and labels.get("command") == name
                    and labels.get("outcome") == "refused"
                ):
                    total += sample.value
        return total

    async def answer(self, handle: Any, started: float) -> tuple[str, str | None]:
        """("form", None), ("reply", text) after waiting for the bot; raises if it never came."""
        interaction = await handle.response(timeout=ANSWER_TIMEOUT)
        if interaction.response_type == 9:
            self._timed(started)
            return "form", None
        reply = await handle.reply(timeout=ANSWER_TIMEOUT)
        self._timed(started)
        text = reply.content or " ".join(
            str(e.get("description") or e.get("title") or "") for e in reply.embeds or []
        )
        return "reply", text

    def _timed(self, started: float) -> None:
        elapsed = time.monotonic() - started
        self.tally.slowest = max(self.tally.slowest, elapsed)
        if elapsed > DISCORD_ANSWER_WINDOW:
            self.tally.slow += 1

    async def run(
        self,
        command: app_commands.Command[Any, ..., Any],
        who: Actor,
        role: str,
        module: str,
        options: dict[str, Any],
        form: dict[str, str] | None,
    ) -> None:
        name = command.qualified_name
        label = f"/{name} as {role} {_short(options)}"
        before = await settled_dump(self.sandbox)
        refused_before = self.refused(name)
        first_log = len(self.logs.records)
        try:
            started = time.monotonic()
            handle = await who.command(
                name, where=self.world.channel(module), force=True, options=options
            )
        except InvalidInput:
            self.tally.unsendable += 1  # the Discord client would not send it either
            return
        self.tally.invocations += 1
        self.tally.roles.add(role)
        try:
            kind, text = await self.answer(handle, started)
            if kind == "form":
                self.tally.forms += 1
                if form is not None:
                    kind, text = await self.submit(who, form, label)
        except AssertionError as exc:
            self.tally.unanswered += 1
            self.tally.failures.append(f"{label}: no answer ({str(exc)[:300]})")
            return
        finally:
            await asyncio.sleep(0)
        for record in self.logs.records[first_log:]:
            self.tally.tracebacks += 1
            cause = record.exc_info[1] if record.exc_info else record.getMessage()
            self.tally.failures.append(f"{label}: traceback {type(cause).__name__}: {cause!s:.300}")
        if text is not None and GENERIC_FAILURE in text:
            self.tally.generic += 1
            self.tally.failures.append(f"{label}: {text[:200]!r}")
        if self.refused(name) > refused_before:
            self.tally.refusals += 1
            after = await dump(self.sandbox)
            if after != before:
                self.tally.changed += 1
                self.tally.failures.append(
                    f"{label}: refused ({text!r:.200}) but changed {changed_tables(before, after)}"
                )

    async def submit(self, who: Actor, form: dict[str, str], label: str) -> tuple[str, str | None]:
        shown = await who.wait_for_modal(timeout=ANSWER_TIMEOUT)
        fields: dict[str, str] = {}
        for comp in _text_inputs(shown.get("components") or []):
            value = form.get("text", "")[: int(comp.get("max_length", 4000))]
            if len(value) < int(comp.get("min_length", 0)) or (
                comp.get("required", True) and not value
            ):
                value = "x" * max(1, int(comp.get("min_length", 1)))
            fields[str(comp["custom_id"])] = value
        try:
            started = time.monotonic()
            handle = await who.submit_modal(fields, timeout=ANSWER_TIMEOUT)
        except InvalidInput:
            return "form", None
        return await self.answer(handle, started)


def _text_inputs(components: list[Any]) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    for comp in components:
        if comp.get("type") == 4:
            found.append(comp)
        children = list(comp.get("components") or [])
        if isinstance(comp.get("component"), dict):
            children.append(comp["component"])
        found.extend(_text_inputs(children))
    return found


async def _sandbox_on(storage: Backends, backend: str) -> tuple[Sandbox, Database, str]:
    url = await storage.fresh_url(backend)
    db = Database(url)
    box = Sandbox(db)
    await box.start()
    await first_runs_done(box)
    return box, db, url


async def test_every_command_survives_hostile_options(
    storage: Backends, backend: str, capsys: pytest.CaptureFixture[str]
) -> None:
    sandbox, db, url = await _sandbox_on(storage, backend)
    world = sandbox.world
    assert world is not None
    script = sandbox.server.script
    stranger = script.add_user("passer-by", global_name="Not On The Roster")
    script.add_member(world.guild, stranger, roles=[world.module_roles[DEFAULT_MODULE]])
    tally = Tally()
    driver = Driver(sandbox, world, stranger, tally)
    pools = Pools(
        users=[*world.people.values(), stranger],
        channels=[*world.channels.values(), world.general],
        roles=list(world.module_roles.values()),
    )
    loop = asyncio.get_running_loop()

    def call(coro: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coro, loop).result(timeout=600)

    plans: list[tuple[app_commands.Command[Any, ..., Any], str, dict[str, list[Any]]]] = []
    for command in leaf_commands(sandbox):
        extras = extras_of(command)
        example = dict(extras.get("example") or {})
        module = str(example.get("module") or extras.get("module") or DEFAULT_MODULE).upper()
        samples: dict[str, list[Any]] = {k: [v] for k, v in example.items()}
        if extras.get("setup"):
            made = await resolve_setup(extras["setup"])(sandbox)
            for key, value in made.items():
                samples.setdefault(key, []).append(value)
        for key, values in samples.items():
            samples[key] = [
                world.person(v) if isinstance(v, str) and v in world.people else v for v in values
            ]
        plans.append((command, module, samples))

    root = logging.getLogger()
    root.addHandler(driver.logs)

    def drive() -> None:
        for command, module, samples in plans:
            tally.commands += 1
            people = {**people_for(world, module), "not_on_roster": stranger}
            for role in ROLES:

                @settings(
                    max_examples=EXAMPLES,
                    database=None,
                    deadline=None,
                    phases=[Phase.explicit, Phase.generate],
                    suppress_health_check=list(HealthCheck),
                )
                @seed(zlib.crc32(f"{command.qualified_name}/{role}".encode()))
                @given(
                    options=options_strategy(command, samples, pools),
                    form=st.one_of(st.none(), st.fixed_dictionaries({"text": text_values([])})),
                )
                def one(options: dict[str, Any], form: dict[str, str] | None) -> None:
                    call(driver.run(command, people[role], role, module, options, form))  # noqa: B023

                one()

    try:
        await asyncio.to_thread(drive)
    finally:
        root.removeHandler(driver.logs)
        await sandbox.stop()
        await db.dispose()
        await storage.drop(url)
    with capsys.disabled():
        print(
            f"\nhostile input on {backend}: {tally.commands} commands, {tally.invocations} "
            f"invocations ({tally.forms} forms, {tally.refusals} refusals, {tally.unsendable} "
            f"not sendable), roles {sorted(tally.roles)}; tracebacks={tally.tracebacks}, "
            f"unanswered={tally.unanswered}, something-went-wrong={tally.generic}, "
            f"changed-after-refusal={tally.changed}; answers over {DISCORD_ANSWER_WINDOW:.0f}s: "
            f"{tally.slow} (slowest {tally.slowest:.2f}s)"
        )
    assert tally.failures == [], f"{len(tally.failures)} failures:\n" + "\n".join(tally.failures)
    assert tally.roles == set(ROLES)
    assert tally.commands >= 30
    assert sandbox.server.internal_errors == [], sandbox.server.internal_errors
