"""Automatic assignment on PostgreSQL: wired into registration, 'impossible', absences and the unaccepted check."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
import sqlalchemy as sa

from journal_api.bootstrap import bootstrap
from journal_api.domain.events import Actor
from journal_api.service.requests import NewRequest
from journal_api.service.uow import MemoryPublisher
from journal_api.storage import tables as t
from request_api_support import Clock

SYSTEM = Actor.system("test")
DISPATCHER = Actor(kind="staff", role="dispatcher", name="Петрова А.С.")
MSK = timezone(timedelta(hours=3))
NOW = datetime(2026, 3, 10, 12, tzinfo=MSK)  # a Tuesday, midday


@pytest.fixture
def clock():
    return Clock(NOW)


@pytest.fixture
def c(container, settings, pg_engine, clock):
    """The real wiring with a clock the test moves (container truncated the tables)."""
    return bootstrap(settings, publisher=MemoryPublisher(), engine=pg_engine, clock=clock)


@pytest.fixture
def place(c, org, building):
    return org, building


def _tech(c, org, name: str, phone: str, *, building=None, priority: int = 1, work_type: str = "water"):
    staff = c.registry.upsert_staff(org.id, SYSTEM, {"full_name": name, "role": "technician", "phone": phone})
    if building is not None:
        c.registry.add_responsibility(org.id, SYSTEM, building.id, work_type, staff.id, priority)
    return staff


def _on_shift(c, org, staff, start: datetime = NOW - timedelta(hours=4), hours: int = 24, kind: str = "shift"):
    c.schedules.add_shift(org.id, SYSTEM, staff.id, start, start + timedelta(hours=hours), kind)


def _register(c, org, building, urgency: str = "emergency", work_type: str = "water"):
    return c.requests.register(org.id, DISPATCHER, NewRequest(description="Течёт труба", work_type=work_type,
                                                              urgency=urgency, building_id=building.id))


def _history(c, org, request):
    return c.requests.history(org.id, request.number, SYSTEM)



def _two_on_shift(c, org, building):
    """Антонов (priority 1) and Борисов (priority 2), both responsible for the building and on shift."""
    first = _tech(c, org, "Антонов Антон Антонович", "+7 912 000-00-05", building=building, priority=1)
    second = _tech(c, org, "Борисов Борис Борисович", "+7 912 000-00-06", building=building, priority=2)
    _on_shift(c, org, first)
    _on_shift(c, org, second)
    return first, second


def test_an_emergency_goes_to_the_responsible_technician_on_shift_with_the_reason_in_the_history(c, place):
    org, building = place
    ivanov = _tech(c, org, "Иванов Иван Петрович", "+7 912 000-00-01", building=building)
    _on_shift(c, org, ivanov)
    request = _register(c, org, building)
    assert request.assignee.id == ivanov.id and request.status == "assigned" and request.attention is None
    [assignment] = [h for h in _history(c, org, request) if h.kind == "assignment"]
    assert assignment.actor_kind == "system"
    assert assignment.note.startswith("назначен Иванов И.П.: ответственный по дому, на смене")


def test_an_absent_or_off_shift_technician_is_never_chosen(c, place):
    org, building = place
    off = _tech(c, org, "Сидоров Семён Ильич", "+7 912 000-00-02", building=building)
    sick = _tech(c, org, "Козлов Кирилл Олегович", "+7 912 000-00-03", building=building)
    at_work = _tech(c, org, "Орлов Олег Петрович", "+7 912 000-00-04", building=building, priority=3)
    _on_shift(c, org, off, NOW + timedelta(days=2))
    _on_shift(c, org, sick)
    _on_shift(c, org, at_work)
    c.schedules.add_absence(org.id, SYSTEM, sick.id, NOW - timedelta(hours=1), NOW + timedelta(days=3),
                            "sick_leave")
    for _ in range(3):
        assert _register(c, org, building).assignee.id == at_work.id


def test_priority_then_open_load_then_rotation_decide(c, place, clock):
    org, building = place
    first = _tech(c, org, "Антонов Антон Антонович", "+7 912 000-00-05", building=building, priority=1)
    second = _tech(c, org, "Борисов Борис Борисович", "+7 912 000-00-06", building=building, priority=2)
    third = _tech(c, org, "Васильев Василий Васильевич", "+7 912 000-00-07", building=building, priority=2)
    for person in (first, second, third):
        _on_shift(c, org, person)
    assert _register(c, org, building).assignee.id == first.id  # the first choice, whatever his load
    assert _register(c, org, building).assignee.id == first.id
    c.schedules.add_absence(org.id, SYSTEM, first.id, NOW, NOW + timedelta(days=1), "day_off")
    clock.now = NOW + timedelta(minutes=1)
    # His two requests went to the second-priority people: equal load, so the least recently assigned came next.
    loads = {}
    for r in c.requests.list(org.id, SYSTEM, _open()).items:
        loads[r.assignee.id] = loads.get(r.assignee.id, 0) + 1
    assert loads == {second.id: 1, third.id: 1}
    clock.now = NOW + timedelta(minutes=2)
    nxt = _register(c, org, building)
    assert nxt.assignee.id in (second.id, third.id)
    then = _register(c, org, building)
    assert {nxt.assignee.id, then.assignee.id} == {second.id, third.id}  # the rotation alternates


def _open():
    from journal_api.service.queries import RequestFilter

    return RequestFilter(status=["assigned"])


def test_no_candidate_flags_the_request_and_the_registration_entry_says_why(c, place, clock):
    org, building = place
    ivanov = _tech(c, org, "Иванов Иван Петрович", "+7 912 000-00-01", building=building)
    _on_shift(c, org, ivanov, NOW + timedelta(hours=6))
    request = _register(c, org, building)
    assert request.assignee is None and request.status == "new" and request.attention == "no_candidate"
    [created] = _history(c, org, request)
    assert "никто из ответственных за «Водоснабжение» не на смене" in created.note
    assert "Иванов И.П. — не на смене" in created.note
    clock.now = NOW + timedelta(hours=7)
    again = c.requests.auto_assign(org.id, request.number, DISPATCHER)
    assert again.assignee.id == ivanov.id and again.attention is None


def test_a_request_nobody_is_responsible_for_is_flagged(c, place):
    org, building = place
    request = _register(c, org, building, work_type="elevator")
    assert request.attention == "no_candidate"
    assert "нет ответственного по дому за «Лифт»" in _history(c, org, request)[0].note


def test_a_request_declared_impossible_goes_to_another_technician(c, place):
    org, building = place
    first, second = _two_on_shift(c, org, building)
    request = _register(c, org, building)
    assert request.assignee.id == first.id
    him = Actor(kind="staff", role="technician", id=first.id, name="Антонов А.А.")
    moved = c.requests.transition(org.id, request.number, him, "api", "impossible", reason="Нет доступа в подвал")
    assert moved.assignee.id == second.id and moved.status == "assigned"
    note = [h for h in _history(c, org, request) if h.kind == "assignment"][-1].note
    assert note.startswith("переназначение (Антонов А.А.: невозможно выполнить); назначен Борисов Б.Б.")


def test_impossible_with_nobody_else_stays_impossible_and_is_flagged(c, place):
    org, building = place
    only = _tech(c, org, "Антонов Антон Антонович", "+7 912 000-00-05", building=building)
    _on_shift(c, org, only)
    request = _register(c, org, building)
    moved = c.requests.transition(org.id, request.number, DISPATCHER, "api", "impossible", reason="Нет деталей")
    assert moved.status == "impossible" and moved.assignee.id == only.id and moved.attention == "no_candidate"


def test_an_absence_from_now_moves_assigned_and_accepted_requests_to_a_colleague(c, place, clock):
    org, building = place
    first, second = _two_on_shift(c, org, building)
    assigned, accepted = _register(c, org, building), _register(c, org, building)
    c.requests.transition(org.id, accepted.number, DISPATCHER, "api", "accepted")
    clock.now = NOW + timedelta(minutes=30)
    c.schedules.add_absence(org.id, SYSTEM, first.id, NOW + timedelta(minutes=20), NOW + timedelta(days=5),
                            "sick_leave")
    for r in (assigned, accepted):
        now = c.requests.get(org.id, r.number, SYSTEM)
        assert now.assignee.id == second.id and now.status == "assigned"
        note = [h for h in _history(c, org, r) if h.kind == "assignment"][-1].note
        assert note.startswith("переназначение (Антонов А.А. отсутствует)")


def test_an_unaccepted_request_is_reassigned_once_after_the_limit(c, place, clock):
    org, building = place
    first, second = _two_on_shift(c, org, building)
    request = _register(c, org, building)
    clock.now = NOW + timedelta(minutes=14)
    assert c.assignment.reassign_unaccepted() == 0  # emergencies wait 15 minutes by default
    clock.now = NOW + timedelta(minutes=16)
    assert c.assignment.reassign_unaccepted() == 1
    assert c.assignment.reassign_unaccepted() == 0  # the new assignee has his own 15 minutes
    moved = c.requests.get(org.id, request.number, SYSTEM)
    assert moved.assignee.id == second.id
    assert [h.note for h in _history(c, org, request) if h.kind == "assignment"][-1].startswith(
        "переназначение (Антонов А.А.: заявка не принята вовремя)")


def test_an_unaccepted_request_nobody_else_can_take_is_kept_and_flagged_once(c, place, clock):
    org, building = place
    only = _tech(c, org, "Антонов Антон Антонович", "+7 912 000-00-05", building=building)
    _on_shift(c, org, only)
    with c.engine.begin() as conn:
        conn.execute(sa.update(t.organisations).values(settings={"reassign_unaccepted_minutes": 5}))
    request = _register(c, org, building, urgency="normal")
    clock.now = NOW + timedelta(minutes=6)
    assert c.assignment.reassign_unaccepted() == 1
    assert c.assignment.reassign_unaccepted() == 0
    kept = c.requests.get(org.id, request.number, SYSTEM)
    assert kept.assignee.id == only.id and kept.attention == "not_accepted"
    flags = [h for h in _history(c, org, request) if h.field == "attention"]
    assert len(flags) == 1 and flags[0].note.startswith("переназначение (Антонов А.А.: заявка не принята вовремя); "
                                                        "другого исполнителя нет, остаётся Антонов А.А.")


def test_the_auto_assign_endpoint_is_for_dispatchers_and_above(c, place, make_token):
    from journal_api.app import create_app

    org, building = place
    ivanov = _tech(c, org, "Иванов Иван Петрович", "+7 912 000-00-01", building=building)
    request = _register(c, org, building)
    assert request.attention == "no_candidate"
    _on_shift(c, org, ivanov)
    client = create_app(c).test_client()
    tech = make_token(role="technician", staff_id=ivanov.id)
    assert client.post(f"/api/v1/requests/{request.number}/auto-assign", headers=tech).status_code == 403
    r = client.post(f"/api/v1/requests/{request.number}/auto-assign", headers=make_token(role="dispatcher"))
    assert r.status_code == 200, r.get_json()
    body = r.get_json()
    assert body["assignee"]["id"] == ivanov.id
    assert body["status"] == "assigned" and body["attention"] is None


def test_two_workers_checking_unaccepted_requests_at_once_reassign_each_request_once(c, place, clock):
    import threading

    org, building = place
    first, second = _two_on_shift(c, org, building)
    requests = [_register(c, org, building) for _ in range(20)]
    clock.now = NOW + timedelta(minutes=20)
    barrier, counts = threading.Barrier(2), []

    def worker():
        barrier.wait()
        counts.append(c.assignment.reassign_unaccepted())

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sum(counts) == 20
    for request in requests:
        entries = [h for h in _history(c, org, request) if h.kind == "assignment"]
        assert len(entries) == 2 and entries[-1].new_value == "Борисов Борис Борисович"


def test_unaccepted_requests_are_reassigned_on_sqlite_too(sqlite_container, clock):
    c = bootstrap(sqlite_container.settings, publisher=MemoryPublisher(), clock=clock)
    try:
        org = c.registry.create_organisation("lite", "УК Лайт", "Europe/Moscow")
        building = c.registry.upsert_building(org.id, SYSTEM, {
            "building_id": "L-1", "city": "Москва", "street": "ул. Мира", "house": "1", "entrances": 1, "floors": 5,
            "apartments": 20})
        first = _tech(c, org, "Антонов Антон Антонович", "+7 912 000-00-05", building=building, priority=1)
        second = _tech(c, org, "Борисов Борис Борисович", "+7 912 000-00-06", building=building, priority=2)
        _on_shift(c, org, first)
        _on_shift(c, org, second)
        request = _register(c, org, building)
        assert request.assignee.id == first.id
        clock.now = NOW + timedelta(minutes=16)
        assert c.assignment.reassign_unaccepted() == 1
        assert c.requests.get(org.id, request.number, SYSTEM).assignee.id == second.id
    finally:
        c.dispose()
