"""Known incidents and the state of Twilio Voice calls (issue 8).

Revision ID: 0009
Revises: 0008

"""
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: Union[str, Sequence[str], None] = "0008"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def _org(table: str):
    return sa.ForeignKeyConstraint(["org_id"], ["organisations.id"], name=op.f(f"fk_{table}_org_id_organisations"),
                                   ondelete="RESTRICT")


def upgrade() -> None:
    op.create_table(
        "incidents",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("org_id", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("work_type", sa.String(length=40), nullable=False),
        sa.Column("scope", sa.String(length=16), nullable=False),
        sa.Column("scope_key", sa.String(length=300), nullable=False),
        sa.Column("building_ids", sa.JSON(), nullable=False),
        sa.Column("title", sa.String(length=300), nullable=False),
        sa.Column("public_note", sa.Text(), nullable=True),
        sa.Column("eta", sa.DateTime(timezone=True), nullable=True),
        sa.Column("auto", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("requests_count", sa.Integer(), server_default="0", nullable=False),
        sa.Column("first_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("opened_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("opened_by", sa.String(length=200), nullable=True),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("closed_by", sa.String(length=200), nullable=True),
        sa.Column("close_note", sa.Text(), nullable=True),
        _org("incidents"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_incidents")),
    )
    op.create_index("ix_incidents_org_status", "incidents", ["org_id", "status", "work_type"], unique=False)
    op.create_table(
        "incident_requests",
        sa.Column("incident_id", sa.Integer(), nullable=False),
        sa.Column("request_id", sa.Integer(), nullable=False),
        sa.Column("org_id", sa.Integer(), nullable=False),
        sa.Column("added_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["incident_id"], ["incidents.id"],
                                name=op.f("fk_incident_requests_incident_id_incidents"), ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["request_id"], ["requests.id"],
                                name=op.f("fk_incident_requests_request_id_requests")),
        _org("incident_requests"),
        sa.PrimaryKeyConstraint("incident_id", "request_id", name=op.f("pk_incident_requests")),
        sa.UniqueConstraint("request_id", name="uq_incident_requests_request_id"),
    )
    op.create_table(
        "twilio_calls",
        sa.Column("call_sid", sa.String(length=64), nullable=False),
        sa.Column("org_id", sa.Integer(), nullable=False),
        sa.Column("call_id", sa.Integer(), nullable=False),
        sa.Column("state", sa.JSON(), nullable=False),
        sa.Column("ended", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        _org("twilio_calls"),
        sa.PrimaryKeyConstraint("call_sid", name=op.f("pk_twilio_calls")),
    )


def downgrade() -> None:
    op.drop_table("twilio_calls")
    op.drop_table("incident_requests")
    op.drop_index("ix_incidents_org_status", table_name="incidents")
    op.drop_table("incidents")
