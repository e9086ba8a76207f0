"""Read side of the journal: the Monitor-style filtered list with cursor pagination."""
from __future__ import annotations

import base64
import json
import re
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
    "due_at": (t.requests.c.due_at, False),  # requests without a deadline come last
}
NULLABLE_SORTS = frozenset({"due_at"})
PHONE_PUNCTUATION = frozenset(" +-().")


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


def encode_cursor(key: datetime | None, row_id: int) -> str:
    raw = json.dumps([key.isoformat() if key else None, row_id]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str, *, nullable: bool = False) -> tuple[datetime | None, int]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        key, row_id = json.loads(raw)
        key = None if key is None and nullable else datetime.fromisoformat(key)
        if (key is not None and key.tzinfo is None) or not isinstance(row_id, int) or not 0 < row_id < 2 ** 31:
            raise ValueError(cursor)
        return key, row_id
    except (ValueError, TypeError):
        raise ValidationError("The cursor is not valid; use the next_cursor of a previous page.",
                              field="cursor") from None


def building_ids_query(org_id: int, f: RequestFilter) -> sa.Select | None:
    """The ids of the buildings that the complex or city filter selects; None without such a filter."""
    if f.complex_id is None and f.city_id is None:
        return None
    b = t.buildings.c
    sub = sa.select(b.id).where(b.org_id == org_id)
    if f.complex_id is not None:
        sub = sub.where(b.complex_id == f.complex_id)
    if f.city_id is not None:
        sub = sub.where(b.city_id == f.city_id)
    return sub


# The free-text search also reads the query as an address: street words, then the house, then perhaps the korpus.
# Tokens are runs of letters and digits (``5/2`` and ``пр-т`` stay whole), lowercased. Type words (ул., д., корп. ...)
# are dropped. The house is the first token that starts with a digit AND follows a street word, so "Ленина 5",
# "ленина, 5", "ул. Ленина, д. 5" and "8 Марта 12" read the same way ("8" has no street word before it: it is part of
# the street). A korpus is "10к2", or "к"/"корп"/"корпус" then a token after the house. Every street word must occur
# in the street (case-insensitive substring); the house must equal the building's house (so "Ленина 5" never finds
# Ленина 15 or 5а); the korpus, when given, must equal the building's. Without a house or without a street word the
# query is not an address (else a search for "кран" would list every request on Краснопресненская).
ADDRESS_TYPE_WORDS = frozenset({"ул", "улица", "д", "дом", "пр", "пр-т", "просп", "проспект", "пер", "переулок",
                                "б-р", "бул", "бульвар", "ш", "шоссе", "пл", "площадь", "наб", "набережная", "г",
                                "город", "мкр", "микрорайон", "кв", "квартира"})
KORPUS_WORDS = frozenset({"к", "корп", "корпус"})
_TOKEN = re.compile(r"[^\W_]+(?:[-/][^\W_]+)*")
_HOUSE = re.compile(r"^(?P<house>\d+(?:/\d+)?[^\W\d_]?)(?:(?:к|корп)(?P<korpus>\d+))?$")


def parse_address(q: str) -> tuple[list[str], str, str | None] | None:
    """(street words, house, korpus or None) of a search text read as an address, or None (see above)."""
    tokens = _TOKEN.findall(q.lower().replace("ё", "е"))
    street: list[str] = []
    for i, token in enumerate(tokens):
        if token in ADDRESS_TYPE_WORDS or token in KORPUS_WORDS:
            continue
        house = _HOUSE.match(token) if token[0].isdigit() else None
        if house and any(not w[0].isdigit() for w in street):
            korpus = house["korpus"]
            rest = tokens[i + 1:]
            if korpus is None and len(rest) >= 2 and rest[0] in KORPUS_WORDS:
                korpus = rest[1]
            return street, house["house"], korpus
        street.append(token)
    return None


def address_building_ids_query(org_id: int, q: str | None) -> sa.Select | None:
    """The ids of the buildings whose address the search text names; None when the text is not an address."""
    address = parse_address(q or "")
    if address is None:
        return None
    words, house, korpus = address
    b = t.buildings.c
    sub = sa.select(b.id).where(b.org_id == org_id, sa.func.lower(sa.func.replace(b.house, " ", "")) == house)
    for word in words:
        sub = sub.where(sa.func.replace(sa.func.lower(b.street), "ё", "е").like(_like(word), escape="\\"))
    if korpus is not None:
        sub = sub.where(sa.func.lower(b.korpus) == korpus)
    return sub


def _like(text: str) -> str:
    return "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def reason_match(text: str):
    """Requests whose reason the text names: its catalogue code exactly; else, case-insensitively, free text that
    contains it, or a catalogue reason whose code or Russian title contains it (the console shows the titles)."""
    from .deadlines import federal

    text = text.strip()
    c = t.requests.c
    reasons = federal().reasons
    if any(r.code == text for r in reasons):
        return c.reason == text
    needle = text.casefold().replace("ё", "е")
    codes = [r.code for r in reasons
             if needle in r.title.casefold().replace("ё", "е") or needle in r.code]
    return sa.or_(c.reason.ilike(_like(text), escape="\\"), *([c.reason.in_(codes)] if codes else []))


def build_list_query(org_id: int, f: RequestFilter, *, now: datetime, only_assignee: int | None,
                     cursor: str | None, limit: int, building_ids: list[int] | None = None,
                     address_ids: list[int] | None = None) -> sa.Select:
    """``building_ids``: the ids of building_ids_query, ``address_ids``: those of address_building_ids_query for
    ``f.q``, when the caller resolved them first (better plans); else they are subqueries."""
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
    places = building_ids_query(org_id, f)
    if places is not None:
        # Better as a list of ids resolved by the caller: across a semi-join the planner misjudges how many requests
        # the buildings have and sorts them all (0.3 s for a city at 1M rows); with the list it reads in list order.
        stmt = stmt.where(c.building_id.in_(places if building_ids is None else building_ids))
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
        stmt = stmt.where(_text_match(f.q, org_id, address_ids))
    column, descending = SORTS[f.sort]
    nullable = f.sort in NULLABLE_SORTS
    if cursor:
        stmt = stmt.where(_after(column, descending, nullable, *decode_cursor(cursor, nullable=nullable)))
    order = (column.desc(), c.id.desc()) if descending else (column.asc().nulls_last(), c.id.asc())
    return stmt.order_by(*order).limit(limit + 1)


def _after(column, descending: bool, nullable: bool, key: datetime | None, row_id: int):
    """The rows after the cursor's row in the list order; rows without a sort key come last."""
    c = t.requests.c
    if key is None:
        return sa.and_(column.is_(None), c.id < row_id if descending else c.id > row_id)
    after = sa.tuple_(column, c.id) < (key, row_id) if descending else sa.tuple_(column, c.id) > (key, row_id)
    return sa.or_(after, column.is_(None)) if nullable else after


def _text_match(q: str, org_id: int, address_ids: list[int] | None = None):
    """The description, the caller's name, the reason (reason_match), the building's address (parse_address), and a
    number or a phone."""
    c = t.requests.c
    q = q.strip()
    if len(q) > 200:
        raise ValidationError("The search text is longer than 200 characters.", field="q")
    like = _like(q)
    terms = [c.description.ilike(like, escape="\\"), c.caller_name.ilike(like, escape="\\"), reason_match(q)]
    if address_ids is not None:
        if address_ids:
            terms.append(c.building_id.in_(address_ids))
    else:
        address = address_building_ids_query(org_id, q)
        if address is not None:
            terms.append(c.building_id.in_(address))
    digits = "".join(ch for ch in q if ch.isdigit())
    if digits and all(ch.isdigit() or ch in PHONE_PUNCTUATION for ch in q):
        if len(digits) <= 9:
            terms.append(c.number == int(digits))
        if len(digits) == 11 and digits[0] == "8":  # Russian habit: 8XXXXXXXXXX is +7XXXXXXXXXX
            digits = "7" + digits[1:]
        if len(digits) >= 5:
            terms.append(c.caller_phone.like(f"%{digits}%"))
    return sa.or_(*terms)


def sort_key(request: Request, sort: str) -> datetime:
    return request.due_at if sort == "due_at" else request.registered_at
