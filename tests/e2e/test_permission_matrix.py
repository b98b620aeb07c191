"""Every slash command, invoked as four people: allowed or refused, and a refusal changes nothing.

Each command declares who may use it in its extras (``extras={"audience": ..., "example":
{...}, "setup": "<name>"}``, ``cogs._shared.metadata.extras``):

- ``member``: anyone on the roster;
- ``student``: students of the module named in the options;
- ``staff``: that module's tutors and the programme admins;
- ``admin``: programme admins only.

The module is the example's ``module`` option, else ``extras["module"]`` (for commands that
name an object, e.g. a prompt id, created by the setup in that module), else MATH70097.

A setup is a neutral name (commands name no test module); ``SETUPS`` below maps each to the
function that creates what the command needs. The test invokes each command, with its example
options (plus what its setup function returns), as a student of the module, a tutor of
another module, the module's tutor and an admin, and checks the bot's own answer: a refusal
must be one of the roster's permission sentences and leave every table exactly as it was; an
allowed call must not be refused for its role (it may still be refused for another reason,
e.g. "already released"). A command without this metadata fails the test: that is how new
commands get covered.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from discord import app_commands
from sqlalchemy import select, text

from bot.access.permissions import NOT_ON_ROSTER
from bot.db.models import Base, Enrolment, Module, Person, Role
from cohortlab.localdiscord.models import Message
from cohortlab.localdiscord.scripting import Actor, InvalidInput, Upload
from cohortlab.sandbox import Sandbox, World
from cohortlab.setups import discussions, peer
from tests.e2e import test_deadlines, test_tutorials

pytestmark = pytest.mark.e2e

AUDIENCES = ("member", "student", "staff", "admin")
ROLES = ("student", "other_tutor", "module_tutor", "admin")
ALLOWED = {
    "member": {"student", "other_tutor", "module_tutor", "admin"},
    "student": {"student"},
    "staff": {"module_tutor", "admin"},
    "admin": {"admin"},
}
DEFAULT_MODULE = "MATH70097"
#: The sentences of bot.access.permissions (and the admin-only one), as a refusal reads.
ROLE_REFUSALS = (
    re.compile(r"Only tutors of \S+ and programme admins can do that\."),
    re.compile(r"You are not enrolled as a student in \S+\."),
    re.compile(r"You are not enrolled as a student in any module\."),
    re.compile(r"Only programme admins can do that\."),
    re.compile(re.escape(NOT_ON_ROSTER)),
)
GENERIC_FAILURE = "Something went wrong on our side"


def extras_of(command: app_commands.Command[Any, ..., Any]) -> dict[str, Any]:
    return dict(command.extras or {})


def leaf_commands(sandbox: Sandbox) -> list[app_commands.Command[Any, ..., Any]]:
    tree = sandbox.app.bot.tree
    commands = [c for c in tree.walk_commands() if isinstance(c, app_commands.Command)]
    return sorted(commands, key=lambda c: c.qualified_name)


def is_role_refusal(text_: str) -> bool:
    return any(p.fullmatch(text_.strip()) for p in ROLE_REFUSALS)


Setup = Callable[[Sandbox], Awaitable[dict[str, Any]]]


def resolve_setup(name: str) -> Setup:
    """The function behind a command's ``extras["setup"]`` name."""
    func = SETUPS.get(name)
    if func is None:
        raise AssertionError(f"setup {name!r} is not one of {sorted(SETUPS)}")
    return func


def metadata_problems(command: app_commands.Command[Any, ..., Any]) -> list[str]:
    name = f"/{command.qualified_name}"
    extras = extras_of(command)
    problems: list[str] = []
    audience = extras.get("audience")
    if audience not in AUDIENCES:
        problems.append(f"{name}: extras['audience'] must be one of {AUDIENCES}, not {audience!r}")
    example = extras.get("example")
    if not isinstance(example, dict):
        problems.append(f"{name}: extras['example'] must be a dict of option values")
        return problems
    params = {p.name: p for p in command.parameters}
    unknown = set(example) - set(params)
    if unknown:
        problems.append(f"{name}: example names unknown options {sorted(unknown)}")
    setup = extras.get("setup")
    if setup is not None:
        try:
            resolve_setup(setup)
        except AssertionError as exc:
            problems.append(f"{name}: {exc}")
    else:
        missing = [p for p, param in params.items() if param.required and p not in example]
        if missing:
            problems.append(f"{name}: example lacks required options {missing} (or add a setup)")
    hint = extras.get("module")
    if hint is not None and not isinstance(hint, str):
        problems.append(f"{name}: extras['module'] must be a module code")
    return problems


async def dump(sandbox: Sandbox) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table: a refused command must leave this exactly as it was.

    Except ``processed_events``: every interaction is claimed there before it is handled
    (several processes, one database), refused or not; a claim is bookkeeping, not data."""
    out: dict[str, list[tuple[Any, ...]]] = {}
    async with sandbox.db.session() as s:
        for table in sorted(Base.metadata.tables):
            if table == "processed_events":
                continue
            rows = (await s.execute(text(f'SELECT * FROM "{table}"'))).all()
            out[table] = sorted((tuple(r) for r in rows), key=repr)
    return out


async def settled_dump(sandbox: Sandbox) -> dict[str, list[tuple[Any, ...]]]:
    """A dump once background work has settled (earlier commands' scheduled work, the
    discussion recorder's batched writes), so only the next command's effect is compared."""
    await sandbox.run_due()  # deliveries and other work earlier commands queued
    previous = await dump(sandbox)
    stable = 0
    for _ in range(100):
        await asyncio.sleep(0.02)
        current = await dump(sandbox)
        stable = stable + 1 if current == previous else 0
        if stable >= 2:
            return current
        previous = current
    return previous


def changed_tables(
    before: dict[str, list[tuple[Any, ...]]], after: dict[str, list[tuple[Any, ...]]]
) -> list[str]:
    return [t for t in before if before[t] != after.get(t)]


def people_for(world: World, module: str) -> dict[str, Actor]:
    students = world.students(module)
    tutors = world.tutors(module)
    others = [t for t in world.tutors() if t not in tutors]
    if not students or not tutors or not others:
        raise AssertionError(
            f"example module {module} needs a student, a tutor and a tutor of another module "
            "in the example cohort; use a module such as MATH70097"
        )
    return {
        "student": students[0],
        "other_tutor": others[0],
        "module_tutor": tutors[0],
        "admin": world.admins()[0],
    }


def _convert(value: Any, world: World) -> Any:
    if isinstance(value, str) and value in world.people:
        return world.person(value)
    return value


async def invoke(
    sandbox: Sandbox,
    world: World,
    command: app_commands.Command[Any, ..., Any],
    who: Actor,
    options: dict[str, Any],
    module: str,
) -> tuple[str | None, list[Message]]:
    """Run the command as ``who``; returns the reply text (None for a modal) and messages."""
    handle = await who.command(
        command.qualified_name,
        where=world.channel(module),
        force=True,
        options={k: _convert(v, world) for k, v in options.items()},
    )
    interaction = await handle.response(timeout=10)
    if interaction.response_type == 9:
        return None, []
    reply = await handle.reply(timeout=10)
    return reply.content, list(handle.messages)


def test_the_matrix_reads_role_refusals_exactly() -> None:
    assert is_role_refusal("Only tutors of MATH70097 and programme admins can do that.")
    assert is_role_refusal("You are not enrolled as a student in MATH70097.")
    assert is_role_refusal("Only programme admins can do that.")
    assert not is_role_refusal("Participation marks of MATH70097 were already released on x.")


async def test_every_command_declares_audience_and_a_valid_example(sandbox: Sandbox) -> None:
    commands = leaf_commands(sandbox)
    assert {c.qualified_name for c in commands} >= {
        "about",
        "marks",
        "gradebook export",
        "gradebook release",
        "gradebook audit",
        "privacy export",
    }
    problems = [p for c in commands for p in metadata_problems(c)]
    assert problems == [], "\n".join(problems)


async def test_a_command_without_audience_metadata_is_caught(sandbox: Sandbox) -> None:
    @app_commands.command(name="undeclared", description="no metadata")
    async def undeclared(interaction: Any) -> None:  # pragma: no cover - never invoked
        return None

    assert metadata_problems(undeclared)[0].startswith("/undeclared: extras['audience']")


async def test_permission_matrix_over_every_command(sandbox: Sandbox, world: World) -> None:
    failures: list[str] = []
    checked = 0
    for command in leaf_commands(sandbox):
        extras = extras_of(command)
        if metadata_problems(command):
            failures.extend(metadata_problems(command))
            continue
        audience = extras["audience"]
        example = dict(extras["example"])
        module = str(example.get("module") or extras.get("module") or DEFAULT_MODULE).upper()
        people = people_for(world, module)
        setup = resolve_setup(extras["setup"]) if extras.get("setup") else None
        params = {p.name for p in command.parameters}
        for role in ROLES:
            options = dict(example)
            if setup is not None:
                # a setup may serve several commands: keep what this one declares
                made = await setup(sandbox)
                options.update({k: v for k, v in made.items() if k in params})
            before = await settled_dump(sandbox) if role not in ALLOWED[audience] else {}
            try:
                reply, _ = await invoke(sandbox, world, command, people[role], options, module)
            except (AssertionError, InvalidInput) as exc:
                failures.append(f"/{command.qualified_name} as {role}: no answer ({exc})")
                continue
            checked += 1
            allowed = role in ALLOWED[audience]
            name = f"/{command.qualified_name} ({audience}) as {role}"
            if allowed:
                if reply is not None and is_role_refusal(reply):
                    failures.append(f"{name}: refused but should be allowed: {reply!r}")
                if reply is not None and GENERIC_FAILURE in reply:
                    failures.append(f"{name}: the command failed: {reply!r}")
                continue
            if reply is None:
                failures.append(f"{name}: opened a form instead of refusing")
                continue
            if not is_role_refusal(reply):
                failures.append(f"{name}: expected a role refusal, got {reply!r}")
            after = await dump(sandbox)
            if after != before:
                failures.append(f"{name}: refused but changed {changed_tables(before, after)}")
    assert failures == [], "\n".join(failures)
    assert checked >= 4 * 11


# --------------------------------------------------------------------------- setups


async def components_file(sandbox: Sandbox) -> dict[str, Any]:
    """A component-marks CSV for /gradebook components-import."""
    data = b"student,component,weight,mark\n02510001,Coursework,40,64.5\n"
    return {"file": Upload("components.csv", data, "text/csv")}


_ERASABLE = iter(range(1, 10_000))


async def person_to_erase(sandbox: Sandbox) -> dict[str, Any]:
    """A fresh student of MATH70097 for /privacy erase-confirm (each call: a new one)."""
    number = f"0299{next(_ERASABLE):04d}"
    async with sandbox.db.session() as s:
        module = (await s.execute(select(Module).where(Module.code == DEFAULT_MODULE))).scalar_one()
        person = Person(
            display_name=f"Leaver {number}",
            student_number=number,
            platform_username=f"leaver{number}",
            email=f"{number}@students.example.org",
        )
        s.add(person)
        await s.flush()
        s.add(Enrolment(module_id=module.id, person_id=person.id, role=Role.STUDENT))
    return {"person": number}


#: Every ``extras["setup"]`` name a command may give, and what creates it.
SETUPS: dict[str, Setup] = {
    # /deadline and /tutorial
    "deadline": test_deadlines.setup_deadline,
    "feedback_item": test_deadlines.setup_feedback_item,
    "extension_request": test_deadlines.setup_request,
    "tutorial": test_tutorials.setup_tutorial,
    # /prompt
    "scheduled_prompt": discussions.setup_scheduled_prompt,
    "open_prompt": discussions.setup_open_prompt,
    "private_prompt": discussions.setup_private_prompt,
    "closed_prompt": discussions.setup_closed_prompt,
    "grades_csv": discussions.setup_grades_csv,
    # /exercise and /submit
    "settled": peer.setup_settled,
    "open_exercise": peer.setup_open_exercise,
    "submitted_exercise": peer.setup_submitted_exercise,
    "reassignable_exercise": peer.setup_reassignable_exercise,
    "allocated_exercise": peer.setup_allocated_exercise,
    "reviewed_exercise": peer.setup_reviewed_exercise,
    "moderatable_exercise": peer.setup_moderatable_exercise,
    # /gradebook and /privacy
    "components_file": components_file,
    "person_to_erase": person_to_erase,
}
