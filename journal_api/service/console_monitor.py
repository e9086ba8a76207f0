"""Read side of the console: the journal's list with every Monitor filter, and the Monitor itself (seed: "Монитор").

The list reuses the API's query (``queries.build_list_query``: the same indexes, the same cursor) and adds the two
filters the API does not have: the reason (a catalogue code exactly, other text case-insensitively as a substring)
and the responsible person (the first responsible for the building and the work type, not only the assignee). The
Monitor counts the open requests through the partial index ``ix_requests_org_open`` in one pass (GROUPING SETS);
bench/console.py measures it at 1M requests. Its breakdowns are keyed by what the journal filters on (a work type or
reason code, a staff, city, complex or building id), so that each figure links to the journal listing exactly the
requests it counts (console/filters.monitor_hrefs).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Callable, Iterator

import sqlalchemy as sa

from ..domain.request import Request
from ..domain.status import OPEN_STATUSES
from ..storage import tables as t
from .queries import (RequestFilter, address_building_ids_query, build_list_query, building_ids_query, encode_cursor,
                      reason_match, sort_key)
from .uow import UnitOfWork

OPEN = sorted(s.value for s in OPEN_STATUSES)
IN_WORK = ("assigned", "accepted", "postponed", "impossible")
# "Can no longer wait": open, not overdue yet, and its deadline falls within this margin.
URGENT_MARGIN = timedelta(hours=2)


@dataclass
class ConsoleFilter:
    base: RequestFilter = field(default_factory=RequestFilter)
    reason: str | None = None  # a catalogue code matches exactly, other text as a substring (queries.reason_match)
    responsible_id: int | None = None
    no_responsible: bool = False  # nobody is responsible for the building and the work type
    open_only: bool = False
    urgent: bool = False  # deadline within URGENT_MARGIN, not overdue yet


@dataclass
class Page:
    items: list[Request]
    next_cursor: str | None


def _console_where(org_id: int, cf: ConsoleFilter) -> list:
    """The reason and the responsible person, as the journal and the Monitor both filter them. The responsible person
    of a request is the first (by priority, then id) of those responsible for its building and work type: the one the
    Monitor counts it under, so that a Monitor cell's link lists exactly the requests it counts."""
    c = t.requests.c
    where = []
    if cf.reason:
        where.append(reason_match(cf.reason))
    if cf.responsible_id is not None or cf.no_responsible:
        r = t.responsibilities.alias("r")
        same = sa.and_(r.c.org_id == org_id, r.c.building_id == c.building_id, r.c.work_type == c.work_type)
        if cf.no_responsible:
            where.append(~sa.exists().where(same))
        if cf.responsible_id is not None:
            before = t.responsibilities.alias("before")
            earlier = sa.exists().where(before.c.org_id == org_id, before.c.building_id == r.c.building_id,
                                        before.c.work_type == r.c.work_type,
                                        sa.or_(before.c.priority < r.c.priority,
                                               sa.and_(before.c.priority == r.c.priority, before.c.id < r.c.id)))
            where.append(sa.exists().where(same, r.c.staff_id == cf.responsible_id, ~earlier))
    return where


def _extra(stmt, org_id: int, cf: ConsoleFilter, now: datetime):
    c = t.requests.c
    for clause in _console_where(org_id, cf):
        stmt = stmt.where(clause)
    if cf.open_only:
        stmt = stmt.where(c.status.in_(OPEN))
    if cf.urgent:
        stmt = stmt.where(c.status.in_(OPEN), c.due_at >= now, c.due_at < now + URGENT_MARGIN)
    return stmt


def list_page(uow_factory: Callable[[], UnitOfWork], org_id: int, cf: ConsoleFilter, *, cursor: str | None = None,
              limit: int = 50) -> Page:
    with uow_factory() as uow:
        places = building_ids_query(org_id, cf.base)
        ids = None if places is None else list(uow.session.scalars(places))
        address = address_building_ids_query(org_id, cf.base.q)
        address_ids = None if address is None else list(uow.session.scalars(address))
        now = uow.clock()
        stmt = build_list_query(org_id, cf.base, now=now, only_assignee=None, cursor=cursor, limit=limit,
                                building_ids=ids, address_ids=address_ids)
        rows = list(uow.session.scalars(_extra(stmt, org_id, cf, now)).unique())
    more = len(rows) > limit
    rows = rows[:limit]
    nxt = encode_cursor(sort_key(rows[-1], cf.base.sort), rows[-1].id) if more and rows else None
    return Page(rows, nxt)


def iterate(uow_factory: Callable[[], UnitOfWork], org_id: int, cf: ConsoleFilter, *, max_rows: int,
            chunk: int = 1000) -> Iterator[Request]:
    """Every request of the filter in list order, read a chunk at a time (exports, the printed journal)."""
    cursor, seen = None, 0
    while seen < max_rows:
        page = list_page(uow_factory, org_id, cf, cursor=cursor, limit=min(chunk, max_rows - seen))
        yield from page.items
        seen += len(page.items)
        if page.next_cursor is None:
            return
        cursor = page.next_cursor


SETS = {"work_type": ("work_type",), "reason": ("reason",), "executor": ("assignee_id", "status"),
        "place": ("building_id", "work_type")}


def _grouped(conn, where: list, now: datetime) -> dict[str, list]:
    """The open requests counted by each grouping of SETS in one pass (PostgreSQL: GROUPING SETS; SQLite: a query
    per grouping). Each row: (*keys, n, overdue, urgent, unassigned)."""
    c = t.requests.c
    aggregates = (sa.func.count(), sa.func.sum(sa.case((c.due_at < now, 1), else_=0)),
                  sa.func.sum(sa.case((sa.and_(c.due_at >= now, c.due_at < now + URGENT_MARGIN), 1), else_=0)),
                  sa.func.sum(sa.case((c.assignee_id.is_(None), 1), else_=0)))
    if conn.dialect.name != "postgresql":
        return {name: [tuple(r) for r in conn.execute(
            sa.select(*(c[k] for k in keys), *aggregates).where(*where).group_by(*(c[k] for k in keys))).all()]
            for name, keys in SETS.items()}
    columns = list(dict.fromkeys(k for keys in SETS.values() for k in keys))
    bit = {name: 1 << (len(columns) - 1 - i) for i, name in enumerate(columns)}
    mask = {sum(bit[k] for k in columns if k not in keys): name for name, keys in SETS.items()}
    sets = sa.func.grouping_sets(*(sa.tuple_(*(c[k] for k in keys)) for keys in SETS.values()))
    out: dict[str, list] = {name: [] for name in SETS}
    n = len(columns)
    pick = {name: [columns.index(k) for k in keys] + list(range(n + 1, n + 1 + len(aggregates)))
            for name, keys in SETS.items()}
    for row in conn.execute(sa.select(*(c[k] for k in columns), sa.func.grouping(*(c[k] for k in columns)),
                                      *aggregates).where(*where).group_by(sets)).all():  # fetchall: ~5k rows
        name = mask[row[n]]
        out[name].append([row[i] for i in pick[name]])
    return out


def monitor(engine: sa.Engine, org_id: int, cf: ConsoleFilter, now: datetime) -> dict:
    """Open requests by work type, reason, executor, responsible, city, complex and building; the overdue and the
    urgent; per executor: in work, accepted, overdue; the unassigned. The period filters the registration time."""
    c, b = t.requests.c, t.buildings.c
    f = cf.base
    where = [c.org_id == org_id, c.status.in_(OPEN)]
    if f.registered_from is not None:
        where.append(c.registered_at >= f.registered_from)
    if f.registered_to is not None:
        where.append(c.registered_at < f.registered_to)
    if f.work_type:
        where.append(c.work_type.in_(f.work_type))
    if f.urgency:
        where.append(c.urgency == f.urgency)
    if f.assignee_id is not None:
        where.append(c.assignee_id == f.assignee_id)
    if f.unassigned:
        where.append(c.assignee_id.is_(None))
    if f.building_id is not None:
        where.append(c.building_id == f.building_id)
    where.extend(_console_where(org_id, cf))
    with engine.connect() as conn:
        places = building_ids_query(org_id, f)
        if places is not None:
            where.append(c.building_id.in_(list(conn.scalars(places))))
        grouped = _grouped(conn, where, now)
        buildings = {row.id: row for row in conn.execute(
            sa.select(b.id, b.street, b.house, b.korpus, b.city_id, b.complex_id).where(b.org_id == org_id))}
        cities = dict(conn.execute(sa.select(t.cities.c.id, t.cities.c.name).where(t.cities.c.org_id == org_id)).all())
        complexes = dict(conn.execute(sa.select(t.complexes.c.id, t.complexes.c.name)
                                      .where(t.complexes.c.org_id == org_id)).all())
        staff = dict(conn.execute(sa.select(t.staff.c.id, t.staff.c.full_name).where(t.staff.c.org_id == org_id))
                     .all())
        resp = t.responsibilities.c
        responsible: dict[tuple, int] = {}
        for row in conn.execute(sa.select(resp.building_id, resp.work_type, resp.staff_id)
                                .where(resp.org_id == org_id).order_by(resp.priority, resp.id)):
            responsible.setdefault((row.building_id, row.work_type), row.staff_id)
    out: dict[str, dict] = {k: {} for k in ("work_type", "reason", "executor", "responsible", "city", "complex",
                                             "building")}
    totals = {"open": 0, "overdue": 0, "urgent": 0, "unassigned": 0}

    def bump(kind: str, key, label, n, overdue, urgent, unassigned) -> None:
        """A row of a breakdown: keyed by what the journal filters on (a code, or an id: None where there is none),
        with the label the page shows."""
        cell = out[kind].setdefault(key, {"label": label, "open": 0, "overdue": 0, "urgent": 0, "unassigned": 0})
        cell["open"] += n
        cell["overdue"] += overdue or 0
        cell["urgent"] += urgent or 0
        cell["unassigned"] += unassigned or 0

    for work_type, n, overdue, urgent, unassigned in grouped["work_type"]:
        bump("work_type", work_type, work_type, n, overdue, urgent, unassigned)
        totals["open"] += n
        totals["overdue"] += overdue or 0
        totals["urgent"] += urgent or 0
        totals["unassigned"] += unassigned or 0
    for reason, n, overdue, urgent, unassigned in grouped["reason"]:
        bump("reason", reason or None, reason or "", n, overdue, urgent, unassigned)
    per_executor: dict = {}
    for assignee, status, n, overdue, urgent, unassigned in grouped["executor"]:
        bump("executor", assignee, staff.get(assignee, ""), n, overdue, urgent, unassigned)
        if assignee is not None:
            cell = per_executor.setdefault(assignee, {"name": staff.get(assignee, "?"), "in_work": 0, "accepted": 0,
                                                      "overdue": 0, "id": assignee})
            cell["in_work"] += n
            cell["accepted"] += n if status == "accepted" else 0
            cell["overdue"] += overdue or 0
    per_building: dict = {}
    for building_id, work_type, n, overdue, urgent, unassigned in grouped["place"]:
        person = responsible.get((building_id, work_type))
        bump("responsible", person, staff.get(person, ""), n, overdue, urgent, unassigned)
        cell = per_building.setdefault(building_id, [0, 0, 0, 0])
        for i, value in enumerate((n, overdue, urgent, unassigned)):
            cell[i] += value or 0
    for building_id, figures in per_building.items():
        building = buildings.get(building_id)
        city = building.city_id if building else None
        complex_id = building.complex_id if building else None
        bump("city", city, cities.get(city, ""), *figures)
        bump("complex", complex_id, complexes.get(complex_id, ""), *figures)
        bump("building", building_id if building else None, _address(building), *figures)
    ordered = {kind: sorted(cells.items(), key=lambda kv: (-kv[1]["open"], kv[1]["label"] or "\uffff", str(kv[0])))
               for kind, cells in out.items()}
    return {"totals": totals, "by": ordered,
            "executors": sorted(per_executor.values(), key=lambda e: (-e["overdue"], -e["in_work"], e["name"]))}


def _address(building) -> str:
    if building is None:
        return ""
    korpus = f", корп. {building.korpus}" if building.korpus else ""
    return f"{building.street}, д. {building.house}{korpus}"
