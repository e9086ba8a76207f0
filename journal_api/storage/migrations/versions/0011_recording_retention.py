"""Retention of stored recordings (issue 4): ``recordings.purged_at``, when the retention job deleted the audio.

The row stays (the call, its request and the answer-time report keep their facts; the API and the console say the
recording was deleted by its retention period). The partial index finds the recordings still to purge among all.

Revision ID: 0011
Revises: 0010

"""
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: Union[str, Sequence[str], None] = "0010"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

KEPT = "purged_at IS NULL"


def upgrade() -> None:
    with op.batch_alter_table("recordings") as batch:
        batch.add_column(sa.Column("purged_at", sa.DateTime(timezone=True), nullable=True))
    op.create_index("ix_recordings_kept_created", "recordings", ["created_at", "id"],
                    postgresql_where=sa.text(KEPT), sqlite_where=sa.text(KEPT))


def downgrade() -> None:
    op.drop_index("ix_recordings_kept_created", table_name="recordings")
    with op.batch_alter_table("recordings") as batch:
        batch.drop_column("purged_at")
