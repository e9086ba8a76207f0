"""Deadline rules, assignment and escalation (issue 3): per-organisation rule and ladder overrides, the escalation
log, the request's assignment/acceptance/localisation times and attention flag, the staff rotation time.

Revision ID: 0004
Revises: 0003

"""
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: Union[str, Sequence[str], None] = "0003"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

def upgrade() -> None:
    with op.batch_alter_table("organisations") as batch:
        batch.add_column(sa.Column("settings", sa.JSON(), nullable=True))
    with op.batch_alter_table("staff") as batch:
        batch.add_column(sa.Column("last_assigned_at", sa.DateTime(timezone=True), nullable=True))
    with op.batch_alter_table("requests") as batch:
        batch.add_column(sa.Column("assigned_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("accepted_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("localised_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("attention", sa.String(length=64), nullable=True))
    for name, keycol, keylen in (("deadline_rule_overrides", "key", 80), ("escalation_overrides", "track", 40)):
        op.create_table(
            name,
            sa.Column("id", sa.Integer(), nullable=False),
            sa.Column("org_id", sa.Integer(), nullable=False),
            sa.Column(keycol, sa.String(length=keylen), nullable=False),
            sa.Column("body", sa.JSON(), nullable=False),
            sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
            sa.ForeignKeyConstraint(["org_id"], ["organisations.id"], name=op.f(f"fk_{name}_org_id_organisations"),
                                    ondelete="RESTRICT"),
            sa.PrimaryKeyConstraint("id", name=op.f(f"pk_{name}")),
            sa.UniqueConstraint("org_id", keycol, name=f"uq_{name}_org_{keycol}"),
        )
    op.create_table(
        "escalation_log",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("org_id", sa.Integer(), nullable=False),
        sa.Column("request_id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("emitted_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["org_id"], ["organisations.id"], name=op.f("fk_escalation_log_org_id_organisations"),
                                ondelete="RESTRICT"),
        sa.ForeignKeyConstraint(["request_id"], ["requests.id"], name=op.f("fk_escalation_log_request_id_requests")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_escalation_log")),
        sa.UniqueConstraint("request_id", "key", name="uq_escalation_log_request_key"),
    )


def downgrade() -> None:
    op.drop_table("escalation_log")
    op.drop_table("escalation_overrides")
    op.drop_table("deadline_rule_overrides")
    with op.batch_alter_table("requests") as batch:
        for col in ("attention", "localised_at", "accepted_at", "assigned_at"):
            batch.drop_column(col)
    with op.batch_alter_table("staff") as batch:
        batch.drop_column("last_assigned_at")
    with op.batch_alter_table("organisations") as batch:
        batch.drop_column("settings")
