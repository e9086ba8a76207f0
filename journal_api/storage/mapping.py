"""Imperative mapping: the domain classes stay plain Python; this module teaches SQLAlchemy about them."""
from __future__ import annotations

from sqlalchemy import event
from sqlalchemy.orm import registry, relationship

from ..domain import registry as reg
from ..domain.request import Attachment, HistoryEntry, Rating, Request
from . import tables as t

mapper_registry = registry(metadata=t.metadata)
_mapped = False


class ApiToken:
    """A stored API token: only its hash is kept."""

    def __init__(self, *, org_id, token_hash, prefix, role, staff_id, label, created_at):
        self.org_id, self.token_hash, self.prefix, self.role = org_id, token_hash, prefix, role
        self.staff_id, self.label, self.created_at = staff_id, label, created_at
        self.revoked_at = None


class OutboxMessage:
    def __init__(self, *, org_id, name, request_id, payload, created_at):
        self.org_id, self.name, self.request_id, self.payload, self.created_at = (
            org_id, name, request_id, payload, created_at)
        self.attempts = 0


def start_mappers() -> None:
    """Map once per process. Called by bootstrap, never at import time."""
    global _mapped
    if _mapped:
        return
    m = mapper_registry.map_imperatively
    m(reg.Organisation, t.organisations)
    m(reg.City, t.cities)
    m(reg.HousingComplex, t.complexes)
    m(reg.Building, t.buildings, properties={
        "city": relationship(reg.City, lazy="joined", innerjoin=True),
        "complex": relationship(reg.HousingComplex, lazy="joined"),
    })
    m(reg.Resident, t.residents)
    m(reg.Staff, t.staff)
    m(reg.WorkType, t.work_types)
    m(reg.Responsibility, t.responsibilities, properties={
        "staff": relationship(reg.Staff, lazy="joined", innerjoin=True),
        "building": relationship(reg.Building, lazy="joined", innerjoin=True),
    })
    m(reg.Shift, t.shifts)
    m(reg.Absence, t.absences)
    m(Request, t.requests, version_id_col=t.requests.c.version, properties={
        "building": relationship(reg.Building, lazy="joined"),
        "assignee": relationship(reg.Staff, lazy="joined"),
    })
    m(HistoryEntry, t.request_events)
    m(Attachment, t.attachments)
    m(Rating, t.ratings)
    m(ApiToken, t.api_tokens)
    m(OutboxMessage, t.outbox)
    event.listen(Request, "load", lambda target, _ctx: target._init_pending())
    from . import mapping_calls, mapping_console, mapping_incidents, mapping_messages, mapping_transcripts

    for module in (mapping_calls, mapping_transcripts, mapping_messages, mapping_console, mapping_incidents):
        module.start(m)
    _mapped = True
