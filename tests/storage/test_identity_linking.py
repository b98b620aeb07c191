"""The one answer to "who is this chat account?": by id, else by roster username or e-mail."""

from __future__ import annotations

from sqlalchemy import select

from bot.access.identity import ChatUser, link_members, resolve_person
from bot.db.engine import Database
from bot.db.models import Person


async def test_members_link_by_username_or_email_never_by_guess(db: Database) -> None:
    async with db.session() as s:
        s.add_all(
            [
                Person(display_name="By Name", platform_username="by.name"),
                Person(display_name="By Mail", email="Mail@Example.org"),
                Person(display_name="Twin A", platform_username="twin"),
                Person(display_name="Twin B", platform_username="twin"),
                Person(display_name="By Id", platform_user_id="900"),
            ]
        )
    async with db.session() as s:
        linked = await link_members(
            s,
            [
                ChatUser("100", "@By.Name", "x"),
                ChatUser("200", "someone", "y", email="mail@example.org"),
                ChatUser("300", "twin", "z"),
                ChatUser("900", "id.user", "w"),
                ChatUser("400", "stranger", "v"),
            ],
        )
    assert linked == 2
    async with db.session() as s:
        people = {
            p.display_name: (p.platform_user_id, p.platform_username)
            for p in (await s.execute(select(Person))).scalars()
        }
        assert people == {
            "By Name": ("100", "by.name"),
            "By Mail": ("200", None),
            "Twin A": (None, "twin"),
            "Twin B": (None, "twin"),
            "By Id": ("900", "id.user"),  # the username, for the exports' discord column
        }
        # Commands ask the same question the same way.
        person = await resolve_person(s, ChatUser("100", "renamed", "x"))
        assert person is not None and person.display_name == "By Name"
        assert await resolve_person(s, ChatUser("300", "twin", "z")) is None
