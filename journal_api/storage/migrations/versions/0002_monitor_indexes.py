"""Monitor indexes measured at 1M requests (bench/journal.py)

- ix_requests_org_assignee without the status column, so "by assignee" is read in list order instead of sorting
  all of the technician's requests;
- ix_requests_org_open: the open requests in list order (partial);
- PostgreSQL: statistics st_requests_org_building, so a complex/city filter (a list of building ids) is estimated
  right and read in list order.

Revision ID: 0002
Revises: 0001

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


revision: str = '0002'
down_revision: Union[str, Sequence[str], None] = '0001'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

OPEN = sa.text("status IN ('accepted', 'assigned', 'impossible', 'new', 'postponed')")


def upgrade() -> None:
    op.drop_index('ix_requests_org_assignee', table_name='requests')
    op.create_index('ix_requests_org_assignee', 'requests', ['org_id', 'assignee_id', 'registered_at', 'id'],
                    unique=False)
    op.create_index('ix_requests_org_open', 'requests', ['org_id', 'registered_at', 'id'], unique=False,
                    postgresql_where=OPEN, sqlite_where=OPEN)
    if op.get_bind().dialect.name == "postgresql":
        op.execute("CREATE STATISTICS st_requests_org_building (dependencies) ON org_id, building_id FROM requests")
        op.execute("ANALYZE requests")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP STATISTICS IF EXISTS st_requests_org_building")
    op.drop_index('ix_requests_org_open', table_name='requests')
    op.drop_index('ix_requests_org_assignee', table_name='requests')
    op.create_index('ix_requests_org_assignee', 'requests', ['org_id', 'assignee_id', 'status', 'registered_at', 'id'],
                    unique=False)
