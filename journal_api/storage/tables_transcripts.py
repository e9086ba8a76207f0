"""Tables of migration 0006: transcripts and extracted facts (issue 5: transcription). Part of
:data:`journal_api.storage.tables.metadata`."""
from __future__ import annotations

import sqlalchemy as sa

from .tables import UTCDateTime, metadata

_BIGID = sa.BigInteger().with_variant(sa.Integer, "sqlite")

# One transcript per recorded segment of a call (kind: description | voicemail | call). Live transcripts exist
# before their recording is stored (recording_id is set when it is). ``words`` is [{"w", "start", "end", "conf"}]
# in seconds from the start of the recording; ``facts`` is the extraction: {field: {"value", "confidence"}} plus
# "filled": the fields written into the request. ``error`` is the Russian status ("не удалось распознать: ...").
transcripts = sa.Table(
    "transcripts", metadata, sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("org_id", sa.ForeignKey("organisations.id", ondelete="RESTRICT"), nullable=False),
    sa.Column("recording_id", _BIGID, sa.ForeignKey("recordings.id"), nullable=True),
    sa.Column("call_id", sa.ForeignKey("calls.id"), nullable=True),
    sa.Column("request_id", sa.ForeignKey("requests.id"), nullable=True),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),  # pending | live | done | failed
    sa.Column("engine", sa.String(16), nullable=True),
    sa.Column("model", sa.String(100), nullable=True),
    sa.Column("language", sa.String(8), nullable=True),
    sa.Column("text", sa.Text, nullable=True),
    sa.Column("words", sa.JSON, nullable=True),
    sa.Column("facts", sa.JSON, nullable=True),
    sa.Column("error", sa.Text, nullable=True),
    sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
    sa.Column("source_path", sa.String(500), nullable=True),  # the live spool file, for a retry before storage
    sa.Column("duration_s", sa.Float, nullable=True),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
    sa.Column("finished_at", UTCDateTime, nullable=True),
    sa.UniqueConstraint("call_id", "kind", name="uq_transcripts_call_kind"),
    sa.Index("ix_transcripts_org_status", "org_id", "status", "updated_at"),
    sa.Index("ix_transcripts_request", "request_id"),
    sa.Index("ix_transcripts_recording", "recording_id"),
)
