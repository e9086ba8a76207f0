"""Tables of migrations 0005, 0010 and 0011: calls and recordings (issue 4: the SIP hotline). Part of
:data:`journal_api.storage.tables.metadata`."""
from __future__ import annotations

import sqlalchemy as sa

from .tables import UTCDateTime, metadata

_BIGID = sa.BigInteger().with_variant(sa.Integer, "sqlite")
CALLBACK_WAITING = sa.text("callback_reason IS NOT NULL AND callback_done_at IS NULL")
RECORDING_KEPT = sa.text("purged_at IS NULL")

# Every call the hotline saw, answered or not: the source of the answer-time report of ПП 416. A callback task
# (a missed call, a voice message, a caller who gave up waiting for a dispatcher) is kept on the call itself: a
# dispatcher must call back by callback_due_at and marks it done.
calls = sa.Table(
    "calls", metadata, sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("org_id", sa.ForeignKey("organisations.id", ondelete="RESTRICT"), nullable=False),
    sa.Column("sip_call_id", sa.String(200), nullable=True),
    sa.Column("call_uuid", sa.String(64), nullable=True, unique=True),
    sa.Column("direction", sa.String(10), nullable=False),  # in | out | internal
    sa.Column("from_number", sa.String(64), nullable=True),
    sa.Column("to_number", sa.String(64), nullable=True),
    sa.Column("arrived_at", UTCDateTime, nullable=False),
    sa.Column("answered_at", UTCDateTime, nullable=True),
    sa.Column("ended_at", UTCDateTime, nullable=True),
    sa.Column("status", sa.String(16), nullable=False),  # ringing | answered | missed | abandoned | over_capacity | failed
    sa.Column("hangup_cause", sa.String(64), nullable=True),
    sa.Column("ivr_path", sa.JSON, nullable=True),
    sa.Column("digits", sa.JSON, nullable=True),
    sa.Column("request_id", sa.ForeignKey("requests.id"), nullable=True),
    sa.Column("worker", sa.String(64), nullable=True),
    sa.Column("callback_reason", sa.String(32), nullable=True),
    sa.Column("callback_due_at", UTCDateTime, nullable=True),
    sa.Column("callback_done_at", UTCDateTime, nullable=True),
    sa.Index("ix_calls_org_arrived", "org_id", "arrived_at", "id"),
    sa.Index("ix_calls_org_status", "org_id", "status", "arrived_at"),
    sa.Index("ix_calls_org_from", "org_id", "from_number"),
    sa.Index("ix_calls_sip_call_id", "sip_call_id"),
    sa.Index("ix_calls_request", "request_id"),
    sa.Index("ix_calls_org_callback", "org_id", "callback_done_at", "callback_due_at"),
    # The calls waiting for a human (the board's "Перезвонить", GET /calls?callback=open): few among all calls,
    # while every ordinary call also has callback_done_at NULL, so the index above walks them all (migration 0010).
    sa.Index("ix_calls_callback_waiting", "org_id", "callback_due_at", "id", postgresql_where=CALLBACK_WAITING,
             sqlite_where=CALLBACK_WAITING),
)

recordings = sa.Table(
    "recordings", metadata, sa.Column("id", _BIGID, primary_key=True),
    sa.Column("org_id", sa.ForeignKey("organisations.id", ondelete="RESTRICT"), nullable=False),
    sa.Column("call_id", sa.ForeignKey("calls.id"), nullable=True),
    sa.Column("request_id", sa.ForeignKey("requests.id"), nullable=True),
    sa.Column("kind", sa.String(16), nullable=False),  # call | description | voicemail
    sa.Column("blob_key", sa.String(200), nullable=False),
    sa.Column("sha256", sa.String(64), nullable=False),
    sa.Column("size", sa.BigInteger, nullable=False),
    sa.Column("duration_s", sa.Float, nullable=False),
    sa.Column("format", sa.String(32), nullable=False),  # e.g. wav/pcm_s16le
    sa.Column("sample_rate", sa.Integer, nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    # When the retention job deleted the audio (recordings.retention, migration 0011); the row stays.
    sa.Column("purged_at", UTCDateTime, nullable=True),
    sa.Index("ix_recordings_call", "call_id"),
    sa.Index("ix_recordings_request", "request_id"),
    sa.Index("ix_recordings_kept_created", "created_at", "id", postgresql_where=RECORDING_KEPT,
             sqlite_where=RECORDING_KEPT),
)
