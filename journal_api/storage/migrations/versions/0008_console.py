"""Console sign-in and the links of the technician's and resident's pages (issue 7: the console).

Revision ID: 0008
Revises: 0007

"""
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: Union[str, Sequence[str], None] = "0007"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


OPEN = sa.text("status IN ('accepted', 'assigned', 'impossible', 'new', 'postponed')")


def _org():
    return sa.Column("org_id", sa.Integer(), nullable=False)


def upgrade() -> None:
    op.create_table(
        "console_users",
        sa.Column("id", sa.Integer(), nullable=False), _org(),
        sa.Column("staff_id", sa.Integer(), nullable=False),
        sa.Column("login", sa.String(length=64), nullable=False),
        sa.Column("password_hash", sa.String(length=200), nullable=False),
        sa.Column("session_epoch", sa.Integer(), server_default="1", nullable=False),
        sa.Column("failed_logins", sa.Integer(), server_default="0", nullable=False),
        sa.Column("locked_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["org_id"], ["organisations.id"], name=op.f("fk_console_users_org_id_organisations"),
                                ondelete="RESTRICT"),
        sa.ForeignKeyConstraint(["staff_id"], ["staff.id"], name=op.f("fk_console_users_staff_id_staff"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_console_users")),
        sa.UniqueConstraint("org_id", "login", name="uq_console_users_org_login"),
        sa.UniqueConstraint("staff_id", name=op.f("uq_console_users_staff_id")),
    )
    op.create_table(
        "console_links",
        sa.Column("id", sa.Integer(), nullable=False), _org(),
        sa.Column("request_id", sa.Integer(), nullable=False),
        sa.Column("audience", sa.String(length=16), nullable=False),
        sa.Column("subject_id", sa.Integer(), nullable=True),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["org_id"], ["organisations.id"], name=op.f("fk_console_links_org_id_organisations"),
                                ondelete="RESTRICT"),
        sa.ForeignKeyConstraint(["request_id"], ["requests.id"], name=op.f("fk_console_links_request_id_requests")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_console_links")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_console_links_token_hash")),
    )
    op.create_index("ix_console_links_request", "console_links", ["request_id", "audience"], unique=False)
    op.create_index("ix_requests_org_open_monitor", "requests", ["org_id"], unique=False,
                    postgresql_include=["work_type", "reason", "assignee_id", "building_id", "status", "due_at"],
                    postgresql_where=OPEN, sqlite_where=OPEN)
    op.create_table(
        "console_analytics_days",
        sa.Column("org_id", sa.Integer(), nullable=False),
        sa.Column("span", sa.String(length=8), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("computed_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["org_id"], ["organisations.id"],
                                name=op.f("fk_console_analytics_days_org_id_organisations"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("org_id", "span", "day", name=op.f("pk_console_analytics_days")),
    )


def downgrade() -> None:
    op.drop_table("console_analytics_days")
    op.drop_index("ix_requests_org_open_monitor", table_name="requests")
    op.drop_index("ix_console_links_request", table_name="console_links")
    op.drop_table("console_links")
    op.drop_table("console_users")
