"""Tables of migration 0009: known incidents and staff calls (issue 8). Part of :data:`journal_api.storage.tables.metadata`."""
from __future__ import annotations

import sqlalchemy as sa  # noqa: F401

from .tables import UTCDateTime, metadata  # noqa: F401
