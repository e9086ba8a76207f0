"""``requests.done_at``: the moment the work was done (status 'done'), which "resolved on time" is measured by.

Before this revision the analytics and the printed journal measured resolution by ``closed_at`` (the dispatcher's
paperwork, often the next morning) or, for a done request, by ``updated_at`` (moved by a rating, a photo, a message).

The column is filled from the history: the latest status entry whose new value is 'done', for each request that is
done or closed now. A request without such an entry keeps NULL (the analytics then fall back to the closing time).
``console_analytics_days`` is a cache of figures computed the old way: its rows are deleted, and the next view (or
``hotline analytics warm``) computes them again.

Revision ID: 0016
Revises: 0015

"""
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

revision: str = "0016"
down_revision: Union[str, Sequence[str], None] = "0015"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

# Portable (PostgreSQL and SQLite): one index range scan of ix_request_events_request per finished request.
BACKFILL = """
UPDATE requests SET done_at = (
    SELECT e.at FROM request_events e
    WHERE e.request_id = requests.id AND e.kind = 'status' AND e.field = 'status' AND e.new_value = 'done'
    ORDER BY e.at DESC, e.id DESC LIMIT 1)
WHERE status IN ('done', 'closed')
"""


def backfill_done_at(conn) -> None:
    """Set ``done_at`` of the done and closed requests from their history (NULL where the history has none)."""
    conn.execute(sa.text(BACKFILL))


def upgrade() -> None:
    with op.batch_alter_table("requests") as batch:
        batch.add_column(sa.Column("done_at", sa.DateTime(timezone=True), nullable=True))
    backfill_done_at(op.get_bind())
    op.execute("DELETE FROM console_analytics_days")


def downgrade() -> None:
    op.drop_column("requests", "done_at")  # SQLite >= 3.35 drops a column in place (no table rebuild)
    op.execute("DELETE FROM console_analytics_days")
