"""Sign-in links and sessions on a real database: single use, expiry, binding, revocation."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from bot.dashboard import signin
from bot.db.engine import Database
from cohortlab.sample import sample_cohort

NOW = datetime(2026, 3, 9, 9, 0, tzinfo=UTC)


async def make_link(db: Database, secret: str | None = None) -> tuple[str, int, bytes]:
    async with db.session() as s:
        c = await sample_cohort(s, students=2)
        key = await signin.signing_key(s, secret)
        url, expires = await signin.create_link(
            s, key, person_id=c.tutor.id, cohort_id=c.cohort_id, now=NOW, public_url="http://x/"
        )
    assert expires == NOW + timedelta(minutes=10)
    assert url.startswith("http://x/dashboard/signin?token=")
    return url.split("token=", 1)[1], c.tutor.id, key


async def test_a_link_works_once_even_when_two_browsers_race(db: Database) -> None:
    token, person, key = await make_link(db)

    async def use() -> str:
        try:
            async with db.session() as s:
                signed = await signin.consume_link(s, key, token, NOW + timedelta(minutes=1))
                return signed.cookie
        except signin.SignInRefused as exc:
            return str(exc)

    results = await asyncio.gather(use(), use())
    assert sum(r == signin.USED for r in results) == 1, results
    cookie = next(r for r in results if r != signin.USED)
    async with db.session() as s:
        row = await signin.session_for(s, cookie, NOW + timedelta(hours=1))
        assert row is not None and row.person_id == person
        assert signin.csrf_ok(row, row.csrf_token) and not signin.csrf_ok(row, "forged")
        assert await signin.session_for(s, cookie, NOW + timedelta(hours=13)) is None
        assert await signin.revoke_everywhere(s, person, NOW) == 1
    async with db.session() as s:
        assert await signin.session_for(s, cookie, NOW + timedelta(hours=1)) is None


async def test_forged_expired_and_rebound_links_are_refused(db: Database) -> None:
    token, person, key = await make_link(db)
    link_id, _person, expiry, nonce, sig = token.split(".")
    forged = [
        "nonsense",
        f"{link_id}.{person + 1}.{expiry}.{nonce}.{sig}",  # bound to someone else
        f"{link_id}.{person}.{int(expiry) + 3600}.{nonce}.{sig}",  # a longer life
        token[:-2] + ("AA" if not token.endswith("AA") else "BB"),
    ]
    for bad in forged:
        async with db.session() as s:
            with pytest.raises(signin.SignInRefused, match="not valid"):
                await signin.consume_link(s, key, bad, NOW)
    async with db.session() as s:
        with pytest.raises(signin.SignInRefused, match="not valid"):
            await signin.consume_link(s, b"another secret", token, NOW)
        with pytest.raises(signin.SignInRefused, match="expired"):
            await signin.consume_link(s, key, token, NOW + timedelta(minutes=10))


async def test_the_generated_secret_is_made_once(db: Database) -> None:
    async with db.session() as s:
        first = await signin.signing_key(s, None)
    async with db.session() as s:
        assert await signin.signing_key(s, None) == first
        assert await signin.signing_key(s, "configured") == b"configured"
