"""The permission matrix of ``tests/e2e/test_permission_matrix.py`` on both platforms: every
command, as a student of its module, a tutor of another module, its tutor and an admin; a
refusal is one of the roster's sentences and changes nothing, an allowed call is not refused.

The commands and what they declare (audience, example options, setup) come from the Discord
cogs (``tests.parity.catalogue``); a command Slack does not have yet is skipped by name in
``test_the_command_is_on_this_platform`` and left out of Slack's matrix run.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any, cast

import pytest
from sqlalchemy import select

from bot.db.models import Cohort as CohortRow
from bot.db.models import Person as RosterPerson
from cohortlab.drive import Cohort, File, NotOnPlatform, Person
from cohortlab.drive.catalogue import catalogue
from cohortlab.drive.discord import DiscordCohort
from cohortlab.drive.text import readable
from cohortlab.localdiscord.scripting import Upload
from tests.e2e.test_permission_matrix import (
    ALLOWED,
    DEFAULT_MODULE,
    GENERIC_FAILURE,
    ROLES,
    dump,
    is_role_refusal,
    metadata_problems,
    resolve_setup,
    settled_dump,
)

pytestmark = pytest.mark.e2e


@pytest.mark.parametrize("command", list(catalogue()))
def test_the_command_is_on_this_platform(platform: str, command: str) -> None:
    """One line per command and platform: passed, or skipped with the reason."""
    if platform == "slack":
        from slackapp.commands.table import BY_PATH

        if tuple(command.split()) not in BY_PATH:
            pytest.skip(f"/{command} is not on Slack yet")
    assert command in catalogue()


# --------------------------------------------------------------------------- setups on Slack


@dataclass
class _User:
    global_name: str


@dataclass
class _Actor:
    """What a setup function reads of a person (``cohortlab.localdiscord`` Actor's shape)."""

    id: str
    name: str
    user: _User


class SetupWorld:
    def __init__(self, cohort: Cohort, code: str, usernames: dict[str, Person]) -> None:
        self.cohort = cohort
        self.cohort_code = code
        self._by_username = usernames
        self._username = {p.platform_id: u for u, p in usernames.items()}

    def _actor(self, person: Person) -> _Actor:
        user = self.cohort.chat_user(person)
        return _Actor(
            person.platform_id,
            self._username.get(person.platform_id, person.name),
            _User(user.display_name),
        )

    def tutors(self, module: str | None = None) -> list[_Actor]:
        return [self._actor(p) for p in self.cohort.tutors(module)]

    def students(self, module: str | None = None) -> list[_Actor]:
        return [self._actor(p) for p in self.cohort.students(module)]

    def person(self, username: str) -> _Actor:
        return self._actor(self._by_username[username])


class SetupBox:
    """The part of a ``Sandbox`` the matrix's setup functions use, over any platform."""

    def __init__(self, cohort: Cohort, world: SetupWorld) -> None:
        self.cohort = cohort
        self.world = world
        self.db = cohort.db
        self.clock = cohort.clock

    async def advance(self, delta: timedelta) -> None:
        await self.cohort.advance(delta)

    async def run_due(self) -> None:
        await self.cohort.run_due()


async def usernames(cohort: Cohort) -> dict[str, Person]:
    """The roster's usernames (what examples and setups name people by) -> the person."""
    async with cohort.db.session() as s:
        rows = (await s.execute(select(RosterPerson.platform_username, RosterPerson.email))).all()
    found: dict[str, Person] = {}
    for username, email in rows:
        if username and email:
            try:
                found[str(username)] = cohort.by_email(str(email))
            except (KeyError, StopIteration):
                continue
    return found


async def setup_box(cohort: Cohort, names: dict[str, Person]) -> Any:
    if isinstance(cohort, DiscordCohort):
        return cohort.sandbox
    async with cohort.db.session() as s:
        code = (await s.execute(select(CohortRow.code))).scalar_one()
    return SetupBox(cohort, SetupWorld(cohort, code, names))


# --------------------------------------------------------------------------- the matrix


def _neutral(value: Any, names: dict[str, Person]) -> Any:
    """An example or setup value as the driver takes it: people by username, files as File."""
    if isinstance(value, str):
        return names.get(value, value)
    if isinstance(value, Upload):
        return File(value.filename, value.data, value.content_type)
    return value


async def test_permission_matrix_on_this_platform(cohort: Cohort) -> None:
    names = await usernames(cohort)
    box = await setup_box(cohort, names)
    failures: list[str] = []
    checked = 0
    offered = [(name, c) for name, c in catalogue().items() if cohort.offers(name)]
    for qualified, command in offered:
        if metadata_problems(command):
            failures.extend(metadata_problems(command))
            continue
        extras = dict(command.extras)
        audience = extras["audience"]
        example = dict(extras["example"])
        module = str(example.get("module") or extras.get("module") or DEFAULT_MODULE).upper()
        people = {
            "student": cohort.students(module)[0],
            "other_tutor": cohort.other_tutor(module),
            "module_tutor": cohort.tutor(module),
            "admin": cohort.admins()[0],
        }
        setup = resolve_setup(extras["setup"]) if extras.get("setup") else None
        params = {p.name for p in command.parameters}
        for role in ROLES:
            options = dict(example)
            if setup is not None:
                made = await setup(box)
                options.update({k: v for k, v in made.items() if k in params})
            options = {k: _neutral(v, names) for k, v in options.items()}
            allowed = role in ALLOWED[audience]
            before = {} if allowed else await settled_dump(cast(Any, cohort))
            name = f"/{qualified} ({audience}) as {role}"
            try:
                # From the module's channel if they are in it (on Slack one types only where
                # one is a member), else from wherever they are.
                who = people[role]
                where = module if module in cohort.modules_of(who) else None
                reply = await who.command(qualified, where=where, **options)
            except NotOnPlatform as exc:
                pytest.fail(f"{name}: {exc}")
            except AssertionError as exc:
                failures.append(f"{name}: no answer ({exc})")
                continue
            checked += 1
            text = readable(reply.text)
            if allowed:
                if not reply.form and is_role_refusal(text):
                    failures.append(f"{name}: refused but should be allowed: {text!r}")
                if GENERIC_FAILURE in text:
                    failures.append(f"{name}: the command failed: {text!r}")
                continue
            if reply.form:
                failures.append(f"{name}: opened a form instead of refusing")
                continue
            if not is_role_refusal(text):
                failures.append(f"{name}: expected a role refusal, got {text!r}")
            after = await dump(cast(Any, cohort))
            if after != before:
                changed = [t for t in before if before[t] != after.get(t)]
                failures.append(f"{name}: refused but changed {changed}")
    assert failures == [], "\n".join(failures)
    assert checked == 4 * len(offered)
    print(f"\n{cohort.platform}: {len(offered)} commands × 4 roles checked")
