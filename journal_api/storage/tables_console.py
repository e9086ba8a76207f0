"""Tables of migration 0008 (and an index of 0014): console sign-in and the links of the technician's and resident's pages (issue 7).
Part of :data:`journal_api.storage.tables.metadata`."""
from __future__ import annotations

import sqlalchemy as sa

from ..domain.status import OPEN_STATUSES
from .tables import UTCDateTime, metadata, requests
from .tables_calls import calls

# A staff member's console login. The password is an argon2 hash; ``session_epoch`` is bumped when the password is
# set again, which ends every session signed with the old epoch (sessions are signed cookies carrying it).
console_users = sa.Table(
    "console_users", metadata, sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("org_id", sa.ForeignKey("organisations.id", ondelete="RESTRICT"), nullable=False),
    sa.Column("staff_id", sa.ForeignKey("staff.id", ondelete="CASCADE"), nullable=False, unique=True),
    sa.Column("login", sa.String(64), nullable=False),
    sa.Column("password_hash", sa.String(200), nullable=False),
    sa.Column("session_epoch", sa.Integer, nullable=False, server_default="1"),
    sa.Column("failed_logins", sa.Integer, nullable=False, server_default="0"),
    sa.Column("locked_until", UTCDateTime, nullable=True),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
    sa.UniqueConstraint("org_id", "login", name="uq_console_users_org_login"),
)

# Signed links of the technician's (/t/...) and the resident's (/r/...) pages: only the SHA-256 of the token is kept.
console_links = sa.Table(
    "console_links", metadata, sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("org_id", sa.ForeignKey("organisations.id", ondelete="RESTRICT"), nullable=False),
    sa.Column("request_id", sa.ForeignKey("requests.id"), nullable=False),
    sa.Column("audience", sa.String(16), nullable=False),
    sa.Column("subject_id", sa.Integer, nullable=True),
    sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("expires_at", UTCDateTime, nullable=False),
    sa.Column("revoked_at", UTCDateTime, nullable=True),
    sa.Column("last_used_at", UTCDateTime, nullable=True),
    sa.Index("ix_console_links_request", "request_id", "audience"),
)


# The analytics' figures per local day, and per calendar month once its days are old (service/console_analytics.py):
# what the requests and calls of the span add up to, recomputed when older than an age that grows with the span's
# age. A cache: deleting rows loses nothing.
console_analytics_days = sa.Table(
    "console_analytics_days", metadata,
    sa.Column("org_id", sa.ForeignKey("organisations.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("span", sa.String(8), primary_key=True),  # day | month
    sa.Column("day", sa.Date, primary_key=True),  # the day, or the month's first day
    sa.Column("payload", sa.JSON, nullable=False),
    sa.Column("computed_at", UTCDateTime, nullable=False),
)

# The Monitor reads every open request of an organisation in one GROUPING SETS pass (service/console_monitor.py): a
# small partial index that covers the columns it groups by makes that an index-only scan on PostgreSQL (~60 -> ~15 ms
# at 16,500 open requests among 1M, bench/console.py). Only open requests are in it, so it costs little on writes.
_OPEN = requests.c.status.in_(sorted(s.value for s in OPEN_STATUSES))
sa.Index("ix_requests_org_open_monitor", requests.c.org_id,
         postgresql_include=["work_type", "reason", "assignee_id", "building_id", "status", "due_at"],
         postgresql_where=_OPEN, sqlite_where=_OPEN)

# The analytics' ПП 416 callback figures (service/console_analytics.py) read the calls of a period that needed a
# callback: a few in a hundred calls, found through this partial index instead of every call of the period (0014).
_CALLBACK_NEEDED = sa.text("callback_reason IS NOT NULL")
sa.Index("ix_calls_callback_arrived", calls.c.org_id, calls.c.arrived_at,
         postgresql_where=_CALLBACK_NEEDED, sqlite_where=_CALLBACK_NEEDED)
