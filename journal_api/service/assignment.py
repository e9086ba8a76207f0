"""Automatic assignment: gather the candidates for domain.assignment and apply its decision to a request.

Runs inside the caller's unit of work (registration, a declared 'impossible', a new absence, the periodic check of
unaccepted requests), so the request and its assignment are written in one transaction. The Russian explanation of
each decision goes into the request's history: as the assignment's note, or as the note of the `attention` flag
("no_candidate", "not_accepted") when nobody (else) can take the request.
"""
from __future__ import annotations

import functools
from datetime import datetime, timedelta
from typing import Callable

import sqlalchemy as sa

from ..catalogue import catalogue, label
from ..domain.assignment import Candidate, Decision, RequestFacts, decide, explain, is_feminine_name, reassign
from ..domain.events import Actor
from ..domain.registry import Organisation, Staff
from ..domain.request import Request
from ..domain.schedule import availability
from ..domain.status import OPEN_STATUSES, Status
from ..storage import tables as t
from .uow import UnitOfWork

AUTO = Actor.system("auto-assignment")
CHANNEL = "system"
NO_CANDIDATE, NOT_ACCEPTED = "no_candidate", "not_accepted"
LOADED = sorted(s.value for s in OPEN_STATUSES - {Status.NEW})  # what counts as a person's open load
# The default minutes a request may stay assigned and not accepted; organisations.settings
# ["reassign_unaccepted_minutes"] overrides it with a number (all urgencies) or {"emergency": 10, "normal": 60}.
UNACCEPTED_MINUTES = {"emergency": 15, "normal": 120}


class AssignmentService:
    def __init__(self, uow_factory: Callable[[], UnitOfWork]):
        self.uow = uow_factory

    def auto_assign(self, uow: UnitOfWork, org_id: int, request: Request, now: datetime, *,
                    trigger: str | None = None, people: list | None = None) -> Decision:
        """Choose and assign in `uow`'s transaction. With a trigger (absent, impossible, not_accepted) the current
        assignee is moved away from; without one the choice is made afresh among all responsible staff.
        ``people``: the responsible technicians when the caller has already read them in this transaction
        (registration reads them with its references: registration.Person rows); None: read them here."""
        org = uow.session.get(Organisation, org_id)
        facts = RequestFacts(request.urgency, label("work_types", request.work_type), now,
                             request.due_at if request.due_at and request.due_at > now else None, org.timezone)
        candidates = self._candidates(uow, org_id, request, facts, people)
        current = request.assignee
        if trigger is not None and current is not None:
            decision = reassign(facts, candidates, current.id, current.short_name, trigger)
        else:
            decision = decide(facts, candidates)
        self._apply(uow, request, decision, now)
        return decision

    def reassign_staff_requests(self, uow: UnitOfWork, org_id: int, staff_id: int, now: datetime) -> int:
        """A technician is away from now on: his assigned and also his accepted requests go to someone at work.
        An accepted request is moved too: nobody works on it while he is away, and the deadline runs. Postponed
        ones stay, as they wait for their date anyway."""
        r = t.requests.c
        stmt = sa.select(Request).where(r.org_id == org_id, r.assignee_id == staff_id,
                                        r.status.in_([Status.ASSIGNED.value, Status.ACCEPTED.value])) \
            .order_by(r.id).with_for_update(of=t.requests)
        moved = 0
        for request in list(uow.session.scalars(stmt).unique()):
            moved += self.auto_assign(uow, org_id, request, now, trigger="absent").code == "assigned"
        return moved

    def reassign_unaccepted(self, now: datetime | None = None, *, batch: int = 200) -> int:
        """Reassign the requests left assigned but not accepted past the organisation's limit. Idempotent: a
        reassigned request starts a new wait; one that cannot move is flagged and left alone. Several workers skip
        each other's locked rows (FOR UPDATE SKIP LOCKED on PostgreSQL)."""
        done = 0
        with self.uow() as uow:
            now = now or uow.clock()
            o, r = t.organisations.c, t.requests.c
            for org_id, settings in uow.session.execute(sa.select(o.id, o.settings).order_by(o.id)).all():
                late = sa.or_(*[sa.and_(r.urgency == urgency, r.assigned_at < now - timedelta(minutes=minutes))
                                for urgency, minutes in unaccepted_minutes(settings).items()])
                stmt = sa.select(Request).where(
                    r.org_id == org_id, r.status == Status.ASSIGNED.value, r.accepted_at.is_(None),
                    r.attention.is_(None), late).order_by(r.assigned_at).limit(batch) \
                    .with_for_update(of=t.requests, skip_locked=True)
                for request in list(uow.session.scalars(stmt).unique()):
                    self.auto_assign(uow, org_id, request, now, trigger="not_accepted")
                    done += 1
            uow.commit()
        return done

    # -- the pieces ------------------------------------------------------------------------------------------------
    def _candidates(self, uow: UnitOfWork, org_id: int, request: Request, facts: RequestFacts,
                    people: list | None = None) -> list[Candidate]:
        if request.building is None:
            return []
        if people is None:
            people = uow.session.connection().execute(_people_statement(), {
                "org_id": org_id, "building_id": request.building.id, "work_type": request.work_type}).all()
        if not people:
            return []
        ids = [row.id for row in people]
        loads = _open_loads(uow, org_id, ids, getattr(request, "id", None))
        until = facts.until()
        shifts, absences = _periods(uow, t.shifts, ids, facts.now, until), _periods(uow, t.absences, ids, facts.now,
                                                                                   until)
        return [Candidate(row.id, Staff.short_name.fget(row), row.priority, loads.get(row.id, 0),
                          availability(shifts.get(row.id, ()), absences.get(row.id, ()), row.id, facts.now, until),
                          row.last_assigned_at, is_feminine_name(row.full_name)) for row in people]

    def _apply(self, uow: UnitOfWork, request: Request, decision: Decision, now: datetime) -> None:
        text = explain(decision, catalogue()["assignment"])
        if decision.code == "kept":
            request.flag(NOT_ACCEPTED, AUTO, CHANNEL, now, note=text)
        elif decision.chosen is not None:
            request.assign(uow.session.get(Staff, decision.staff_id), AUTO, CHANNEL, now, reason=text)
            request.flag(None, AUTO, CHANNEL, now)
        else:
            request.flag(NO_CANDIDATE, AUTO, CHANNEL, now, note=text)
        uow.track(request)


def unaccepted_minutes(settings: dict | None) -> dict[str, int]:
    value = (settings or {}).get("reassign_unaccepted_minutes")
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return {urgency: int(value) for urgency in UNACCEPTED_MINUTES}
    if isinstance(value, dict):
        return {**UNACCEPTED_MINUTES, **{k: int(v) for k, v in value.items() if k in UNACCEPTED_MINUTES}}
    return dict(UNACCEPTED_MINUTES)


@functools.lru_cache(maxsize=1)
def _people_statement() -> sa.Select:
    """Built once (registration runs it for every request): building a statement costs more than running it."""
    s, p = t.staff.c, t.responsibilities.c
    return sa.select(s.id, s.full_name, s.last_assigned_at, p.priority) \
        .join_from(t.responsibilities, t.staff, p.staff_id == s.id) \
        .where(p.org_id == sa.bindparam("org_id"), p.building_id == sa.bindparam("building_id"),
               p.work_type == sa.bindparam("work_type"), s.active.is_(True), s.role == "technician")


def _open_loads(uow: UnitOfWork, org_id: int, ids: list[int], request_id: int | None) -> dict[int, int]:
    """Open requests per person in one grouped query (the request being decided does not count)."""
    r = t.requests.c
    stmt = sa.select(r.assignee_id, sa.func.count()).where(
        r.org_id == org_id, r.assignee_id.in_(ids), r.status.in_(LOADED)).group_by(r.assignee_id)
    if request_id is not None:
        stmt = stmt.where(r.id != request_id)
    return dict(uow.session.execute(stmt).all())


def _periods(uow: UnitOfWork, table: sa.Table, ids: list[int], start: datetime, until: datetime) -> dict:
    """Shifts or absences of these people that touch [start, until), by person."""
    c = table.c
    rows = uow.session.execute(sa.select(c.staff_id, c.starts_at, c.ends_at, c.kind).where(
        c.staff_id.in_(ids), c.starts_at < until, c.ends_at > start)).all()
    grouped: dict[int, list] = {}
    for row in rows:
        grouped.setdefault(row.staff_id, []).append(row)
    return grouped

