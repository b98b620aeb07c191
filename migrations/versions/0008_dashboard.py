"""tutor dashboard: sign-in links, sessions, tutor messages, early-warning thresholds

Sign-in links and sessions keep only hashes of what the browser holds; sessions can be revoked
one by one or all at once. Tutor messages record what a tutor sent a student from the at-risk
list and whether it was delivered. ``early_warning_settings`` holds a cohort's thresholds
from its programme file.

Revision ID: 0008
Revises: 0004 (on the dashboard branch; re-pointed at the head when merged)
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import bot.db.types

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _when(name: str, nullable: bool = False) -> sa.Column:  # type: ignore[type-arg]
    return sa.Column(name, bot.db.types.UTCDateTime(), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "dashboard_secrets",
        sa.Column("name", sa.String(length=32), nullable=False),
        sa.Column("value", sa.String(length=128), nullable=False),
        _when("created_at"),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_dashboard_secrets")),
    )
    op.create_table(
        "dashboard_sign_in_links",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("nonce_hash", sa.String(length=64), nullable=False),
        sa.Column("person_id", sa.Integer(), nullable=False),
        sa.Column("cohort_id", sa.Integer(), nullable=False),
        _when("created_at"),
        _when("expires_at"),
        _when("used_at", True),
        sa.ForeignKeyConstraint(
            ["cohort_id"],
            ["cohorts.id"],
            name=op.f("fk_dashboard_sign_in_links_cohort_id_cohorts"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["person_id"],
            ["persons.id"],
            name=op.f("fk_dashboard_sign_in_links_person_id_persons"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dashboard_sign_in_links")),
        sa.UniqueConstraint("nonce_hash", name=op.f("uq_dashboard_sign_in_links_nonce_hash")),
    )
    op.create_table(
        "dashboard_sessions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("csrf_token", sa.String(length=64), nullable=False),
        sa.Column("person_id", sa.Integer(), nullable=False),
        sa.Column("cohort_id", sa.Integer(), nullable=False),
        sa.Column("link_id", sa.Integer(), nullable=True),
        _when("created_at"),
        _when("expires_at"),
        _when("revoked_at", True),
        sa.ForeignKeyConstraint(
            ["cohort_id"],
            ["cohorts.id"],
            name=op.f("fk_dashboard_sessions_cohort_id_cohorts"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["link_id"],
            ["dashboard_sign_in_links.id"],
            name=op.f("fk_dashboard_sessions_link_id_dashboard_sign_in_links"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["person_id"],
            ["persons.id"],
            name=op.f("fk_dashboard_sessions_person_id_persons"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dashboard_sessions")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_dashboard_sessions_token_hash")),
    )
    op.create_index(
        "ix_dashboard_sessions_person", "dashboard_sessions", ["person_id", "revoked_at"]
    )
    op.create_table(
        "tutor_messages",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("module_id", sa.Integer(), nullable=False),
        sa.Column("sender_id", sa.Integer(), nullable=True),
        sa.Column("recipient_id", sa.Integer(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        _when("created_at"),
        _when("sent_at", True),
        sa.Column("platform_message_id", sa.String(length=32), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["module_id"],
            ["modules.id"],
            name=op.f("fk_tutor_messages_module_id_modules"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["recipient_id"], ["persons.id"], name=op.f("fk_tutor_messages_recipient_id_persons")
        ),
        sa.ForeignKeyConstraint(
            ["sender_id"], ["persons.id"], name=op.f("fk_tutor_messages_sender_id_persons")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tutor_messages")),
    )
    op.create_index(
        "ix_tutor_messages_recipient", "tutor_messages", ["recipient_id", "module_id"]
    )
    op.create_table(
        "early_warning_settings",
        sa.Column("cohort_id", sa.Integer(), nullable=False),
        sa.Column("thresholds", sa.JSON(), nullable=False),
        _when("updated_at"),
        sa.ForeignKeyConstraint(
            ["cohort_id"],
            ["cohorts.id"],
            name=op.f("fk_early_warning_settings_cohort_id_cohorts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("cohort_id", name=op.f("pk_early_warning_settings")),
    )


def downgrade() -> None:
    op.drop_table("early_warning_settings")
    op.drop_index("ix_tutor_messages_recipient", table_name="tutor_messages")
    op.drop_table("tutor_messages")
    op.drop_index("ix_dashboard_sessions_person", table_name="dashboard_sessions")
    op.drop_table("dashboard_sessions")
    op.drop_table("dashboard_sign_in_links")
    op.drop_table("dashboard_secrets")
