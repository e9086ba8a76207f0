"""Tables of migration 0006: transcripts and extracted facts (issue 5: transcription). Part of :data:`journal_api.storage.tables.metadata`."""
from __future__ import annotations

import sqlalchemy as sa  # noqa: F401

from .tables import UTCDateTime, metadata  # noqa: F401
