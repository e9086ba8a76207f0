"""Read side of the journal: the Monitor-style filtered list with cursor pagination."""
from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa

from ..domain.errors import ValidationError
from ..domain.request import Request
from ..domain.status import OPEN_STATUSES, Status
from ..storage import tables as t

SORTS = {
    "-registered_at": (t.requests.c.registered_at, True),
    "registered_at": (t.requests.c.registered_at, False),
    "due_at": (t.requests.c.due_at, False),
}


@dataclass
class RequestFilter:
    status: list[str] | None = None
    work_type: list[str] | None = None
    urgency: str | None = None
    building_id: int | None = None
    complex_id: int | None = None
    city_id: int | None = None
    assignee_id: int | None = None
    unassigned: bool = False
    registered_from: datetime | None = None
    registered_to: datetime | None = None
    overdue: bool = False
    q: str | None = None
    sort: str = "-registered_at"


def encode_cursor(key: datetime, row_id: int) -> str:
    raw = json.dumps([key.isoformat(), row_id]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, int]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        key, row_id = json.loads(raw)
        return datetime.fromisoformat(key), int(row_id)
    except (ValueError, TypeError, json.JSONDecodeError):
        raise ValidationError("The cursor is not valid; use the next_cursor of a previous page.",
                              field="cursor") from None


def build_list_query(org_id: int, f: RequestFilter, *, now: datetime, only_assignee: int | None,
                     cursor: str | None, limit: int) -> sa.Select:
    c = t.requests.c
    if f.sort not in SORTS:
        raise ValidationError(f"Unknown sort '{f.sort}'. Use one of: {', '.join(SORTS)}.", field="sort")
    for status in f.status or ():
        if status not in Status._value2member_map_:
            raise ValidationError(f"Unknown status '{status}'.", field="status")
    stmt = sa.select(Request).where(c.org_id == org_id)
    if only_assignee is not None:
        stmt = stmt.where(c.assignee_id == only_assignee)
    if f.status:
        stmt = stmt.where(c.status.in_(f.status))
    if f.work_type:
        stmt = stmt.where(c.work_type.in_(f.work_type))
    if f.urgency:
        stmt = stmt.where(c.urgency == f.urgency)
    if f.building_id is not None:
        stmt = stmt.where(c.building_id == f.building_id)
    if f.complex_id is not None or f.city_id is not None:
        b = t.buildings.c
        sub = sa.select(b.id).where(b.org_id == org_id)
        if f.complex_id is not None:
            sub = sub.where(b.complex_id == f.complex_id)
        if f.city_id is not None:
            sub = sub.where(b.city_id == f.city_id)
        stmt = stmt.where(c.building_id.in_(sub))
    if f.assignee_id is not None:
        stmt = stmt.where(c.assignee_id == f.assignee_id)
    if f.unassigned:
        stmt = stmt.where(c.assignee_id.is_(None))
    if f.registered_from is not None:
        stmt = stmt.where(c.registered_at >= f.registered_from)
    if f.registered_to is not None:
        stmt = stmt.where(c.registered_at < f.registered_to)
    if f.overdue:
        stmt = stmt.where(c.due_at < now, c.status.in_([s.value for s in OPEN_STATUSES]))
    if f.q:
        stmt = stmt.where(_text_match(f.q))
    column, descending = SORTS[f.sort]
    if f.sort == "due_at":
        stmt = stmt.where(c.due_at.is_not(None))
    if cursor:
        key, row_id = decode_cursor(cursor)
        after = sa.tuple_(column, c.id) < (key, row_id) if descending else sa.tuple_(column, c.id) > (key, row_id)
        stmt = stmt.where(after)
    order = (column.desc(), c.id.desc()) if descending else (column.asc(), c.id.asc())
    return stmt.order_by(*order).limit(limit + 1)


def _text_match(q: str):
    c = t.requests.c
    q = q.strip()
    if len(q) > 200:
        raise ValidationError("The search text is longer than 200 characters.", field="q")
    like = "%" + q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
    terms = [c.description.ilike(like, escape="\\"), c.caller_name.ilike(like, escape="\\")]
    digits = "".join(ch for ch in q if ch.isdigit())
    if digits and digits == q.replace(" ", "").lstrip("+"):
        if len(digits) <= 9:
            terms.append(c.number == int(digits))
        if len(digits) >= 5:
            terms.append(c.caller_phone.like(f"%{digits}%"))
    return sa.or_(*terms)


def sort_key(request: Request, sort: str) -> datetime:
    return request.due_at if sort == "due_at" else request.registered_at
