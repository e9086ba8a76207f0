"""Tables of migration 0007: SMS messages, inbound commands, opt-outs and reminder wake-ups (issue 6: notifications).
Part of :data:`journal_api.storage.tables.metadata`.

- ``messages``: the outbound outbox. Every SMS is a row before it is sent; the sender claims the row (status
  ``sending``) in the database before it calls the provider, so a retried job never sends twice. ``dedupe_key``
  (unique per organisation) makes the row's creation idempotent too: one domain event, one message per recipient.
- ``inbound_messages``: every MO message and what became of it (the command, the outcome, the reply); unique per
  provider and provider id, so a replayed webhook writes nothing new.
- ``sms_opt_outs``: the numbers that sent "стоп".
- ``sms_wakeups``: one row per open request: when its next reminder or escalation falls due (the scheduler's list).
"""
from __future__ import annotations

import sqlalchemy as sa

from .tables import UTCDateTime, metadata

_BIGID = sa.BigInteger().with_variant(sa.Integer, "sqlite")


def _org(nullable: bool = False):
    return sa.Column("org_id", sa.ForeignKey("organisations.id", ondelete="RESTRICT"), nullable=nullable)


messages = sa.Table(
    "messages", metadata, sa.Column("id", _BIGID, primary_key=True), _org(),
    sa.Column("request_id", sa.ForeignKey("requests.id"), nullable=True),
    sa.Column("recipient", sa.String(20), nullable=False),  # E.164
    sa.Column("audience", sa.String(16), nullable=False),  # technician | resident | dispatcher | manager
    sa.Column("staff_id", sa.Integer, nullable=True),
    sa.Column("template", sa.String(60), nullable=False),
    sa.Column("body", sa.Text, nullable=False),
    sa.Column("segments", sa.Integer, nullable=False),
    sa.Column("encoding", sa.String(8), nullable=False),  # gsm7 | ucs2
    sa.Column("provider", sa.String(16), nullable=False),  # log | kannel | twilio
    # queued -> sending -> sent -> delivered; failed (given up) and undelivered (a receipt said so) end it;
    # suppressed: the recipient opted out, never sent.
    sa.Column("status", sa.String(12), nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
    sa.Column("last_error", sa.Text, nullable=True),
    sa.Column("dedupe_key", sa.String(200), nullable=False),
    sa.Column("provider_message_id", sa.String(80), nullable=True),
    sa.Column("next_attempt_at", UTCDateTime, nullable=True),
    sa.Column("claimed_at", UTCDateTime, nullable=True),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("sent_at", UTCDateTime, nullable=True),
    sa.Column("delivered_at", UTCDateTime, nullable=True),
    sa.Column("failed_at", UTCDateTime, nullable=True),
    sa.UniqueConstraint("org_id", "dedupe_key", name="uq_messages_org_dedupe"),
    sa.Index("ix_messages_org_request", "org_id", "request_id", "id"),
    sa.Index("ix_messages_status_next", "status", "next_attempt_at"),
    sa.Index("ix_messages_provider_id", "provider", "provider_message_id"),
)

inbound_messages = sa.Table(
    "inbound_messages", metadata, sa.Column("id", _BIGID, primary_key=True), _org(nullable=True),
    sa.Column("provider", sa.String(16), nullable=False),
    sa.Column("provider_message_id", sa.String(80), nullable=False),
    sa.Column("sender", sa.String(32), nullable=False),
    sa.Column("recipient", sa.String(32), nullable=True),
    sa.Column("body", sa.Text, nullable=False),
    sa.Column("received_at", UTCDateTime, nullable=False),
    sa.Column("sender_kind", sa.String(12), nullable=False),  # staff | resident | unknown
    sa.Column("sender_id", sa.Integer, nullable=True),
    sa.Column("request_id", sa.ForeignKey("requests.id"), nullable=True),
    sa.Column("command", sa.String(24), nullable=True),
    sa.Column("outcome", sa.String(24), nullable=False),  # applied | refused | registered | ignored
    sa.Column("detail", sa.Text, nullable=True),
    sa.Column("reply_message_id", sa.BigInteger, nullable=True),
    sa.UniqueConstraint("provider", "provider_message_id", name="uq_inbound_messages_provider_id"),
    sa.Index("ix_inbound_messages_org_request", "org_id", "request_id", "id"),
)

sms_opt_outs = sa.Table(
    "sms_opt_outs", metadata, sa.Column("id", sa.Integer, primary_key=True), _org(),
    sa.Column("phone", sa.String(20), nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.UniqueConstraint("org_id", "phone", name="uq_sms_opt_outs_org_phone"),
)

sms_wakeups = sa.Table(
    "sms_wakeups", metadata,
    sa.Column("request_id", sa.ForeignKey("requests.id"), primary_key=True), _org(),
    sa.Column("due_at", UTCDateTime, nullable=False),
    sa.Index("ix_sms_wakeups_due", "due_at"),
)
