"""Migration 0006: 'superseded' extensions, with the data fix and its way back."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from alembic.script import ScriptDirectory
from sqlalchemy import TextClause, bindparam, text
from sqlalchemy.exc import IntegrityError

from bot.db.engine import Database
from bot.db.migrate import alembic_config, downgrade, upgrade
from bot.db.types import UTCDateTime

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
BEFORE = "0006"


async def _down_revision() -> str:
    """Whatever 0006 follows (0005 once the outbox revision is in)."""
    script = ScriptDirectory.from_config(alembic_config()).get_revision(BEFORE)
    assert script is not None and isinstance(script.down_revision, str)
    return script.down_revision


def _sql(statement: str, times: tuple[str, ...]) -> TextClause:
    """Times bound as the models bind them (naive UTC text on SQLite, timestamptz on PG)."""
    return text(statement).bindparams(*(bindparam(name, type_=UTCDateTime()) for name in times))


async def _seed(db: Database) -> None:
    """Two people, a prompt, an exercise and a deadline, with the extensions old code left."""
    now = T0
    rows = [
        "INSERT INTO cohorts (id, code, name, platform, timezone, created_at) "
        "VALUES (1, 'C', 'C', 'discord', 'UTC', :t)",
        "INSERT INTO modules (id, cohort_id, code, title, year, term, ects, designation, "
        "pass_fail, in_weighted_average) VALUES (1, 1, 'M', 'M', 1, 'T', 5, 'core', false, true)",
        "INSERT INTO persons (id, display_name, dm_reminders, created_at) "
        "VALUES (1, 'Ada', true, :t)",
        "INSERT INTO persons (id, display_name, dm_reminders, created_at) "
        "VALUES (2, 'Bo', true, :t)",
        "INSERT INTO discussion_prompts (id, module_id, title, body, opens_at, closes_at, rubric,"
        " private_answers, status, created_at) VALUES (1, 1, 'P', 'b', :t, :t1, '{}', false,"
        " 'open', :t)",
        "INSERT INTO peer_exercises (id, module_id, title, brief, submission_due_at,"
        " review_due_at, reviews_per_submission, rubric, double_blind,"
        " reviewers_from_submitters_only, avoid_same_group, avoid_repeat_pairs, late_policy,"
        " aggregation, seed, status, created_at, reminder_hours, agreement_weighting,"
        " allocation_notes) VALUES (1, 1, 'E', 'b', :t1, :t2, 3, '{}', true, true, false, true,"
        " '{}', 'median', 0, 'open', :t, 24, false, '[]')",
        "INSERT INTO calendar_events (id, module_id, kind, title, starts_at, recurrence,"
        " timezone, notice_offsets, created_at) VALUES (1, 1, 'submission_deadline', 'D', :t1,"
        " 'none', 'UTC', '[]', :t)",
    ]
    params = {"t": now, "t1": now + timedelta(days=1), "t2": now + timedelta(days=3)}
    ext = (
        "INSERT INTO extensions (id, person_id, event_id, prompt_id, exercise_id, new_due_at,"
        " reason_ref, status, requested_at, decided_at) VALUES"
    )
    # (id, person, event, prompt, exercise, status, decided offset in hours)
    grants = [
        # Ada on the prompt: granted twice (the first "denied" by the old code), then again.
        (1, 1, None, 1, None, "denied", 1),
        (2, 1, None, 1, None, "denied", 2),
        (3, 1, None, 1, None, "approved", 3),
        # Bo on the prompt: one grant, nothing replaced it.
        (4, 2, None, 1, None, "approved", 1),
        # Ada on the deadline: a request denied, then two approvals (the later one applies).
        (5, 1, 1, None, None, "denied", 1),
        (6, 1, 1, None, None, "approved", 5),
        (7, 1, 1, None, None, "approved", 4),
        # Bo on the deadline: a pending request stays pending.
        (8, 2, 1, None, None, "requested", None),
        # Ada on the exercise: two approved, equal times: the higher id applies.
        (9, 1, None, None, 1, "approved", 2),
        (10, 1, None, None, 1, "approved", 2),
    ]
    async with db.engine.begin() as conn:
        for sql in rows:
            names = tuple(n for n in params if f":{n}," in sql or f":{n})" in sql)
            await conn.execute(_sql(sql, names), {n: params[n] for n in names})
        for gid, person, event, prompt, exercise, status, hours in grants:
            await conn.execute(
                _sql(
                    ext + " (:id, :person, :event, :prompt, :exercise, :due, 'r', :status, :t,"
                    " :decided)",
                    ("due", "t", "decided"),
                ),
                {
                    "id": gid,
                    "person": person,
                    "event": event,
                    "prompt": prompt,
                    "exercise": exercise,
                    "due": now + timedelta(days=4),
                    "status": status,
                    "t": now,
                    "decided": None if hours is None else now + timedelta(hours=hours),
                },
            )


async def _statuses(db: Database) -> dict[int, str]:
    async with db.engine.connect() as conn:
        rows = await conn.execute(text("SELECT id, status FROM extensions ORDER BY id"))
        return {int(i): str(s) for i, s in rows.all()}


async def test_superseded_data_fix_and_back(empty_db: Database) -> None:
    before = await _down_revision()
    await upgrade(empty_db, before)
    await _seed(empty_db)
    await upgrade(empty_db, BEFORE)
    assert await _statuses(empty_db) == {
        1: "superseded",
        2: "superseded",
        3: "approved",
        4: "approved",
        5: "denied",  # a real refusal stays a refusal
        6: "approved",
        7: "superseded",
        8: "requested",
        9: "superseded",
        10: "approved",
    }
    # The CHECK admits the new value, still refuses nonsense, and still wants one item.
    async with empty_db.engine.begin() as conn:
        await conn.execute(text("UPDATE extensions SET status = 'superseded' WHERE id = 4"))
    with pytest.raises(IntegrityError):
        async with empty_db.engine.begin() as conn:
            await conn.execute(text("UPDATE extensions SET status = 'withdrawn' WHERE id = 4"))
    with pytest.raises(IntegrityError):
        async with empty_db.engine.begin() as conn:
            await conn.execute(text("UPDATE extensions SET exercise_id = 1 WHERE id = 4"))

    await downgrade(empty_db, before)
    after = await _statuses(empty_db)
    assert after == {
        1: "denied",
        2: "denied",
        3: "approved",
        4: "denied",
        5: "denied",
        6: "approved",
        7: "denied",
        8: "requested",
        9: "denied",
        10: "approved",
    }
    with pytest.raises(IntegrityError):
        async with empty_db.engine.begin() as conn:
            await conn.execute(text("UPDATE extensions SET status = 'superseded' WHERE id = 4"))
