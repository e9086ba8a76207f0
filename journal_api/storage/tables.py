"""The schema. PostgreSQL in production, SQLite for the embedded default; the same migrations serve both."""
from __future__ import annotations

from datetime import datetime, timezone

import sqlalchemy as sa
from sqlalchemy.types import TypeDecorator

from ..domain.status import OPEN_STATUSES

metadata = sa.MetaData(naming_convention={
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
})


class UTCDateTime(TypeDecorator):
    """Aware datetimes in, aware UTC datetimes out, on both PostgreSQL and SQLite."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the database; use aware datetimes")
        value = value.astimezone(timezone.utc)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=timezone.utc)
        return value.astimezone(timezone.utc)


def _id():
    return sa.Column("id", sa.Integer, primary_key=True)


def _org():
    return sa.Column("org_id", sa.ForeignKey("organisations.id", ondelete="RESTRICT"), nullable=False)


organisations = sa.Table(
    "organisations", metadata, _id(),
    sa.Column("code", sa.String(32), nullable=False, unique=True),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("timezone", sa.String(64), nullable=False),
    sa.Column("phone_region", sa.String(2), nullable=False, server_default="RU"),
    sa.Column("settings", sa.JSON, nullable=True),  # per-organisation knobs, e.g. reassign_unaccepted_minutes
)

counters = sa.Table(
    "counters", metadata,
    sa.Column("org_id", sa.ForeignKey("organisations.id"), primary_key=True),
    sa.Column("name", sa.String(32), primary_key=True),
    sa.Column("value", sa.BigInteger, nullable=False),
)

cities = sa.Table(
    "cities", metadata, _id(), _org(),
    sa.Column("name", sa.String(200), nullable=False),
    sa.UniqueConstraint("org_id", "name", name="uq_cities_org_name"),
)

complexes = sa.Table(
    "complexes", metadata, _id(), _org(),
    sa.Column("city_id", sa.ForeignKey("cities.id"), nullable=False),
    sa.Column("name", sa.String(200), nullable=False),
    sa.UniqueConstraint("org_id", "city_id", "name", name="uq_complexes_org_city_name"),
)

buildings = sa.Table(
    "buildings", metadata, _id(), _org(),
    sa.Column("code", sa.String(64), nullable=False),
    sa.Column("city_id", sa.ForeignKey("cities.id"), nullable=False),
    sa.Column("complex_id", sa.ForeignKey("complexes.id"), nullable=True),
    sa.Column("street", sa.String(200), nullable=False),
    sa.Column("house", sa.String(20), nullable=False),
    sa.Column("korpus", sa.String(20), nullable=True),
    sa.Column("entrances", sa.Integer, nullable=False),
    sa.Column("floors", sa.Integer, nullable=False),
    sa.Column("apartments", sa.Integer, nullable=False),
    sa.Column("active", sa.Boolean, nullable=False, server_default=sa.true()),
    sa.UniqueConstraint("org_id", "code", name="uq_buildings_org_code"),
    sa.Index("ix_buildings_org_complex", "org_id", "complex_id"),
    sa.Index("ix_buildings_org_city", "org_id", "city_id"),
)

residents = sa.Table(
    "residents", metadata, _id(), _org(),
    sa.Column("phone", sa.String(20), nullable=False),
    sa.Column("name", sa.String(200), nullable=True),
    sa.Column("building_id", sa.ForeignKey("buildings.id"), nullable=True),
    sa.Column("apartment", sa.Integer, nullable=True),
    sa.UniqueConstraint("org_id", "phone", "building_id", "apartment", name="uq_residents_place"),
    sa.Index("ix_residents_org_phone", "org_id", "phone"),
)

staff = sa.Table(
    "staff", metadata, _id(), _org(),
    sa.Column("full_name", sa.String(200), nullable=False),
    sa.Column("role", sa.String(20), nullable=False),
    sa.Column("phone", sa.String(20), nullable=False),
    sa.Column("sip_account", sa.String(64), nullable=True),
    sa.Column("email", sa.String(200), nullable=True),
    sa.Column("external_id", sa.String(64), nullable=True),
    sa.Column("active", sa.Boolean, nullable=False, server_default=sa.true()),
    sa.Column("last_assigned_at", UTCDateTime, nullable=True),  # the fair rotation of automatic assignment
    sa.UniqueConstraint("org_id", "phone", name="uq_staff_org_phone"),
    sa.UniqueConstraint("org_id", "sip_account", name="uq_staff_org_sip"),
    sa.UniqueConstraint("org_id", "external_id", name="uq_staff_org_external"),
)

work_types = sa.Table(
    "work_types", metadata, _id(), _org(),
    sa.Column("code", sa.String(40), nullable=False),
    sa.Column("name", sa.String(100), nullable=False),
    sa.Column("standard", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("active", sa.Boolean, nullable=False, server_default=sa.true()),
    sa.UniqueConstraint("org_id", "code", name="uq_work_types_org_code"),
)

responsibilities = sa.Table(
    "responsibilities", metadata, _id(), _org(),
    sa.Column("building_id", sa.ForeignKey("buildings.id", ondelete="CASCADE"), nullable=False),
    sa.Column("work_type", sa.String(40), nullable=False),
    sa.Column("staff_id", sa.ForeignKey("staff.id", ondelete="CASCADE"), nullable=False),
    sa.Column("priority", sa.Integer, nullable=False, server_default="1"),
    sa.UniqueConstraint("building_id", "work_type", "staff_id", name="uq_responsibilities_triple"),
    sa.Index("ix_responsibilities_lookup", "org_id", "building_id", "work_type"),
)

shifts = sa.Table(
    "shifts", metadata, _id(), _org(),
    sa.Column("staff_id", sa.ForeignKey("staff.id", ondelete="CASCADE"), nullable=False),
    sa.Column("starts_at", UTCDateTime, nullable=False),
    sa.Column("ends_at", UTCDateTime, nullable=False),
    sa.Column("kind", sa.String(20), nullable=False),
    sa.Index("ix_shifts_org_period", "org_id", "starts_at", "ends_at"),
)

absences = sa.Table(
    "absences", metadata, _id(), _org(),
    sa.Column("staff_id", sa.ForeignKey("staff.id", ondelete="CASCADE"), nullable=False),
    sa.Column("starts_at", UTCDateTime, nullable=False),
    sa.Column("ends_at", UTCDateTime, nullable=False),
    sa.Column("kind", sa.String(20), nullable=False),
    sa.Index("ix_absences_staff_period", "staff_id", "starts_at"),
)

requests = sa.Table(
    "requests", metadata, _id(), _org(),
    sa.Column("number", sa.Integer, nullable=False),
    sa.Column("channel", sa.String(16), nullable=False),
    sa.Column("caller_phone", sa.String(20), nullable=True),
    sa.Column("caller_name", sa.String(200), nullable=True),
    sa.Column("building_id", sa.ForeignKey("buildings.id"), nullable=True),
    sa.Column("apartment", sa.Integer, nullable=True),
    sa.Column("entrance", sa.Integer, nullable=True),
    sa.Column("floor", sa.Integer, nullable=True),
    sa.Column("description", sa.Text, nullable=False),
    sa.Column("work_type", sa.String(40), nullable=False),
    sa.Column("reason", sa.String(200), nullable=True),
    sa.Column("urgency", sa.String(16), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("assignee_id", sa.ForeignKey("staff.id"), nullable=True),
    sa.Column("answered_at", UTCDateTime, nullable=True),
    sa.Column("registered_at", UTCDateTime, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
    sa.Column("closed_at", UTCDateTime, nullable=True),
    sa.Column("done_at", UTCDateTime, nullable=True),  # the work was done (status 'done'); kept once closed
    sa.Column("localisation_due_at", UTCDateTime, nullable=True),
    sa.Column("repair_due_at", UTCDateTime, nullable=True),
    sa.Column("due_at", UTCDateTime, nullable=True),
    sa.Column("deadline_rule", sa.String(64), nullable=True),
    sa.Column("localisation_clause", sa.String(200), nullable=True),
    sa.Column("repair_clause", sa.String(200), nullable=True),
    sa.Column("postponed_until", UTCDateTime, nullable=True),
    sa.Column("status_reason", sa.Text, nullable=True),
    sa.Column("report", sa.Text, nullable=True),
    sa.Column("assigned_at", UTCDateTime, nullable=True),
    sa.Column("accepted_at", UTCDateTime, nullable=True),
    sa.Column("localised_at", UTCDateTime, nullable=True),
    sa.Column("attention", sa.String(64), nullable=True),  # why the dispatcher must look, e.g. "no_candidate"
    sa.Column("version", sa.Integer, nullable=False),
    sa.UniqueConstraint("org_id", "number", name="uq_requests_org_number"),
    # The Monitor's filters: each leads with the organisation and ends with the list order.
    sa.Index("ix_requests_org_registered", "org_id", "registered_at", "id"),
    sa.Index("ix_requests_org_status", "org_id", "status", "registered_at", "id"),
    sa.Index("ix_requests_org_work_type", "org_id", "work_type", "registered_at", "id"),
    sa.Index("ix_requests_org_building", "org_id", "building_id", "registered_at", "id"),
    sa.Index("ix_requests_org_assignee", "org_id", "assignee_id", "registered_at", "id"),
    sa.Index("ix_requests_org_due", "org_id", "due_at", "status"),
    sa.Index("ix_requests_org_caller", "org_id", "caller_phone"),
)

# The Monitor's main view: the open requests, newest first (a small partial index, read in list order).
# PostgreSQL also keeps statistics st_requests_org_building (migration 0002): a building belongs to one organisation,
# so the planner estimates the rows of a complex or a city right.
sa.Index("ix_requests_org_open", requests.c.org_id, requests.c.registered_at, requests.c.id,
         postgresql_where=requests.c.status.in_(sorted(s.value for s in OPEN_STATUSES)),
         sqlite_where=requests.c.status.in_(sorted(s.value for s in OPEN_STATUSES)))

request_events = sa.Table(
    "request_events", metadata, _id(), _org(),
    sa.Column("request_id", sa.ForeignKey("requests.id"), nullable=False),
    sa.Column("at", UTCDateTime, nullable=False),
    sa.Column("actor_kind", sa.String(16), nullable=False),
    sa.Column("actor_role", sa.String(16), nullable=False),
    sa.Column("actor_id", sa.Integer, nullable=True),
    sa.Column("actor_name", sa.String(200), nullable=False),
    sa.Column("channel", sa.String(16), nullable=False),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("field", sa.String(40), nullable=True),
    sa.Column("old_value", sa.Text, nullable=True),
    sa.Column("new_value", sa.Text, nullable=True),
    sa.Column("note", sa.Text, nullable=True),
    sa.Index("ix_request_events_request", "request_id", "id"),
)

attachments = sa.Table(
    "attachments", metadata, _id(), _org(),
    sa.Column("request_id", sa.ForeignKey("requests.id"), nullable=False),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("filename", sa.String(255), nullable=False),
    sa.Column("content_type", sa.String(100), nullable=False),
    sa.Column("size", sa.BigInteger, nullable=False),
    sa.Column("sha256", sa.String(64), nullable=False),
    sa.Column("storage_key", sa.String(200), nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("created_by", sa.String(200), nullable=False),
    sa.Index("ix_attachments_request", "request_id"),
)

ratings = sa.Table(
    "ratings", metadata, _id(), _org(),
    sa.Column("request_id", sa.ForeignKey("requests.id"), nullable=False, unique=True),
    sa.Column("score", sa.Integer, nullable=False),
    sa.Column("comment", sa.Text, nullable=True),
    sa.Column("phone", sa.String(20), nullable=True),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.CheckConstraint("score BETWEEN 1 AND 5", name="score_range"),
)

api_tokens = sa.Table(
    "api_tokens", metadata, _id(), _org(),
    sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
    sa.Column("prefix", sa.String(12), nullable=False),
    sa.Column("role", sa.String(20), nullable=False),
    sa.Column("staff_id", sa.ForeignKey("staff.id"), nullable=True),
    sa.Column("label", sa.String(200), nullable=True),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("revoked_at", UTCDateTime, nullable=True),
)

outbox = sa.Table(
    "outbox", metadata, sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True),
    _org(),
    sa.Column("name", sa.String(64), nullable=False),
    sa.Column("request_id", sa.Integer, nullable=True),
    sa.Column("payload", sa.JSON, nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("handled_at", UTCDateTime, nullable=True),
    sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
    sa.Column("last_error", sa.Text, nullable=True),
    sa.Index("ix_outbox_unhandled", "handled_at", "id"),
)


def utcnow() -> datetime:
    return datetime.now(timezone.utc)

audit_log = sa.Table(
    "audit_log", metadata, sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True),
    _org(),
    sa.Column("at", UTCDateTime, nullable=False),
    sa.Column("actor_kind", sa.String(16), nullable=False),
    sa.Column("actor_id", sa.Integer, nullable=True),
    sa.Column("actor_name", sa.String(200), nullable=False),
    sa.Column("entity", sa.String(40), nullable=False),
    sa.Column("entity_id", sa.Integer, nullable=True),
    sa.Column("action", sa.String(20), nullable=False),
    sa.Column("changes", sa.JSON, nullable=False),
    sa.Index("ix_audit_log_org_entity", "org_id", "entity", "entity_id"),
)


deadline_rule_overrides = sa.Table(
    "deadline_rule_overrides", metadata, _id(), _org(),
    sa.Column("key", sa.String(80), nullable=False),
    sa.Column("body", sa.JSON, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
    sa.UniqueConstraint("org_id", "key", name="uq_deadline_rule_overrides_org_key"),
)

escalation_overrides = sa.Table(
    "escalation_overrides", metadata, _id(), _org(),
    sa.Column("track", sa.String(40), nullable=False),
    sa.Column("body", sa.JSON, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
    sa.UniqueConstraint("org_id", "track", name="uq_escalation_overrides_org_track"),
)

escalation_log = sa.Table(
    "escalation_log", metadata, sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True),
    _org(),
    sa.Column("request_id", sa.ForeignKey("requests.id"), nullable=False),
    sa.Column("key", sa.String(200), nullable=False),
    sa.Column("due_at", UTCDateTime, nullable=False),
    sa.Column("emitted_at", UTCDateTime, nullable=False),
    sa.UniqueConstraint("request_id", "key", name="uq_escalation_log_request_key"),
)


# The tables of later migrations live in a module each, on the same metadata (imported last: they use the names
# above).
from . import tables_calls, tables_transcripts, tables_messages, tables_console, tables_incidents  # noqa: E402,F401
