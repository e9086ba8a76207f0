"""Read side of the console: the journal's list with every Monitor filter, and the Monitor itself (seed: "Монитор").

The list reuses the API's query (``queries.build_list_query``: the same indexes, the same cursor) and adds the two
filters the API does not have: the reason and the responsible person (whoever is responsible for the building and
the work type, not only the assignee). The Monitor counts the open requests through the partial index
``ix_requests_org_open``; bench/console.py measures it at 1M requests.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Callable, Iterator

import sqlalchemy as sa

from ..domain.request import Request
from ..domain.status import OPEN_STATUSES
from ..storage import tables as t
from .queries import RequestFilter, build_list_query, building_ids_query, encode_cursor, sort_key
from .uow import UnitOfWork

OPEN = sorted(s.value for s in OPEN_STATUSES)
IN_WORK = ("assigned", "accepted", "postponed", "impossible")
# "Can no longer wait": open, not overdue yet, and its deadline falls within this margin.
URGENT_MARGIN = timedelta(hours=2)


@dataclass
class ConsoleFilter:
    base: RequestFilter = field(default_factory=RequestFilter)
    reason: str | None = None
    responsible_id: int | None = None
    open_only: bool = False
    urgent: bool = False  # deadline within URGENT_MARGIN, not overdue yet


@dataclass
class Page:
    items: list[Request]
    next_cursor: str | None


def _extra(stmt, org_id: int, cf: ConsoleFilter, now: datetime):
    c = t.requests.c
    if cf.reason:
        stmt = stmt.where(c.reason == cf.reason)
    if cf.responsible_id is not None:
        r = t.responsibilities.c
        stmt = stmt.where(sa.exists().where(r.org_id == org_id, r.building_id == c.building_id,
                                            r.work_type == c.work_type, r.staff_id == cf.responsible_id))
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
        now = uow.clock()
        stmt = build_list_query(org_id, cf.base, now=now, only_assignee=None, cursor=cursor, limit=limit,
                                building_ids=ids)
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


def monitor(engine: sa.Engine, org_id: int, cf: ConsoleFilter, now: datetime) -> dict:
    """Open requests by work type, reason, executor, responsible, city, complex and building; the overdue and the
    urgent; per executor: in work, overdue; the unassigned. The period filters the registration time."""
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
    if f.building_id is not None:
        where.append(c.building_id == f.building_id)
    with engine.connect() as conn:
        places = building_ids_query(org_id, f)
        if places is not None:
            where.append(c.building_id.in_(list(conn.scalars(places))))
        if cf.reason:
            where.append(c.reason == cf.reason)
        if cf.responsible_id is not None:
            r = t.responsibilities.c
            where.append(sa.exists().where(r.org_id == org_id, r.building_id == c.building_id,
                                           r.work_type == c.work_type, r.staff_id == cf.responsible_id))
        overdue = sa.case((c.due_at < now, 1), else_=0)
        urgent = sa.case((sa.and_(c.due_at >= now, c.due_at < now + URGENT_MARGIN), 1), else_=0)
        unassigned = sa.case((c.assignee_id.is_(None), 1), else_=0)
        # One pass over the open requests, grouped finely; every breakdown below is summed from it in Python.
        grouped = conn.execute(
            sa.select(c.work_type, c.reason, c.assignee_id, c.building_id, c.status,
                      sa.func.count().label("n"), sa.func.sum(overdue).label("overdue"),
                      sa.func.sum(urgent).label("urgent"), sa.func.sum(unassigned).label("unassigned"))
            .where(*where).group_by(c.work_type, c.reason, c.assignee_id, c.building_id, c.status)).all()
        buildings = {row.id: row for row in conn.execute(
            sa.select(b.id, b.street, b.house, b.korpus, b.city_id, b.complex_id).where(b.org_id == org_id))}
        cities = dict(conn.execute(sa.select(t.cities.c.id, t.cities.c.name).where(t.cities.c.org_id == org_id)).all())
        complexes = dict(conn.execute(sa.select(t.complexes.c.id, t.complexes.c.name)
                                      .where(t.complexes.c.org_id == org_id)).all())
        staff = dict(conn.execute(sa.select(t.staff.c.id, t.staff.c.full_name).where(t.staff.c.org_id == org_id))
                     .all())
        responsible = conn.execute(sa.select(t.responsibilities.c.building_id, t.responsibilities.c.work_type,
                                             t.responsibilities.c.staff_id)
                                   .where(t.responsibilities.c.org_id == org_id)
                                   .order_by(t.responsibilities.c.priority)).all()
    first_responsible: dict[tuple, int] = {}
    for row in responsible:
        first_responsible.setdefault((row.building_id, row.work_type), row.staff_id)
    out = {k: {} for k in ("work_type", "reason", "executor", "responsible", "city", "complex", "building")}
    per_executor: dict = {}
    totals = {"open": 0, "overdue": 0, "urgent": 0, "unassigned": 0}

    def bump(kind: str, key, row) -> None:
        cell = out[kind].setdefault(key, {"open": 0, "overdue": 0, "urgent": 0})
        cell["open"] += row.n
        cell["overdue"] += row.overdue or 0
        cell["urgent"] += row.urgent or 0

    for row in grouped:
        building = buildings.get(row.building_id)
        bump("work_type", row.work_type, row)
        bump("reason", row.reason or "", row)
        bump("executor", staff.get(row.assignee_id, ""), row)
        bump("responsible", staff.get(first_responsible.get((row.building_id, row.work_type)), ""), row)
        bump("city", cities.get(building.city_id, "") if building else "", row)
        bump("complex", complexes.get(building.complex_id, "") if building else "", row)
        bump("building", _address(building), row)
        for key in ("overdue", "urgent", "unassigned"):
            totals[key] += getattr(row, key) or 0
        totals["open"] += row.n
        if row.assignee_id is not None:
            cell = per_executor.setdefault(row.assignee_id, {"name": staff.get(row.assignee_id, "?"), "in_work": 0,
                                                             "accepted": 0, "overdue": 0, "id": row.assignee_id})
            cell["in_work"] += row.n
            cell["accepted"] += row.n if row.status == "accepted" else 0
            cell["overdue"] += row.overdue or 0
    ordered = {kind: sorted(cells.items(), key=lambda kv: (-kv[1]["open"], str(kv[0])))
               for kind, cells in out.items()}
    return {"totals": totals, "by": ordered,
            "executors": sorted(per_executor.values(), key=lambda e: (-e["overdue"], -e["in_work"], e["name"]))}


def _address(building) -> str:
    if building is None:
        return ""
    korpus = f", корп. {building.korpus}" if building.korpus else ""
    return f"{building.street}, д. {building.house}{korpus}"
