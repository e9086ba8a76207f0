"""Registration reads the candidates of automatic assignment with its references (one statement): the same people
as the assignment's own candidate query, on PostgreSQL and on SQLite."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from journal_api.bootstrap import bootstrap
from journal_api.domain.events import Actor
from journal_api.service.registration import references_and_number
from journal_api.service.requests import NewRequest
from journal_api.service.uow import MemoryPublisher
from request_api_support import Clock

SYSTEM = Actor.system("test")
DISPATCHER = Actor(kind="staff", role="dispatcher", name="Петрова А.С.")
NOW = datetime(2026, 3, 10, 12, tzinfo=timezone(timedelta(hours=3)))


@pytest.fixture
def c(container, settings, pg_engine):
    return bootstrap(settings, publisher=MemoryPublisher(), engine=pg_engine, clock=Clock(NOW))


def _tech(c, org, name, phone, building, work_type="water", priority=1):
    staff = c.registry.upsert_staff(org.id, SYSTEM, {"full_name": name, "role": "technician", "phone": phone})
    c.registry.add_responsibility(org.id, SYSTEM, building.id, work_type, staff.id, priority)
    c.schedules.add_shift(org.id, SYSTEM, staff.id, NOW - timedelta(hours=4), NOW + timedelta(hours=20), "shift")
    return staff


def _people(c, org, building, work_type="water", **by):
    with c.uow() as uow:
        refs = references_and_number(uow, org.id, work_type, by.get("building_id", building.id),
                                     by.get("building_code"), with_people=True)
        return sorted((p.id, p.priority) for p in refs.people)


def _scene(c, org, building):
    other = c.registry.upsert_building(org.id, SYSTEM, {
        "building_id": "B-2", "city": "Москва", "street": "ул. Мира", "house": "3", "entrances": 1, "floors": 5,
        "apartments": 20})
    gone = _tech(c, org, "Андреев Андрей Андреевич", "+7 912 000-00-11", building, priority=1)
    c.registry.update_staff(org.id, SYSTEM, gone.id, {"active": False})
    elsewhere = _tech(c, org, "Васильев Василий Васильевич", "+7 912 000-00-12", other, priority=1)
    heating = _tech(c, org, "Григорьев Григорий Григорьевич", "+7 912 000-00-13", building, "heating", priority=1)
    first = _tech(c, org, "Борисов Борис Борисович", "+7 912 000-00-14", building, priority=2)
    second = _tech(c, org, "Дмитриев Дмитрий Дмитриевич", "+7 912 000-00-15", building, priority=3)
    return gone, elsewhere, heating, first, second


def _check(c, org, building):
    gone, elsewhere, heating, first, second = _scene(c, org, building)
    # only the active technicians responsible for this building and work type, with their priorities
    assert _people(c, org, building) == [(first.id, 2), (second.id, 3)]
    assert _people(c, org, building, building_id=None, building_code="B-1") == [(first.id, 2), (second.id, 3)]
    assert _people(c, org, building, "heating") == [(heating.id, 1)]
    assert _people(c, org, building, "gas") == []
    request = c.requests.register(org.id, DISPATCHER, NewRequest(description="Течёт труба", work_type="water",
                                                                 urgency="emergency", building_code="B-1"))
    assert request.assignee.id == first.id and request.status == "assigned"  # not the inactive one, priority 1
    nobody = c.requests.register(org.id, DISPATCHER, NewRequest(description="Пахнет газом", work_type="gas",
                                                                urgency="emergency", building_id=building.id))
    assert nobody.assignee is None and nobody.attention == "no_candidate"
    assert (request.number, nobody.number) == (1, 2)  # the counter still taken once per registration


def test_registration_reads_the_same_candidates_as_the_assignment(c, org, building):
    _check(c, org, building)


def test_registration_reads_the_candidates_on_sqlite_too(sqlite_container):
    c = bootstrap(sqlite_container.settings, publisher=MemoryPublisher(), clock=Clock(NOW))
    try:
        org = c.registry.create_organisation("lite", "УК Лайт", "Europe/Moscow")
        building = c.registry.upsert_building(org.id, SYSTEM, {
            "building_id": "B-1", "city": "Москва", "street": "ул. Ленина", "house": "10", "entrances": 4,
            "floors": 9, "apartments": 144})
        _check(c, org, building)
    finally:
        c.dispose()
