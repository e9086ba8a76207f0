"""SMS messages, inbound commands, opt-outs and reminder wake-ups (issue 6: notifications).

Revision ID: 0007
Revises: 0006

"""
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: Union[str, Sequence[str], None] = "0006"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

_BIGID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_TS = sa.DateTime(timezone=True)


def _org_fk(table: str):
    return sa.ForeignKeyConstraint(["org_id"], ["organisations.id"], name=op.f(f"fk_{table}_org_id_organisations"),
                                   ondelete="RESTRICT")


def _request_fk(table: str):
    return sa.ForeignKeyConstraint(["request_id"], ["requests.id"], name=op.f(f"fk_{table}_request_id_requests"))


def upgrade() -> None:
    op.create_table(
        "messages",
        sa.Column("id", _BIGID, nullable=False),
        sa.Column("org_id", sa.Integer(), nullable=False),
        sa.Column("request_id", sa.Integer(), nullable=True),
        sa.Column("recipient", sa.String(length=20), nullable=False),
        sa.Column("audience", sa.String(length=16), nullable=False),
        sa.Column("staff_id", sa.Integer(), nullable=True),
        sa.Column("template", sa.String(length=60), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("segments", sa.Integer(), nullable=False),
        sa.Column("encoding", sa.String(length=8), nullable=False),
        sa.Column("provider", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("attempts", sa.Integer(), server_default="0", nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("dedupe_key", sa.String(length=200), nullable=False),
        sa.Column("provider_message_id", sa.String(length=80), nullable=True),
        sa.Column("next_attempt_at", _TS, nullable=True),
        sa.Column("claimed_at", _TS, nullable=True),
        sa.Column("created_at", _TS, nullable=False),
        sa.Column("sent_at", _TS, nullable=True),
        sa.Column("delivered_at", _TS, nullable=True),
        sa.Column("failed_at", _TS, nullable=True),
        _org_fk("messages"), _request_fk("messages"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_messages")),
        sa.UniqueConstraint("org_id", "dedupe_key", name="uq_messages_org_dedupe"),
    )
    op.create_index("ix_messages_org_request", "messages", ["org_id", "request_id", "id"])
    op.create_index("ix_messages_status_next", "messages", ["status", "next_attempt_at"])
    op.create_index("ix_messages_provider_id", "messages", ["provider", "provider_message_id"])
    op.create_table(
        "inbound_messages",
        sa.Column("id", _BIGID, nullable=False),
        sa.Column("org_id", sa.Integer(), nullable=True),
        sa.Column("provider", sa.String(length=16), nullable=False),
        sa.Column("provider_message_id", sa.String(length=80), nullable=False),
        sa.Column("sender", sa.String(length=32), nullable=False),
        sa.Column("recipient", sa.String(length=32), nullable=True),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("received_at", _TS, nullable=False),
        sa.Column("sender_kind", sa.String(length=12), nullable=False),
        sa.Column("sender_id", sa.Integer(), nullable=True),
        sa.Column("request_id", sa.Integer(), nullable=True),
        sa.Column("command", sa.String(length=24), nullable=True),
        sa.Column("outcome", sa.String(length=24), nullable=False),
        sa.Column("detail", sa.Text(), nullable=True),
        sa.Column("reply_message_id", sa.BigInteger(), nullable=True),
        _org_fk("inbound_messages"), _request_fk("inbound_messages"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_inbound_messages")),
        sa.UniqueConstraint("provider", "provider_message_id", name="uq_inbound_messages_provider_id"),
    )
    op.create_index("ix_inbound_messages_org_request", "inbound_messages", ["org_id", "request_id", "id"])
    op.create_table(
        "sms_opt_outs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("org_id", sa.Integer(), nullable=False),
        sa.Column("phone", sa.String(length=20), nullable=False),
        sa.Column("created_at", _TS, nullable=False),
        _org_fk("sms_opt_outs"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sms_opt_outs")),
        sa.UniqueConstraint("org_id", "phone", name="uq_sms_opt_outs_org_phone"),
    )
    op.create_table(
        "sms_wakeups",
        sa.Column("request_id", sa.Integer(), nullable=False),
        sa.Column("org_id", sa.Integer(), nullable=False),
        sa.Column("due_at", _TS, nullable=False),
        _org_fk("sms_wakeups"), _request_fk("sms_wakeups"),
        sa.PrimaryKeyConstraint("request_id", name=op.f("pk_sms_wakeups")),
    )
    op.create_index("ix_sms_wakeups_due", "sms_wakeups", ["due_at"])


def downgrade() -> None:
    op.drop_index("ix_sms_wakeups_due", table_name="sms_wakeups")
    op.drop_table("sms_wakeups")
    op.drop_table("sms_opt_outs")
    op.drop_index("ix_inbound_messages_org_request", table_name="inbound_messages")
    op.drop_table("inbound_messages")
    for name in ("ix_messages_provider_id", "ix_messages_status_next", "ix_messages_org_request"):
        op.drop_index(name, table_name="messages")
    op.drop_table("messages")
