"""Domain objects -> plain dicts for the response schemas."""
from __future__ import annotations

from datetime import datetime

from ..catalogue import label
from ..domain.registry import Building
from ..domain.request import Attachment, Request


def building_ref(b: Building | None) -> dict | None:
    if b is None:
        return None
    return {"id": b.id, "code": b.code, "address": b.address(), "city": b.city.name,
            "complex": b.complex.name if b.complex else None}


def request_dict(r: Request, now: datetime) -> dict:
    a = r.assignee
    return {
        "number": r.number, "status": r.status, "status_label": label("statuses", r.status), "channel": r.channel,
        "description": r.description, "work_type": r.work_type, "urgency": r.urgency, "reason": r.reason,
        "caller_phone": r.caller_phone, "caller_name": r.caller_name, "building": building_ref(r.building),
        "apartment": r.apartment, "entrance": r.entrance, "floor": r.floor,
        "assignee": {"id": a.id, "full_name": a.full_name, "phone": a.phone} if a else None,
        "answered_at": r.answered_at, "registered_at": r.registered_at, "updated_at": r.updated_at,
        "closed_at": r.closed_at, "done_at": r.done_at,
        "localisation": {"due_at": r.localisation_due_at, "clause": r.localisation_clause},
        "repair": {"due_at": r.repair_due_at, "clause": r.repair_clause},
        "due_at": r.due_at, "overdue": r.is_overdue(now), "deadline_rule": r.deadline_rule,
        "postponed_until": r.postponed_until, "assigned_at": r.assigned_at, "accepted_at": r.accepted_at,
        "localised_at": r.localised_at, "attention": r.attention, "status_reason": r.status_reason, "report": r.report,
        "version": r.version,
    }


def attachment_dict(a: Attachment) -> dict:
    return {"id": a.id, "kind": a.kind, "filename": a.filename, "content_type": a.content_type, "size": a.size,
            "sha256": a.sha256, "created_at": a.created_at, "created_by": a.created_by,
            "url": f"/api/v1/attachments/{a.id}"}
