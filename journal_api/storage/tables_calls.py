"""Tables of migration 0005: calls and recordings (issue 4: the SIP hotline). Part of :data:`journal_api.storage.tables.metadata`."""
from __future__ import annotations

import sqlalchemy as sa  # noqa: F401

from .tables import UTCDateTime, metadata  # noqa: F401
