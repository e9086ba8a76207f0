"""Schedules: shifts, absences and generated rotas of the staff. Every write is checked by domain.schedule (no two
shifts of one person overlap, absences are not over), audited, and written whole or not at all.

Admins, managers and dispatchers write (a dispatcher enters this morning's sick leave); a technician reads his own.
An absence that covers now moves the technician's assigned and accepted requests to someone at work, in the same
transaction (see AssignmentService.reassign_staff_requests).
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time
from typing import Callable

import sqlalchemy as sa

from ..domain import schedule as sch
from ..domain.errors import Forbidden, ValidationError
from ..domain.events import Actor
from ..domain.registry import Absence, Organisation, Shift, Staff, check_timezone
from ..storage import tables as t
from .assignment import AssignmentService
from .registry import _owned
from .uow import UnitOfWork

WRITERS = ("admin", "manager", "dispatcher", "system")
# Named patterns of POST /rotas; a pattern may also be given as an object (domain.schedule.pattern_from_dict).
PATTERNS = {
    "one_day_in_four": lambda first, start, end: (sch.one_day_in_four(first, start),),  # сутки через трое
    "one_day_in_three": lambda first, start, end: (sch.one_day_in_three(first, start),),  # сутки через двое
    "day_shift": lambda first, start, end: (sch.day_shift(start, end),),  # 8-17 on working days
    "on_call": lambda first, start, end: sch.on_call_at_home(start, end),  # дежурство на дому off working hours
}


@dataclass
class RotaRequest:
    staff_id: int
    pattern: str | dict
    start_date: date
    end_date: date
    start: time = time(8)  # of the named patterns: the shift's (or the working day's) start, local
    end: time = time(17)  # of day_shift and on_call: the working day's end, local
    timezone: str | None = None  # default: the organisation's


class ScheduleService:
    def __init__(self, uow_factory: Callable[[], UnitOfWork], assignment: AssignmentService,
                 calendar_loader: Callable):
        self.uow = uow_factory
        self.assignment = assignment
        self._load_calendar = calendar_loader
        self._calendar = None

    # -- reading -------------------------------------------------------------------------------------------------
    def list_shifts(self, org_id: int, actor: Actor, *, staff_id: int | None = None, start: datetime | None = None,
                    end: datetime | None = None) -> list[Shift]:
        return self._list(Shift, t.shifts, org_id, actor, staff_id, start, end)

    def list_absences(self, org_id: int, actor: Actor, *, staff_id: int | None = None,
                      start: datetime | None = None, end: datetime | None = None) -> list[Absence]:
        return self._list(Absence, t.absences, org_id, actor, staff_id, start, end)

    def _list(self, cls, table, org_id, actor, staff_id, start, end) -> list:
        if actor.role == "technician":
            if staff_id is not None and staff_id != actor.id:
                raise Forbidden("A technician sees only his own schedule.", field="staff_id")
            staff_id = actor.id
        c = table.c
        stmt = sa.select(cls).where(c.org_id == org_id)
        if staff_id is not None:
            stmt = stmt.where(c.staff_id == staff_id)
        if start is not None:
            stmt = stmt.where(c.ends_at > start)
        if end is not None:
            stmt = stmt.where(c.starts_at < end)
        with self.uow() as uow:
            return list(uow.session.scalars(stmt.order_by(c.starts_at, c.staff_id, c.id)))

    # -- writing -------------------------------------------------------------------------------------------------
    def add_shift(self, org_id: int, actor: Actor, staff_id: int, starts_at: datetime, ends_at: datetime,
                  kind: str = sch.SHIFT) -> Shift:
        sch.check_period(starts_at, ends_at, "shift")
        shifts = self._add_shifts(org_id, actor, staff_id, [sch.Slot(staff_id, starts_at, ends_at, kind)], None)
        return shifts[0]

    def generate_rota(self, org_id: int, actor: Actor, rota: RotaRequest) -> list[Shift]:
        """Lay out a pattern for one person over [start_date, end_date] (local days) and write its shifts."""
        if rota.timezone is not None:
            check_timezone(rota.timezone)
        patterns = _patterns(rota)
        return self._add_shifts(org_id, actor, rota.staff_id, patterns, rota)

    def _add_shifts(self, org_id: int, actor: Actor, staff_id: int, slots_or_patterns, rota: RotaRequest | None):
        _require_writer(actor)
        with self.uow() as uow:
            staff = _locked_staff(uow, org_id, staff_id)
            tz = (rota.timezone if rota else None) or uow.session.get(Organisation, org_id).timezone
            if rota is None:
                slots = slots_or_patterns
            else:
                slots = sch.generate(slots_or_patterns, staff.id, rota.start_date, rota.end_date, tz,
                                     is_working_day=self.calendar().is_working_day)
            if not slots:
                raise ValidationError("The pattern gives no shift in that period; widen the period.",
                                      field="end_date")
            c = t.shifts.c
            existing = uow.session.execute(sa.select(c.staff_id, c.starts_at, c.ends_at, c.kind).where(
                c.staff_id == staff.id, c.starts_at < max(s.ends_at for s in slots),
                c.ends_at > min(s.starts_at for s in slots))).all()
            sch.check_no_overlap([*existing, *slots], tz)
            shifts = [Shift(org_id, staff.id, s.starts_at, s.ends_at, s.kind) for s in slots]
            uow.session.add_all(shifts)
            uow.session.flush()
            what = {"staff_id": staff.id, "count": len(shifts), "from": slots[0].starts_at,
                    "to": slots[-1].ends_at}
            if rota is not None:
                what["pattern"] = rota.pattern
            uow.audit(org_id, actor, "shift", shifts[0].id if len(shifts) == 1 else None,
                      "create" if rota is None else "generate", what)
            uow.commit()
            return shifts

    def delete_shift(self, org_id: int, actor: Actor, shift_id: int) -> None:
        self._delete(Shift, "shift", org_id, actor, shift_id)

    def add_absence(self, org_id: int, actor: Actor, staff_id: int, starts_at: datetime, ends_at: datetime,
                    kind: str) -> Absence:
        """Record an absence; if it covers now, the person's open requests go to someone at work."""
        _require_writer(actor)
        with self.uow() as uow:
            now = uow.clock()
            sch.check_absence(starts_at, ends_at, now)
            staff = _locked_staff(uow, org_id, staff_id)
            absence = Absence(org_id, staff.id, starts_at, ends_at, kind)
            uow.session.add(absence)
            uow.session.flush()
            moved = 0
            if starts_at <= now < ends_at and staff.role == "technician":
                moved = self.assignment.reassign_staff_requests(uow, org_id, staff.id, now)
            uow.audit(org_id, actor, "absence", absence.id, "create",
                      {"staff_id": staff.id, "kind": kind, "starts_at": starts_at, "ends_at": ends_at,
                       "reassigned": moved})
            uow.commit()
            return absence

    def delete_absence(self, org_id: int, actor: Actor, absence_id: int) -> None:
        self._delete(Absence, "absence", org_id, actor, absence_id)

    def _delete(self, cls, entity: str, org_id: int, actor: Actor, obj_id: int) -> None:
        _require_writer(actor)
        with self.uow() as uow:
            obj = _owned(uow, cls, org_id, obj_id, entity.capitalize())
            uow.audit(org_id, actor, entity, obj_id, "delete",
                      {"staff_id": obj.staff_id, "starts_at": obj.starts_at, "ends_at": obj.ends_at,
                       "kind": obj.kind})
            uow.session.delete(obj)
            uow.commit()

    def calendar(self):
        """The production calendar, read from the rules files on first use (nothing is read at import time)."""
        if self._calendar is None:
            self._calendar = self._load_calendar()
        return self._calendar


def _require_writer(actor: Actor) -> None:
    if actor.role not in WRITERS:
        raise Forbidden(f"The role '{actor.role}' cannot change schedules; ask a dispatcher, manager or admin.")


def _locked_staff(uow: UnitOfWork, org_id: int, staff_id: int) -> Staff:
    """The staff member, row-locked: two writers of one person's schedule queue up, so no overlap slips through."""
    staff = _owned(uow, Staff, org_id, staff_id, "Staff member")
    uow.session.execute(sa.select(t.staff.c.id).where(t.staff.c.id == staff.id).with_for_update())
    return staff


def _patterns(rota: RotaRequest) -> tuple:
    if isinstance(rota.pattern, dict):
        return (sch.pattern_from_dict(rota.pattern),)
    make = PATTERNS.get(rota.pattern)
    if make is None:
        raise ValidationError(f"'{rota.pattern}' is not a pattern. Use one of: {', '.join(PATTERNS)}, or an "
                              "object such as {\"type\": \"rota\", \"first_day\": ..., \"every_days\": 4}.",
                              field="pattern")
    return make(rota.start_date, rota.start, rota.end)
