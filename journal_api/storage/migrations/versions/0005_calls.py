"""Calls and recordings (issue 4: the SIP hotline).

Revision ID: 0005
Revises: 0004

"""
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: Union[str, Sequence[str], None] = "0004"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def _fk(table, column, target):
    return sa.ForeignKeyConstraint([column], [f"{target}.id"], name=op.f(f"fk_{table}_{column}_{target}"),
                                   **({"ondelete": "RESTRICT"} if target == "organisations" else {}))


def upgrade() -> None:
    op.create_table(
        "calls",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("org_id", sa.Integer(), nullable=False),
        sa.Column("sip_call_id", sa.String(length=200), nullable=True),
        sa.Column("call_uuid", sa.String(length=64), nullable=True),
        sa.Column("direction", sa.String(length=10), nullable=False),
        sa.Column("from_number", sa.String(length=64), nullable=True),
        sa.Column("to_number", sa.String(length=64), nullable=True),
        sa.Column("arrived_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("answered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("hangup_cause", sa.String(length=64), nullable=True),
        sa.Column("ivr_path", sa.JSON(), nullable=True),
        sa.Column("digits", sa.JSON(), nullable=True),
        sa.Column("request_id", sa.Integer(), nullable=True),
        sa.Column("worker", sa.String(length=64), nullable=True),
        sa.Column("callback_reason", sa.String(length=32), nullable=True),
        sa.Column("callback_due_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("callback_done_at", sa.DateTime(timezone=True), nullable=True),
        _fk("calls", "org_id", "organisations"),
        _fk("calls", "request_id", "requests"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_calls")),
        sa.UniqueConstraint("call_uuid", name=op.f("uq_calls_call_uuid")),
    )
    op.create_index("ix_calls_org_arrived", "calls", ["org_id", "arrived_at", "id"])
    op.create_index("ix_calls_org_status", "calls", ["org_id", "status", "arrived_at"])
    op.create_index("ix_calls_org_from", "calls", ["org_id", "from_number"])
    op.create_index("ix_calls_sip_call_id", "calls", ["sip_call_id"])
    op.create_index("ix_calls_request", "calls", ["request_id"])
    op.create_index("ix_calls_org_callback", "calls", ["org_id", "callback_done_at", "callback_due_at"])
    op.create_table(
        "recordings",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("org_id", sa.Integer(), nullable=False),
        sa.Column("call_id", sa.Integer(), nullable=True),
        sa.Column("request_id", sa.Integer(), nullable=True),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("blob_key", sa.String(length=200), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("duration_s", sa.Float(), nullable=False),
        sa.Column("format", sa.String(length=32), nullable=False),
        sa.Column("sample_rate", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        _fk("recordings", "org_id", "organisations"),
        _fk("recordings", "call_id", "calls"),
        _fk("recordings", "request_id", "requests"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_recordings")),
    )
    op.create_index("ix_recordings_call", "recordings", ["call_id"])
    op.create_index("ix_recordings_request", "recordings", ["request_id"])


def downgrade() -> None:
    op.drop_table("recordings")
    op.drop_table("calls")
