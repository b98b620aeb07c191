"""The dashboard's part of the personal-data export and of an erasure."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select

from bot.access.permissions import Caller
from bot.dashboard import privacy as dashboard_privacy
from bot.dashboard import signin
from bot.db.engine import Database
from bot.db.models import DashboardSession, DashboardSignInLink, Role, TutorMessage
from bot.gradebook import privacy
from cohortlab.sample import SampleCohort, sample_cohort

NOW = datetime(2026, 3, 9, 9, 0, tzinfo=UTC)


async def signed_in(db: Database, person_id: int, cohort_id: int) -> str:
    """Sign a person in once; returns the cookie (a credential the export must not show)."""
    async with db.session() as s:
        key = await signin.signing_key(s, None)
        url, _ = await signin.create_link(
            s, key, person_id=person_id, cohort_id=cohort_id, now=NOW, public_url="http://x/"
        )
        signed = await signin.consume_link(s, key, url.split("token=", 1)[1], NOW)
        return signed.cookie


async def setting(db: Database) -> SampleCohort:
    async with db.session() as s:
        c = await sample_cohort(s, students=3)
        s.add_all(
            [
                TutorMessage(
                    module_id=c.module.id,
                    sender_id=c.tutor.id,
                    recipient_id=c.students[0].id,
                    text="How are you getting on?",
                    created_at=NOW,
                    sent_at=NOW,
                    platform_message_id="77",
                ),
                TutorMessage(
                    module_id=c.module.id,
                    sender_id=c.tutor.id,
                    recipient_id=c.students[0].id,
                    text="Come to the tutorial on Friday.",
                    created_at=NOW + timedelta(minutes=5),
                ),
                TutorMessage(
                    module_id=c.module.id,
                    sender_id=c.tutor.id,
                    recipient_id=c.students[1].id,
                    text="A note for someone else.",
                    created_at=NOW,
                    sent_at=NOW,
                ),
            ]
        )
    return c


async def test_the_export_shows_sign_in_times_and_tutor_messages_but_no_credentials(
    db: Database,
) -> None:
    c = await setting(db)
    me = c.students[0]
    cookie = await signed_in(db, me.id, c.cohort_id)
    async with db.session() as s:
        row = (
            await s.execute(select(DashboardSession).where(DashboardSession.person_id == me.id))
        ).scalar_one()
        csrf, token_hash = row.csrf_token, row.token_hash
        link_hash = (await s.execute(select(DashboardSignInLink.nonce_hash))).scalar_one()
        student = Caller(person=me, cohort_id=c.cohort_id, roles={c.module.id: Role.STUDENT})
        file = await privacy.export_personal_data(s, student, NOW)
    text = file.data.decode()
    for secret in (cookie, csrf, token_hash, link_hash):
        assert secret not in text
    mine = json.loads(file.data)["dashboard"]
    assert mine["sessions"] == [
        {
            "signed_in_at": NOW.isoformat(),
            "expires_at": (NOW + signin.SESSION_LIFETIME).isoformat(),
            "revoked_at": None,
        }
    ]
    assert [link["used_at"] for link in mine["sign_in_links"]] == [NOW.isoformat()]
    assert [(m["from"], m["text"], m["delivered"]) for m in mine["tutor_messages_received"]] == [
        ("Dr Tutor", "How are you getting on?", True),
        ("Dr Tutor", "Come to the tutorial on Friday.", False),
    ]
    assert "A note for someone else." not in text and mine["tutor_messages_sent"] == []
    async with db.session() as s:
        sent = (await dashboard_privacy.personal_data(s, c.tutor.id))["tutor_messages_sent"]
    assert ("M1", "A note for someone else.") in {(m["module"], m["text"]) for m in sent}
    assert all(c.students[0].display_name not in json.dumps(m) for m in sent)


async def test_erasure_ends_sign_ins_and_cancels_undelivered_tutor_messages(
    db: Database,
) -> None:
    c = await setting(db)
    me = c.students[0]
    cookie = await signed_in(db, me.id, c.cohort_id)
    admin = Caller(person=c.admin, cohort_id=c.cohort_id, roles={c.module.id: Role.ADMIN})
    async with db.session() as s:
        await privacy.confirm_erasure(s, admin, me.student_number or "", "asked", NOW)
    async with db.session() as s:
        assert await signin.session_for(s, cookie, NOW + timedelta(minutes=1)) is None
        for table in (DashboardSession, DashboardSignInLink):
            count = select(func.count()).select_from(table).where(table.person_id == me.id)
            assert (await s.execute(count)).scalar_one() == 0
        kept = (
            await s.execute(
                select(TutorMessage.text, TutorMessage.sent_at, TutorMessage.error)
                .where(TutorMessage.recipient_id == me.id)
                .order_by(TutorMessage.id)
            )
        ).all()
        other = (
            await s.execute(
                select(TutorMessage.error).where(TutorMessage.recipient_id == c.students[1].id)
            )
        ).scalar_one()
    assert [tuple(k) for k in kept] == [
        ("How are you getting on?", NOW, None),
        ("Come to the tutorial on Friday.", None, dashboard_privacy.ERASED),
    ]
    assert other is None
