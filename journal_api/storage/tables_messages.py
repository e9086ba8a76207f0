"""Tables of migration 0007: sMS messages, inbound commands and reminders (issue 6: notifications). Part of :data:`journal_api.storage.tables.metadata`."""
from __future__ import annotations

import sqlalchemy as sa  # noqa: F401

from .tables import UTCDateTime, metadata  # noqa: F401
