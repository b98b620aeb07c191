"""A ready-made cohort workspace, shaped like localdiscord's ``build_cohort`` so one
parametrised end-to-end test can arrange either platform the same way.

Slack has no roles: who tutors is the bot's roster's business, so tutors differ here only by
being in the private staff channel (and by ``admin`` when asked).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from cohortlab.localslack.models import Channel

if TYPE_CHECKING:
    from cohortlab.localslack.scripting import Script, SlackActor


@dataclass
class SlackCohort:
    script: Script
    general: Channel
    staff: Channel
    modules: dict[str, Channel]
    tutors: list[SlackActor]
    students: list[SlackActor]
    email_domain: str = "uni.ac.uk"

    @property
    def tutor(self) -> SlackActor:
        return self.tutors[0]

    @property
    def student(self) -> SlackActor:
        return self.students[0]

    def module(self, code: str) -> Channel:
        return self.modules[code]

    def add_student(self, username: str) -> SlackActor:
        """A newcomer in #general and every module channel (no events: Slack's own join)."""
        actor = self.script.add_user(username, email=f"{username}@{self.email_domain}")
        for chan in (self.general, *self.modules.values()):
            chan.members.append(actor.id)
        actor.home_channel = self.general.id
        self.students.append(actor)
        return actor


def build_cohort(
    script: Script,
    *,
    modules: Sequence[str] = ("MATH70095",),
    tutors: Sequence[str] = ("tutor",),
    students: Sequence[str] = ("student1", "student2"),
    tutors_are_admins: bool = True,
    add_bot: bool = True,
    email_domain: str = "uni.ac.uk",
) -> SlackCohort:
    """#general (everyone), private #staff (tutors), one public channel per module (everyone);
    everyone has an e-mail for roster matching; the bot is in every channel unless told not."""
    tutor_actors = [
        script.add_user(name, email=f"{name}@{email_domain}", admin=tutors_are_admins)
        for name in tutors
    ]
    student_actors = [script.add_user(name, email=f"{name}@{email_domain}") for name in students]
    everyone = tutor_actors + student_actors
    general = script.add_channel("general", members=everyone, bot=add_bot)
    staff = script.add_channel("staff", private=True, members=tutor_actors, bot=add_bot)
    module_channels = {
        code: script.add_channel(code.lower(), members=everyone, bot=add_bot) for code in modules
    }
    for actor in everyone:
        actor.home_channel = general.id
    return SlackCohort(
        script=script,
        general=general,
        staff=staff,
        modules=module_channels,
        tutors=tutor_actors,
        students=student_actors,
        email_domain=email_domain,
    )
