"""What a message says: the facts of a request read in one query, turned into a template's fields."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import sqlalchemy as sa

from journal_api.storage import tables as t

from .templates import Catalogue

_R, _B, _O, _S = t.requests.c, t.buildings.c, t.organisations.c, t.staff.c


@dataclass(frozen=True)
class Facts:
    request_id: int
    org_id: int
    number: int
    status: str
    urgency: str
    description: str
    work_type: str
    caller_phone: str | None
    street: str | None
    house: str | None
    korpus: str | None
    entrance: int | None
    floor: int | None
    apartment: int | None
    due_at: datetime | None
    postponed_until: datetime | None
    report: str | None
    assignee_id: int | None
    assignee_name: str | None
    timezone: str
    org_settings: dict | None

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


def load_facts(conn, request_id: int) -> Facts | None:
    query = sa.select(_R.id, _R.org_id, _R.number, _R.status, _R.urgency, _R.description, _R.work_type,
                      _R.caller_phone, _B.street, _B.house, _B.korpus, _R.entrance, _R.floor, _R.apartment,
                      _R.due_at, _R.postponed_until, _R.report, _R.assignee_id, _S.full_name, _O.timezone,
                      _O.settings) \
        .select_from(t.requests.join(t.organisations, _O.id == _R.org_id)
                     .outerjoin(t.buildings, _B.id == _R.building_id).outerjoin(t.staff, _S.id == _R.assignee_id)) \
        .where(_R.id == request_id)
    row = conn.execute(query).first()
    return Facts(*row) if row else None


def local_time(value: datetime | None, tz: ZoneInfo) -> str | None:
    return value.astimezone(tz).strftime("%d.%m %H:%M") if value else None


def address(f: Facts) -> str:
    if not f.street:
        return ""
    house = f.house + (f"к{f.korpus}" if f.korpus else "")
    return f"{f.street} {house}"


def place(f: Facts, catalogue: Catalogue) -> str:
    parts = []
    for key in ("entrance", "floor", "apartment"):
        value = getattr(f, key)
        if value is not None:
            parts.append(catalogue.value(key, **{key: value}))
    return "".join(parts)


def short_name(full_name: str | None) -> str | None:
    """"Иванов Иван Петрович" -> "Иванов И.П." (SMS space is tight)."""
    if not full_name:
        return None
    parts = full_name.split()
    return parts[0] + (" " + "".join(p[0] + "." for p in parts[1:3]) if len(parts) > 1 else "")


def fields(f: Facts, catalogue: Catalogue, **extra) -> dict:
    """Every field the request templates use; ``extra`` adds or replaces some (link, error, ...)."""
    deadline = local_time(f.due_at, f.tz) or catalogue.value("no_deadline")
    values = {
        "number": f.number, "urgent": catalogue.value("urgent") if f.urgency == "emergency" else "",
        "address": address(f), "place": place(f, catalogue), "problem": f.description.strip().rstrip("."),
        "deadline": deadline, "resident_phone": f.caller_phone or catalogue.value("no_phone"),
        "assignee": short_name(f.assignee_name) or catalogue.value("no_assignee"),
        "until": local_time(f.postponed_until, f.tz) or "", "report": f.report or catalogue.value("no_report"),
        "status_text": catalogue.status_text(f.status), "link": "",
    }
    values.update(extra)
    return values


def issue_link(container, f: Facts, staff_id: int | None, public_url: str, ttl_hours: int,
               audience: str = "technician") -> str:
    """The signed, expiring link to the technician's (or resident's) page: built by the console's LinkService
    (container.links); a deployment without it sends no link rather than a dead one."""
    links = getattr(container, "links", None)
    if links is None:
        return ""
    path = links.issue(f.org_id, f.request_id, audience=audience, subject_id=staff_id,
                       ttl=timedelta(hours=ttl_hours))
    return public_url.rstrip("/") + path
