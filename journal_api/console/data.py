"""Small read functions of the console for the tables of other packages (calls and recordings: issue 4;
transcripts: issue 5; messages: issue 6). Each reads its table from the shared metadata when it exists, so a
missing or changed table is one place to adapt, and the page shows the part as soon as the table lands."""
from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa

from ..storage import tables as t
from . import clabel, container

_DAY = timedelta(days=1)  # a call 'in progress' for longer is a stale row


def table(name: str) -> sa.Table | None:
    return t.metadata.tables.get(name)


def _rows(stmt) -> list[dict]:
    with container().engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(stmt).all()]


def _cols(tab: sa.Table, *names: str) -> list:
    return [tab.c[n] for n in names if n in tab.c]


def address(building) -> str:
    if building is None:
        return ""
    korpus = clabel("address", "korpus").format(korpus=building.korpus) if getattr(building, "korpus", None) else ""
    return clabel("address", "building").format(street=building.street, house=building.house, korpus=korpus)


def staff_names(org_id: int) -> dict[int, str]:
    rows = _rows(sa.select(t.staff.c.id, t.staff.c.full_name).where(t.staff.c.org_id == org_id))
    return {r["id"]: r["full_name"] for r in rows}


def staff_choices(org_id: int, role: str | None = None) -> list[dict]:
    stmt = sa.select(t.staff.c.id, t.staff.c.full_name, t.staff.c.role, t.staff.c.phone, t.staff.c.sip_account) \
        .where(t.staff.c.org_id == org_id, t.staff.c.active.is_(True)).order_by(t.staff.c.full_name)
    if role:
        stmt = stmt.where(t.staff.c.role == role)
    return _rows(stmt)


def building_choices(org_id: int, keep: int | None = None) -> list[dict]:
    """The organisation's active buildings; ``keep`` (a request's own building) is listed even when no longer
    active, so a correction of another field does not drop the request's address."""
    b = t.buildings.c
    shown = b.active.is_(True) if keep is None else sa.or_(b.active.is_(True), b.id == keep)
    return _rows(sa.select(b.id, b.code, b.street, b.house, b.korpus, b.city_id, b.complex_id, b.active)
                 .where(b.org_id == org_id, shown).order_by(b.street, b.house, b.korpus))


def places(org_id: int) -> tuple[list[dict], list[dict]]:
    cities = _rows(sa.select(t.cities.c.id, t.cities.c.name).where(t.cities.c.org_id == org_id)
                   .order_by(t.cities.c.name))
    complexes = _rows(sa.select(t.complexes.c.id, t.complexes.c.name).where(t.complexes.c.org_id == org_id)
                      .order_by(t.complexes.c.name))
    return cities, complexes


def recordings(org_id: int, request_id: int) -> list[dict]:
    """The recordings of a request: its own and those of its calls."""
    rec, calls = table("recordings"), table("calls")
    if rec is None or "request_id" not in rec.c:
        return []
    where = rec.c.request_id == request_id
    if calls is not None and "call_id" in rec.c and "request_id" in calls.c:
        where = sa.or_(where, rec.c.call_id.in_(sa.select(calls.c.id).where(calls.c.request_id == request_id)))
    return _rows(sa.select(rec).where(rec.c.org_id == org_id, where).order_by(rec.c.id))


def recording(org_id: int, recording_id: int) -> dict | None:
    rec = table("recordings")
    if rec is None:
        return None
    rows = _rows(sa.select(rec).where(rec.c.org_id == org_id, rec.c.id == recording_id))
    return rows[0] if rows else None


def transcripts(org_id: int, recording_ids: list[int], request_id: int) -> dict[int, dict]:
    """The newest transcript of each recording, keyed by recording id (0: a transcript of the request alone)."""
    tr = table("transcripts")
    if tr is None:
        return {}
    where = tr.c.request_id == request_id if "request_id" in tr.c else sa.false()
    if recording_ids and "recording_id" in tr.c:
        where = sa.or_(where, tr.c.recording_id.in_(recording_ids))
    found: dict[int, dict] = {}
    for row in _rows(sa.select(tr).where(tr.c.org_id == org_id, where).order_by(tr.c.id)):
        found[row.get("recording_id") or 0] = row
    return found


def facts(org_id: int, request_id: int) -> list[dict]:
    """Facts extracted from the request's transcripts with their confidence (``transcripts.facts``:
    ``{field: {"value", "confidence"}, "filled": [fields written into the request]}``), newest transcript last."""
    tr = table("transcripts")
    if tr is None or "facts" not in tr.c or "request_id" not in tr.c:
        return []
    found = []
    for row in _rows(sa.select(tr.c.id, tr.c.facts).where(tr.c.org_id == org_id, tr.c.request_id == request_id,
                                                           tr.c.facts.is_not(None)).order_by(tr.c.id)):
        extracted = row["facts"] if isinstance(row["facts"], dict) else {}
        filled = set(extracted.get("filled") or ())
        for name, fact in extracted.items():
            if isinstance(fact, dict) and "value" in fact:
                found.append({"field": name, "value": fact.get("value"), "confidence": fact.get("confidence"),
                              "filled": name in filled})
    return found


def messages(org_id: int, request_id: int) -> list[dict]:
    msg = table("messages")
    if msg is None or "request_id" not in msg.c:
        return []
    return _rows(sa.select(msg).where(msg.c.org_id == org_id, msg.c.request_id == request_id).order_by(msg.c.id))


def calls_of_request(org_id: int, request_id: int) -> list[dict]:
    calls = table("calls")
    if calls is None or "request_id" not in calls.c:
        return []
    return _rows(sa.select(calls).where(calls.c.org_id == org_id, calls.c.request_id == request_id)
                 .order_by(calls.c.id))


def live_calls(org_id: int, since) -> list[dict]:
    """Calls in progress and those that ended since ``since``, newest first, with the newest transcript text."""
    calls = table("calls")
    if calls is None or "arrived_at" not in calls.c:
        return []
    c = calls.c
    ended = c.ended_at if "ended_at" in c else sa.null()
    stmt = sa.select(*_cols(calls, "id", "from_number", "arrived_at", "answered_at", "ended_at", "status",
                            "request_id")).where(c.org_id == org_id, sa.or_(ended.is_(None), ended >= since),
                                                 c.arrived_at >= since - _DAY) \
        .order_by(c.arrived_at.desc(), c.id.desc()).limit(30)
    rows = _rows(stmt)
    tr = table("transcripts")
    if rows and tr is not None and "call_id" in tr.c:
        texts = _rows(sa.select(tr.c.call_id, tr.c.text, tr.c.status).where(
            tr.c.org_id == org_id, tr.c.call_id.in_([r["id"] for r in rows])).order_by(tr.c.id))
        by_call = {x["call_id"]: x for x in texts}
        for r in rows:
            r["transcript"] = (by_call.get(r["id"]) or {}).get("text") or ""
    numbers = _request_numbers(org_id, [r["request_id"] for r in rows if r.get("request_id")])
    for r in rows:
        r["request_number"] = numbers.get(r.get("request_id"))
    return rows


def call_of(org_id: int, call_id: int) -> dict | None:
    """One of the organisation's calls (a manual registration is taken from it): id, caller's number, arrival and
    the number of the request it is already about; None if unknown or another organisation's."""
    calls = table("calls")
    if calls is None:
        return None
    rows = _rows(sa.select(*_cols(calls, "id", "from_number", "arrived_at", "request_id"))
                 .where(calls.c.org_id == org_id, calls.c.id == call_id))
    if not rows:
        return None
    row = rows[0]
    row["request_number"] = _request_numbers(org_id, [row["request_id"]]).get(row["request_id"]) \
        if row.get("request_id") else None
    return row


def _request_numbers(org_id: int, ids: list[int]) -> dict[int, int]:
    if not ids:
        return {}
    rows = _rows(sa.select(t.requests.c.id, t.requests.c.number).where(t.requests.c.org_id == org_id,
                                                                       t.requests.c.id.in_(ids)))
    return {r["id"]: r["number"] for r in rows}


def callbacks(org_id: int, limit: int = 30) -> list[dict]:
    """Calls waiting for a human (ПП 416: callback tasks and staff voice messages): ``callback_reason`` set and
    ``callback_done_at`` NULL, the most urgent first, with the request's number and the voice message's recording."""
    calls = table("calls")
    if calls is None or "callback_reason" not in calls.c or "callback_done_at" not in calls.c:
        return []
    c = calls.c
    rows = _rows(sa.select(*_cols(calls, "id", "from_number", "to_number", "arrived_at", "callback_reason",
                                  "callback_due_at", "request_id"))
                 .where(c.org_id == org_id, c.callback_reason.is_not(None), c.callback_done_at.is_(None))
                 .order_by(c.callback_due_at.asc().nulls_last(), c.id.asc()).limit(limit))
    numbers = _request_numbers(org_id, [r["request_id"] for r in rows if r.get("request_id")])
    rec = table("recordings")
    voice: dict[int, int] = {}
    if rows and rec is not None and "call_id" in rec.c and "kind" in rec.c:
        for x in _rows(sa.select(rec.c.id, rec.c.call_id).where(
                rec.c.org_id == org_id, rec.c.kind == "voicemail",
                rec.c.call_id.in_([r["id"] for r in rows])).order_by(rec.c.id)):
            voice.setdefault(x["call_id"], x["id"])
    for r in rows:
        r["request_number"] = numbers.get(r.get("request_id"))
        r["voicemail_id"] = voice.get(r["id"])
    return rows
