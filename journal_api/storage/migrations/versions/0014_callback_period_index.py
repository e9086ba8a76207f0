"""A partial index of the calls that needed a callback, by arrival (the analytics' ПП 416 callback figures, issue 7).

The analytics count, for a period, the calls with a callback task and whether each was called back within its 10
minutes (now kept per day by journal_api/service/console_analytics.py, 0015). Such calls are a few in a hundred, but without this index the
period's every call was read: ~15 ms for a year at 35,000 calls, so ~300 ms at 700,000 (bench/console.py).

Revision ID: 0014
Revises: 0011

"""
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

revision: str = "0014"
down_revision: Union[str, Sequence[str], None] = "0011"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

NEEDED = "callback_reason IS NOT NULL"


def upgrade() -> None:
    op.create_index("ix_calls_callback_arrived", "calls", ["org_id", "arrived_at"],
                    postgresql_where=sa.text(NEEDED), sqlite_where=sa.text(NEEDED))


def downgrade() -> None:
    op.drop_index("ix_calls_callback_arrived", table_name="calls")
