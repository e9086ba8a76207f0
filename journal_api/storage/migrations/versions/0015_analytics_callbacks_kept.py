"""The analytics keep the ПП 416 callback figures with each day's other figures (issue 7): forget the kept days.

``console_analytics_days`` is a cache (service/console_analytics.py): the figures kept before this revision have no
callback sections, and a month kept a day ago would show no callbacks until it is recomputed. Deleting the rows loses
nothing; the next view, or ``hotline analytics warm`` / the hourly warm-up of ``hotline cron``, computes them again.

Revision ID: 0015
Revises: 0014

"""
from typing import Sequence, Union

from alembic import op

revision: str = "0015"
down_revision: Union[str, Sequence[str], None] = "0014"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.execute("DELETE FROM console_analytics_days")


def downgrade() -> None:
    op.execute("DELETE FROM console_analytics_days")  # the older code would read the new sections and ignore them
