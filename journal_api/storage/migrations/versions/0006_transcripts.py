"""Transcripts and extracted facts (issue 5: transcription).

Revision ID: 0006
Revises: 0005

"""
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: Union[str, Sequence[str], None] = "0005"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def _fk(column, target):
    return sa.ForeignKeyConstraint([column], [f"{target}.id"], name=op.f(f"fk_transcripts_{column}_{target}"),
                                   **({"ondelete": "RESTRICT"} if target == "organisations" else {}))


def upgrade() -> None:
    op.create_table(
        "transcripts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("org_id", sa.Integer(), nullable=False),
        sa.Column("recording_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("call_id", sa.Integer(), nullable=True),
        sa.Column("request_id", sa.Integer(), nullable=True),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("engine", sa.String(length=16), nullable=True),
        sa.Column("model", sa.String(length=100), nullable=True),
        sa.Column("language", sa.String(length=8), nullable=True),
        sa.Column("text", sa.Text(), nullable=True),
        sa.Column("words", sa.JSON(), nullable=True),
        sa.Column("facts", sa.JSON(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("attempts", sa.Integer(), server_default="0", nullable=False),
        sa.Column("source_path", sa.String(length=500), nullable=True),
        sa.Column("duration_s", sa.Float(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        _fk("org_id", "organisations"),
        _fk("recording_id", "recordings"),
        _fk("call_id", "calls"),
        _fk("request_id", "requests"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_transcripts")),
        sa.UniqueConstraint("call_id", "kind", name="uq_transcripts_call_kind"),
    )
    op.create_index("ix_transcripts_org_status", "transcripts", ["org_id", "status", "updated_at"])
    op.create_index("ix_transcripts_request", "transcripts", ["request_id"])
    op.create_index("ix_transcripts_recording", "transcripts", ["recording_id"])


def downgrade() -> None:
    op.drop_table("transcripts")
