"""Sign-in without passwords: a single-use link sent by DM, then a revocable session.

The link carries ``<link id>.<person id>.<expiry>.<nonce>`` and an HMAC-SHA256 signature with
the dashboard secret (``COHORTBOT_DASHBOARD_SECRET``, or one generated once and kept in the
database). The database keeps only the nonce's hash and marks the link used in one conditional
UPDATE, so a link works once even with two processes. Sessions are random 256-bit cookies, also
kept only as hashes, each with its own CSRF token; signing out everywhere revokes them all.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from bot.db.models import DashboardSecret, DashboardSession, DashboardSignInLink, Person
from bot.errors import UserError
from bot.gradebook import audit

__all__ = [
    "LINK_LIFETIME",
    "SESSION_LIFETIME",
    "SignInRefused",
    "SignedIn",
    "consume_link",
    "create_link",
    "csrf_ok",
    "link_id_of",
    "revoke",
    "revoke_everywhere",
    "session_for",
    "signing_key",
]

LINK_LIFETIME = timedelta(minutes=10)
SESSION_LIFETIME = timedelta(hours=12)
SECRET_NAME = "sign-in"

EXPIRED = "This sign-in link has expired: ask for a new one with /dashboard."
USED = "This sign-in link was already used: ask for a new one with /dashboard."
INVALID = "This sign-in link is not valid: ask for a new one with /dashboard."


class SignInRefused(UserError):
    """A link that is forged, expired or already used."""


def _hash(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def _sign(key: bytes, payload: str) -> str:
    digest = hmac.new(key, payload.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


async def signing_key(session: AsyncSession, configured: str | None) -> bytes:
    """The operator's secret, else the one generated on first use and kept in the database."""
    if configured:
        return configured.encode()
    row = await session.get(DashboardSecret, SECRET_NAME)
    if row is None:
        try:
            async with session.begin_nested():
                session.add(DashboardSecret(name=SECRET_NAME, value=secrets.token_urlsafe(48)))
        except IntegrityError:  # another process made it first
            pass
        row = await session.get(DashboardSecret, SECRET_NAME)
        assert row is not None
    return row.value.encode()


async def create_link(
    session: AsyncSession,
    key: bytes,
    *,
    person_id: int,
    cohort_id: int,
    now: datetime,
    public_url: str,
) -> tuple[str, datetime]:
    """A new single-use sign-in URL for this person, and when it stops working."""
    nonce = secrets.token_urlsafe(24)
    expires = now + LINK_LIFETIME
    link = DashboardSignInLink(
        nonce_hash=_hash(nonce),
        person_id=person_id,
        cohort_id=cohort_id,
        created_at=now,
        expires_at=expires,
    )
    session.add(link)
    await session.flush()
    payload = f"{link.id}.{person_id}.{int(expires.timestamp())}.{nonce}"
    token = f"{payload}.{_sign(key, payload)}"
    return f"{public_url.rstrip('/')}/dashboard/signin?token={token}", expires


def link_id_of(url: str) -> int:
    """The link row's id inside a URL ``create_link`` made (the token's first part)."""
    return int(url.rsplit("token=", 1)[1].split(".", 1)[0])


@dataclass(frozen=True)
class SignedIn:
    """A new session: the cookie value (shown once, never stored) and its row."""

    cookie: str
    session: DashboardSession


async def consume_link(session: AsyncSession, key: bytes, token: str, now: datetime) -> SignedIn:
    """Turn a sign-in link into a session, or refuse in one sentence (and change nothing)."""
    parts = token.split(".")
    if len(parts) != 5 or not all(parts):
        raise SignInRefused(INVALID)
    payload, signature = ".".join(parts[:4]), parts[4]
    if not hmac.compare_digest(_sign(key, payload), signature):
        raise SignInRefused(INVALID)
    try:
        link_id, person_id, expiry = int(parts[0]), int(parts[1]), int(parts[2])
    except ValueError:
        raise SignInRefused(INVALID) from None
    if now >= datetime.fromtimestamp(expiry, UTC):
        raise SignInRefused(EXPIRED)
    link = await session.get(DashboardSignInLink, link_id)
    if (
        link is None
        or link.person_id != person_id
        or not hmac.compare_digest(link.nonce_hash, _hash(parts[3]))
    ):
        raise SignInRefused(INVALID)
    if now >= link.expires_at:
        raise SignInRefused(EXPIRED)
    claimed = await session.execute(
        update(DashboardSignInLink)
        .where(DashboardSignInLink.id == link_id, DashboardSignInLink.used_at.is_(None))
        .values(used_at=now)
        .execution_options(synchronize_session=False)
    )
    if getattr(claimed, "rowcount", 0) != 1:
        raise SignInRefused(USED)
    cookie = secrets.token_urlsafe(32)
    row = DashboardSession(
        token_hash=_hash(cookie),
        csrf_token=secrets.token_urlsafe(32),
        person_id=person_id,
        cohort_id=link.cohort_id,
        link_id=link.id,
        created_at=now,
        expires_at=now + SESSION_LIFETIME,
    )
    session.add(row)
    await session.flush()
    await audit.record_of(
        session,
        await session.get(Person, person_id),
        "dashboard_sign_in",
        row,
        subject_person_id=person_id,
        at=now,
    )
    return SignedIn(cookie, row)


async def session_for(
    session: AsyncSession, cookie: str | None, now: datetime
) -> DashboardSession | None:
    """The live session behind a cookie (None: unknown, expired or revoked)."""
    if not cookie:
        return None
    row = (
        await session.execute(
            select(DashboardSession).where(DashboardSession.token_hash == _hash(cookie))
        )
    ).scalar_one_or_none()
    if row is None or row.revoked_at is not None or now >= row.expires_at:
        return None
    return row


def csrf_ok(row: DashboardSession, submitted: str | None) -> bool:
    return bool(submitted) and hmac.compare_digest(row.csrf_token, str(submitted))


async def revoke(session: AsyncSession, session_id: int, now: datetime) -> None:
    await session.execute(
        update(DashboardSession)
        .where(DashboardSession.id == session_id, DashboardSession.revoked_at.is_(None))
        .values(revoked_at=now)
        .execution_options(synchronize_session=False)
    )


async def revoke_everywhere(session: AsyncSession, person_id: int, now: datetime) -> int:
    """Sign a person out of every browser; audited. Returns how many sessions ended."""
    result = await session.execute(
        update(DashboardSession)
        .where(DashboardSession.person_id == person_id, DashboardSession.revoked_at.is_(None))
        .values(revoked_at=now)
        .execution_options(synchronize_session=False)
    )
    ended = int(getattr(result, "rowcount", 0) or 0)
    await audit.record(
        session,
        actor=await session.get(Person, person_id),
        action="dashboard_sign_out_everywhere",
        entity_type=audit.ENTITY_TYPES[DashboardSession],
        entity_id=None,
        subject_person_id=person_id,
        after={"sessions_ended": ended},
        at=now,
    )
    return ended
