"""Tables of migration 0008: console sign-in, sessions and links (issue 7: the console). Part of :data:`journal_api.storage.tables.metadata`."""
from __future__ import annotations

import sqlalchemy as sa  # noqa: F401

from .tables import UTCDateTime, metadata  # noqa: F401
