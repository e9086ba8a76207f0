"""Tables of migration 0009 (issue 8): known incidents, their requests, and the server-side state of Twilio Voice
calls. Part of :data:`journal_api.storage.tables.metadata`."""
from __future__ import annotations

import sqlalchemy as sa

from .tables import UTCDateTime, metadata

# A known incident: several requests of one work type about one place (a building, a riser of it, or a street) in a
# short window. ``status``: proposed (the dispatcher decides) -> open (announced by the IVR) -> closed (one SMS to
# every resident who called), or proposed -> dismissed. ``building_ids``: the buildings the IVR announces it for.
incidents = sa.Table(
    "incidents", metadata, sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("org_id", sa.ForeignKey("organisations.id", ondelete="RESTRICT"), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("work_type", sa.String(40), nullable=False),
    sa.Column("scope", sa.String(16), nullable=False),  # building | riser | street
    sa.Column("scope_key", sa.String(300), nullable=False),
    sa.Column("building_ids", sa.JSON, nullable=False),
    sa.Column("title", sa.String(300), nullable=False),
    sa.Column("public_note", sa.Text, nullable=True),
    sa.Column("eta", UTCDateTime, nullable=True),
    sa.Column("auto", sa.Boolean, nullable=False, server_default=sa.false()),  # opened by the threshold
    sa.Column("requests_count", sa.Integer, nullable=False, server_default="0"),
    sa.Column("first_at", UTCDateTime, nullable=False),
    sa.Column("last_at", UTCDateTime, nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("opened_at", UTCDateTime, nullable=True),
    sa.Column("opened_by", sa.String(200), nullable=True),
    sa.Column("closed_at", UTCDateTime, nullable=True),
    sa.Column("closed_by", sa.String(200), nullable=True),
    sa.Column("close_note", sa.Text, nullable=True),
    sa.Index("ix_incidents_org_status", "org_id", "status", "work_type"),
)

# A request belongs to at most one incident.
incident_requests = sa.Table(
    "incident_requests", metadata,
    sa.Column("incident_id", sa.ForeignKey("incidents.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("request_id", sa.ForeignKey("requests.id"), primary_key=True),
    sa.Column("org_id", sa.ForeignKey("organisations.id", ondelete="RESTRICT"), nullable=False),
    sa.Column("added_at", UTCDateTime, nullable=False),
    sa.UniqueConstraint("request_id", name="uq_incident_requests_request_id"),
)

# Twilio Voice: the interpreter's state between two webhooks of one call, keyed by Twilio's CallSid.
twilio_calls = sa.Table(
    "twilio_calls", metadata,
    sa.Column("call_sid", sa.String(64), primary_key=True),
    sa.Column("org_id", sa.ForeignKey("organisations.id", ondelete="RESTRICT"), nullable=False),
    sa.Column("call_id", sa.Integer, nullable=False),
    sa.Column("state", sa.JSON, nullable=False),
    sa.Column("ended", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
)
