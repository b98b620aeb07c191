"""ledger cell totals kept by the database

Every row appended to ``ledger_entries`` adds its points to ``ledger_cells`` (one row per
module, student, participation component and item) in the same transaction, through an AFTER
INSERT trigger on SQLite and PostgreSQL alike. Exports of large modules read these cells
instead of every credit; the ledger stays the source of truth (a test checks the cells always
equal the ledger's sums, and reconciliation re-derives them).

The component of a source follows bot.gradebook.marks.LEDGER_SOURCE_COMPONENT; adjustments name
theirs in ``item_type`` ("adj:<component>"). Points are kept exactly, in thousandths.

Revision ID: 0003
Revises: 0002
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

COMPONENT = """CASE {row}.source
    WHEN 'discussion_post' THEN 'discussion'
    WHEN 'discussion_reply' THEN 'discussion'
    WHEN 'quality_points' THEN 'discussion'
    WHEN 'peer_review_completed' THEN 'peer_review'
    WHEN 'peer_score_received' THEN 'peer_score'
    WHEN 'tutorial_attendance' THEN 'attendance'
    WHEN 'adjustment' THEN substr({row}.item_type, 5)
    ELSE {row}.source END"""

SQLITE_TRIGGER = f"""
CREATE TRIGGER ledger_entries_cells AFTER INSERT ON ledger_entries
BEGIN
    INSERT INTO ledger_cells
        (module_id, person_id, component, item_type, item_id, points_milli, entries)
    VALUES (
        NEW.module_id, NEW.person_id, {COMPONENT.format(row="NEW")}, NEW.item_type,
        NEW.item_id, CAST(ROUND(NEW.points * 1000) AS INTEGER), 1
    )
    ON CONFLICT (module_id, person_id, component, item_type, item_id) DO UPDATE SET
        points_milli = points_milli + excluded.points_milli,
        entries = entries + 1;
END
"""

POSTGRES_FUNCTION = f"""
CREATE FUNCTION cohortbot_ledger_cells() RETURNS trigger AS $$
BEGIN
    INSERT INTO ledger_cells
        (module_id, person_id, component, item_type, item_id, points_milli, entries)
    VALUES (
        NEW.module_id, NEW.person_id, {COMPONENT.format(row="NEW")}, NEW.item_type,
        NEW.item_id, ROUND(NEW.points * 1000)::bigint, 1
    )
    ON CONFLICT (module_id, person_id, component, item_type, item_id) DO UPDATE SET
        points_milli = ledger_cells.points_milli + EXCLUDED.points_milli,
        entries = ledger_cells.entries + 1;
    RETURN NULL;
END;
$$ LANGUAGE plpgsql
"""

BACKFILL = f"""
INSERT INTO ledger_cells
    (module_id, person_id, component, item_type, item_id, points_milli, entries)
SELECT module_id, person_id, {COMPONENT.format(row="e")}, item_type, item_id,
       SUM({{milli}}), COUNT(*)
FROM ledger_entries AS e
GROUP BY module_id, person_id, {COMPONENT.format(row="e")}, item_type, item_id
"""


def upgrade() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "postgresql":
        op.execute(BACKFILL.format(milli="ROUND(e.points * 1000)::bigint"))
        op.execute(POSTGRES_FUNCTION)
        op.execute(
            "CREATE TRIGGER ledger_entries_cells AFTER INSERT ON ledger_entries "
            "FOR EACH ROW EXECUTE FUNCTION cohortbot_ledger_cells()"
        )
    elif dialect == "sqlite":
        op.execute(BACKFILL.format(milli="CAST(ROUND(e.points * 1000) AS INTEGER)"))
        op.execute(SQLITE_TRIGGER)


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS ledger_entries_cells ON ledger_entries")
        op.execute("DROP FUNCTION IF EXISTS cohortbot_ledger_cells()")
    elif dialect == "sqlite":
        op.execute("DROP TRIGGER IF EXISTS ledger_entries_cells")
    op.execute("DELETE FROM ledger_cells")
