"""A week of a real-sized service on PostgreSQL: 30 technicians on generated rotas in 40 buildings, 500 requests
registered over the week on a moving clock, and every automatic assignment checked against the schedule."""
from __future__ import annotations

import random
from datetime import date, datetime, timedelta, timezone

import pytest
import sqlalchemy as sa

from journal_api.bootstrap import bootstrap
from journal_api.domain.events import Actor
from journal_api.service.requests import NewRequest
from journal_api.service.schedules import RotaRequest
from journal_api.service.uow import MemoryPublisher
from journal_api.storage import tables as t
from request_api_support import Clock

SYSTEM = Actor.system("test")
DISPATCHER = Actor(kind="staff", role="dispatcher", name="Петрова А.С.")
MSK = timezone(timedelta(hours=3))
WEEK_START = datetime(2026, 3, 9, 0, tzinfo=MSK)  # Monday 9 March 2026
WORK_TYPES = ("water", "heating", "electricity", "elevator")
HORIZON = timedelta(days=3)  # domain.assignment.DEFAULT_HORIZON


def _covers(period, at: datetime) -> bool:
    return period.starts_at <= at < period.ends_at


@pytest.fixture
def week(container, settings, pg_engine, org):
    clock = Clock(WEEK_START - timedelta(days=1))
    c = bootstrap(settings, publisher=MemoryPublisher(), engine=pg_engine, clock=clock)
    rnd = random.Random(20260309)
    staff = [c.registry.upsert_staff(org.id, SYSTEM, {
        "full_name": f"Техник{i:02d} Иван Петрович", "role": "technician", "phone": f"+7 912 100-{i:02d}-00"})
        for i in range(30)]
    for i, person in enumerate(staff):
        if i < 12:
            rota = RotaRequest(person.id, "one_day_in_four", date(2026, 3, 5 + i % 4), date(2026, 3, 16))
        elif i < 20:
            rota = RotaRequest(person.id, "one_day_in_three", date(2026, 3, 6 + i % 3), date(2026, 3, 16))
        elif i < 26:
            rota = RotaRequest(person.id, "day_shift", date(2026, 3, 8), date(2026, 3, 16))
        else:
            rota = RotaRequest(person.id, "on_call", date(2026, 3, 8), date(2026, 3, 16))
        c.schedules.generate_rota(org.id, SYSTEM, rota)
    for person in staff[:3]:  # on vacation all week
        c.schedules.add_absence(org.id, SYSTEM, person.id, WEEK_START, WEEK_START + timedelta(days=8), "vacation")
    buildings = [c.registry.upsert_building(org.id, SYSTEM, {
        "building_id": f"B-{b}", "city": "Москва", "street": "ул. Ленина", "house": str(b + 1),
        "entrances": 2, "floors": 5, "apartments": 40}) for b in range(40)]
    for building in buildings:
        for work_type in WORK_TYPES:
            for priority, person in enumerate(rnd.sample(staff, 3), start=1):
                c.registry.add_responsibility(org.id, SYSTEM, building.id, work_type, person.id, priority)
    return c, clock, rnd, staff, buildings


def test_a_week_of_requests_is_assigned_only_to_responsible_staff_at_work(week, org):
    c, clock, rnd, staff, buildings = week
    results = []
    sick, sick_from = staff[5], None
    for i in range(500):
        clock.now = WEEK_START + timedelta(minutes=i * 7 * 24 * 60 // 500 + rnd.randint(0, 10))
        if i == 250:
            sick_from = clock.now
            c.schedules.add_absence(org.id, DISPATCHER, sick.id, sick_from, sick_from + timedelta(days=2),
                                    "sick_leave")
        building, work_type = rnd.choice(buildings), rnd.choice(WORK_TYPES)
        urgency = "emergency" if rnd.random() < 0.3 else "normal"
        request = c.requests.register(org.id, DISPATCHER, NewRequest(
            description="Заявка", work_type=work_type, urgency=urgency, building_id=building.id))
        results.append((request, clock.now))

    with c.engine.connect() as conn:
        shifts = conn.execute(sa.select(t.shifts)).all()
        absences = conn.execute(sa.select(t.absences)).all()
        responsible: dict = {}
        for row in conn.execute(sa.select(t.responsibilities)).all():
            responsible.setdefault((row.building_id, row.work_type), set()).add(row.staff_id)
        now_with = dict(conn.execute(sa.select(t.requests.c.id, t.requests.c.assignee_id)).all())
        attention = dict(conn.execute(sa.select(t.requests.c.id, t.requests.c.attention)).all())

    def absent(staff_id, at, now):
        """Absent at `at` as known at `now`: the sick leave was entered when it began."""
        return any(a.staff_id == staff_id and _covers(a, at) and (a.kind != "sick_leave" or now >= a.starts_at)
                   for a in absences)

    def at_work(staff_id, at, kinds):
        return any(s.staff_id == staff_id and s.kind in kinds and _covers(s, at) for s in shifts) \
            and not absent(staff_id, at, at)

    def back_at(staff_id, moment, now):
        """The first moment from `moment` on when the person is not absent."""
        while (away := [a for a in absences if a.staff_id == staff_id and _covers(a, moment)
                        and (a.kind != "sick_leave" or now >= a.starts_at)]):
            moment = max(a.ends_at for a in away)
        return moment

    def on_shift_before(staff_id, now, until):
        return any(s.staff_id == staff_id and s.kind == "shift" and s.starts_at < until and s.ends_at > now
                   and back_at(staff_id, max(s.starts_at, now), now) < min(s.ends_at, until) for s in shifts)

    assigned = 0
    for request, now in results:
        people = responsible[(request.building.id, request.work_type)]
        until = request.due_at if request.due_at and request.due_at > now else now + HORIZON
        if request.urgency == "emergency":
            eligible = {p for p in people if at_work(p, now, ("shift", "on_call"))}
        else:
            eligible = {p for p in people if on_shift_before(p, now, until)}
        if request.assignee is not None:
            assigned += 1
            who = request.assignee.id
            assert who in people, f"request {request.number}: {who} is not responsible"
            if request.urgency == "emergency":  # a normal request may wait for someone back before its deadline
                assert not absent(who, now, now), f"request {request.number}: {who} is absent at {now}"
            assert who in eligible, f"request {request.number}: {who} is not at work in time"
            if request.urgency == "emergency" and any(at_work(p, now, ("shift",)) for p in people):
                assert at_work(who, now, ("shift",)), f"request {request.number}: on call chosen over on shift"
        else:
            assert request.attention == "no_candidate"
            assert not eligible, f"request {request.number} left unassigned though {eligible} could take it"
    assert assigned >= 350, f"only {assigned} of 500 assigned"
    his = [r for r, at in results if at < sick_from and r.assignee is not None and r.assignee.id == sick.id]
    assert his, "the scenario should give the sick technician requests before his leave"
    for r in his:  # the sick leave moved them to colleagues, or flagged those nobody else could take
        assert now_with[r.id] != sick.id or attention[r.id] == "no_candidate"
    vacation = {p.id for p in staff[:3]}
    assert not any(r.assignee is not None and r.assignee.id in vacation for r, _ in results)
