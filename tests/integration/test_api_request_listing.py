"""The Monitor's list: every filter, free text in Russian, number and phone search, cursor pagination."""
from __future__ import annotations

import base64
import json
import random
from datetime import timedelta

import pytest

from request_api_support import (START, SYSTEM, assert_error, assign, clock, container, create, disp,  # noqa: F401
                                 petrov, tech, transition)

ALL = {1, 2, 3, 4, 5}


def numbers(client, headers, query: str = "") -> list[int]:
    r = client.get(f"/api/v1/requests?limit=200&{query}", headers=headers)
    assert r.status_code == 200, r.get_json()
    return [item["number"] for item in r.get_json()["items"]]


def found(client, headers, query: str) -> set[int]:
    return set(numbers(client, headers, query))


@pytest.fixture
def places(container, org, building):
    """B-1 (Москва, ЖК Солнечный), B-3 (Москва, ЖК Речной), K-1 (Казань, no complex)."""
    b3 = container.registry.upsert_building(org.id, SYSTEM, {
        "building_id": "B-3", "city": "Москва", "complex": "ЖК Речной", "street": "ул. Речная", "house": "1",
        "entrances": 2, "floors": 12, "apartments": 96})
    k1 = container.registry.upsert_building(org.id, SYSTEM, {
        "building_id": "K-1", "city": "Казань", "street": "ул. Баумана", "house": "5", "entrances": 1,
        "floors": 5, "apartments": 20})
    return {"B-1": building, "B-3": b3, "K-1": k1}


@pytest.fixture
def journal(client, disp, places, technician, petrov, clock):
    """Five requests an hour apart (4 and 5 at the same moment), in different places, kinds and states."""
    create(client, disp, description="Течёт труба в ванной", work_type="water", urgency="emergency",
           building_code="B-1", apartment=1, caller_phone="+7 912 000-11-22", channel="phone")
    clock.advance(hours=1)
    create(client, disp, description="Не работает лифт", work_type="elevator", building_code="B-3")
    assign(client, disp, 2, technician.id)
    clock.advance(hours=1)
    create(client, disp, description="Искрит щиток на площадке", work_type="electricity", urgency="emergency",
           building_code="K-1", caller_phone="+7 987 654-32-10")
    assign(client, disp, 3, petrov.id)
    clock.advance(hours=1)
    create(client, disp, description="Засор мусоропровода", work_type="rubbish_chute", caller_name="Сидорова Анна")
    transition(client, disp, 4, "cancelled", reason="Дубль заявки")
    create(client, disp, description="ТРУБА отопления холодная", work_type="heating", building_code="B-1")
    return places


def test_the_list_is_newest_first_by_default(client, disp, journal):
    assert numbers(client, disp) == [5, 4, 3, 2, 1]


def test_status_filter_takes_a_comma_separated_list(client, disp, journal):
    assert found(client, disp, "status=new,assigned") == {1, 2, 3, 5}
    assert found(client, disp, "status=cancelled") == {4}


def test_status_filter_takes_repeated_parameters(client, disp, journal):
    assert found(client, disp, "status=new&status=cancelled") == {1, 4, 5}


def test_an_unknown_status_is_422_naming_it(client, disp, journal):
    error = assert_error(client.get("/api/v1/requests?status=new,lost", headers=disp), 422, field="status")
    assert "lost" in error["message"]


def test_work_type_filter(client, disp, journal):
    assert found(client, disp, "work_type=water") == {1}
    assert found(client, disp, "work_type=water,heating") == {1, 5}


def test_urgency_filter(client, disp, journal):
    assert found(client, disp, "urgency=emergency") == {1, 3}
    assert found(client, disp, "urgency=normal") == {2, 4, 5}


def test_building_complex_and_city_filters(client, disp, journal, container, org):
    b1, b3, k1 = journal["B-1"], journal["B-3"], journal["K-1"]
    assert found(client, disp, f"building_id={b1.id}") == {1, 5}
    assert found(client, disp, f"complex_id={b3.complex_id}") == {2}
    assert found(client, disp, f"city_id={b1.city_id}") == {1, 2, 5}
    assert found(client, disp, f"city_id={k1.city_id}") == {3}
    assert found(client, disp, f"city_id={b1.city_id}&complex_id={b1.complex_id}") == {1, 5}


def test_assignee_and_unassigned_filters(client, disp, journal, technician, petrov):
    assert found(client, disp, f"assignee_id={technician.id}") == {2}
    assert found(client, disp, f"assignee_id={petrov.id}") == {3}
    assert found(client, disp, "unassigned=true") == {1, 4, 5}
    assert found(client, disp, "unassigned=false") == ALL


def test_the_period_includes_its_start_and_excludes_its_end(client, disp, journal):
    start = (START + timedelta(hours=1)).isoformat().replace("+00:00", "%2B00:00")
    end = (START + timedelta(hours=3)).isoformat().replace("+00:00", "%2B00:00")
    assert found(client, disp, f"registered_from={start}") == {2, 3, 4, 5}
    assert found(client, disp, f"registered_to={end}") == {1, 2, 3}
    assert found(client, disp, f"registered_from={start}&registered_to={end}") == {2, 3}


def test_the_period_understands_other_time_zones(client, disp, journal):
    # 12:00 in Moscow is 09:00 UTC: request 1 was registered at that moment.
    assert found(client, disp, "registered_to=2026-03-02T12:00:01%2B03:00") == {1}


def test_a_period_without_a_time_zone_is_422(client, disp, journal):
    error = assert_error(client.get("/api/v1/requests?registered_from=2026-03-02T09:00:00", headers=disp), 422,
                         field="registered_from")
    assert "time zone" in error["message"]


def test_filters_combine(client, disp, journal):
    assert found(client, disp, f"status=new&urgency=emergency&building_id={journal['B-1'].id}") == {1}
    assert found(client, disp, "work_type=elevator&urgency=emergency") == set()


def test_an_emergency_becomes_overdue_when_its_localisation_deadline_passes(client, disp, technician, clock):
    create(client, disp, urgency="emergency", work_type="water")
    create(client, disp, urgency="normal")
    clock.advance(minutes=29)
    assert found(client, disp, "overdue=true") == set()
    assert client.get("/api/v1/requests/1", headers=disp).get_json()["overdue"] is False
    clock.advance(minutes=2)
    assert found(client, disp, "overdue=true") == {1}
    assert client.get("/api/v1/requests/1", headers=disp).get_json()["overdue"] is True


def test_localising_an_overdue_emergency_leaves_only_the_repair_deadline(client, disp, tech, technician, clock):
    create(client, disp, urgency="emergency", work_type="water")
    clock.advance(minutes=31)
    assign(client, disp, 1, technician.id)
    transition(client, tech, 1, "accepted")
    assert found(client, disp, "overdue=true") == {1}  # accepted, but the leak is not contained yet
    r = client.post("/api/v1/requests/1/localisation", json={"note": "Перекрыт стояк"}, headers=tech)
    assert r.status_code == 200, r.get_json()
    assert r.get_json()["localised_at"] is not None
    assert found(client, disp, "overdue=true") == set()
    clock.advance(days=3)
    assert found(client, disp, "overdue=true") == {1}


def test_a_closed_request_is_never_overdue(client, disp, clock):
    create(client, disp, urgency="emergency", work_type="water")
    transition(client, disp, 1, "cancelled", reason="Ошибка")
    clock.advance(days=10)
    assert found(client, disp, "overdue=true") == set()
    assert client.get("/api/v1/requests/1", headers=disp).get_json()["overdue"] is False


def test_free_text_is_case_insensitive_in_russian(client, disp, journal):
    assert found(client, disp, "q=ТРУБА") == {1, 5}
    assert found(client, disp, "q=труба") == {1, 5}
    assert found(client, disp, "q=ЛиФт") == {2}


def test_free_text_searches_the_callers_name(client, disp, journal):
    assert found(client, disp, "q=сидорова") == {4}


def test_free_text_wildcards_are_taken_literally(client, disp, journal):
    assert found(client, disp, "q=%25") == set()
    assert found(client, disp, "q=_") == set()


def test_a_number_finds_its_request(client, disp, journal):
    assert found(client, disp, "q=3") == {3}


@pytest.mark.parametrize("typed", ["%2B79120001122", "89120001122", "9120001122", "912 000", "8 912 000-11-22",
                                   "(912) 000-11-22"])
def test_a_phone_finds_its_callers_requests_however_it_is_typed(client, disp, journal, typed):
    assert found(client, disp, f"q={typed}") == {1}


def _walk(client, headers, query: str, limit: int) -> list[int]:
    seen, cursor, pages = [], None, 0
    while True:
        url = f"/api/v1/requests?limit={limit}&{query}" + (f"&cursor={cursor}" if cursor else "")
        r = client.get(url, headers=headers)
        assert r.status_code == 200, r.get_json()
        page = r.get_json()
        assert len(page["items"]) <= limit
        seen += [item["number"] for item in page["items"]]
        cursor, pages = page["next_cursor"], pages + 1
        if cursor is None:
            return seen
        assert pages < 100


@pytest.fixture
def many(client, disp, clock):
    """23 requests; several share a registration moment, and a third of them are emergencies with deadlines."""
    rng = random.Random(7)
    for n in range(23):
        if rng.random() < 0.6:
            clock.advance(minutes=rng.choice([1, 5, 45]))
        create(client, disp, description=f"Заявка {n}", urgency="emergency" if n % 3 == 0 else "normal",
               work_type="water" if n % 3 == 0 else "other")
    return client.get("/api/v1/requests?limit=200", headers=disp).get_json()["items"]


def _expected(items: list[dict], sort: str) -> list[int]:
    if sort == "-registered_at":
        return [i["number"] for i in sorted(items, key=lambda i: (i["registered_at"], i["number"]), reverse=True)]
    if sort == "registered_at":
        return [i["number"] for i in sorted(items, key=lambda i: (i["registered_at"], i["number"]))]
    return [i["number"] for i in sorted(items, key=lambda i: (i["due_at"] is None, i["due_at"] or "", i["number"]))]


@pytest.mark.parametrize("sort", ["-registered_at", "registered_at", "due_at"])
@pytest.mark.parametrize("limit", [1, 4, 7, 23, 50])
def test_cursor_pagination_walks_every_request_once_in_order(client, disp, many, sort, limit):
    walked = _walk(client, disp, f"sort={sort}", limit)
    assert len(walked) == len(set(walked)) == 23
    assert walked == _expected(many, sort)


def test_cursor_pagination_keeps_the_filters(client, disp, many):
    walked = _walk(client, disp, "urgency=emergency&sort=due_at", 2)
    assert walked == _expected([i for i in many if i["urgency"] == "emergency"], "due_at")


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


@pytest.mark.parametrize("cursor", [
    "garbage", "!!!", "%FF%FE", _b64(b"not json"), _b64(json.dumps(["x"]).encode()),
    _b64(json.dumps({"a": 1, "b": 2}).encode()), _b64(json.dumps([None, 1]).encode()),
    _b64(json.dumps(["2026-03-02T09:00:00", 1]).encode()),
    _b64(json.dumps(["2026-03-02T09:00:00+00:00", "x"]).encode()),
    _b64(json.dumps(["2026-03-02T09:00:00+00:00", 10 ** 30]).encode()),
])
def test_a_garbage_cursor_is_422(client, disp, many, cursor):
    assert_error(client.get(f"/api/v1/requests?cursor={cursor}", headers=disp), 422, field="cursor")


def test_a_limit_out_of_range_is_422(client, disp):
    assert_error(client.get("/api/v1/requests?limit=0", headers=disp), 422, field="limit")
    assert_error(client.get("/api/v1/requests?limit=201", headers=disp), 422, field="limit")


def test_an_unknown_query_parameter_is_422_naming_it(client, disp):
    error = assert_error(client.get("/api/v1/requests?colour=red", headers=disp), 422)
    assert "colour" in error["message"]
