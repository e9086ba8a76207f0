"""Bad input: each is a 4xx whose message says what to fix, and nothing is written (no request, no history line,
no outbox message)."""
from __future__ import annotations

from datetime import timedelta

import pytest

from request_api_support import (SYSTEM, assert_error, assign, clock, container, create, disp,  # noqa: F401
                                 row_counts, tech, transition)


@pytest.fixture
def before(client, disp, tech, technician, building, container):
    """Request 1 is new (in B-1, 144 apartments, 4 entrances, 9 floors); request 2 is accepted by Ivanov."""
    create(client, disp, building_code="B-1", apartment=10)
    create(client, disp)
    assign(client, disp, 2, technician.id)
    transition(client, tech, 2, "accepted")
    return row_counts(container.engine)


@pytest.fixture
def unchanged(before, container):
    yield
    assert row_counts(container.engine) == before


def post(client, headers, body: dict):
    return client.post("/api/v1/requests", json={"description": "Течёт кран", **body}, headers=headers)


@pytest.mark.parametrize("phone", ["12345", "+7 912 345", "телефон", "+7 (000) 000-00-00", "8 800 55"])
def test_a_malformed_phone_is_refused_with_the_expected_form(client, disp, unchanged, phone):
    error = assert_error(post(client, disp, {"caller_phone": phone}), 422, "invalid_phone", "caller_phone")
    assert "+7 912 345-67-89" in error["message"]


@pytest.mark.parametrize("ref", [{"building_id": 99999}, {"building_code": "NOPE"}])
def test_an_unknown_building_is_refused(client, disp, unchanged, ref):
    error = assert_error(post(client, disp, ref), 422, "unknown_reference", "building")
    assert "does not exist" in error["message"]


@pytest.mark.parametrize("place,field", [({"apartment": 145}, "apartment"), ({"apartment": 0}, "apartment"),
                                         ({"entrance": 5}, "entrance"), ({"floor": 10}, "floor")])
def test_a_place_outside_the_building_is_refused_naming_its_range(client, disp, unchanged, place, field):
    error = assert_error(post(client, disp, {"building_code": "B-1", **place}), 422, "validation_error", field)
    assert "B-1" in error["message"]


def test_an_apartment_without_a_building_is_refused(client, disp, unchanged):
    assert_error(post(client, disp, {"apartment": 5}), 422, field="building")


def test_an_unknown_work_type_is_refused(client, disp, unchanged):
    error = assert_error(post(client, disp, {"work_type": "plumbing"}), 422, "unknown_reference", "work_type")
    assert "plumbing" in error["message"]


def test_a_deactivated_work_type_is_refused(client, disp, container, org, before):
    container.registry.update_work_type(org.id, SYSTEM, "yard", active=False)
    assert_error(post(client, disp, {"work_type": "yard"}), 422, "unknown_reference", "work_type")
    assert row_counts(container.engine) == before


@pytest.mark.parametrize("body,field", [
    ({"description": ""}, "description"), ({"description": "x" * 4001}, "description"),
    ({"urgency": "urgent"}, "urgency"), ({"channel": "telegram"}, "channel"),
    ({"apartment": "десять"}, "apartment"), ({"colour": "red"}, "colour"),
    ({"answered_at": "2026-03-02T09:00:00"}, "answered_at"), ({"answered_at": "вчера"}, "answered_at"),
])
def test_a_malformed_field_is_refused_naming_it(client, disp, unchanged, body, field):
    error = assert_error(post(client, disp, body), 422, "validation_error", field)
    assert error["message"].startswith(field)


def test_a_naive_datetime_is_refused_with_an_example_of_an_aware_one(client, disp, unchanged):
    error = assert_error(post(client, disp, {"answered_at": "2026-03-02T09:00:00"}), 422, field="answered_at")
    assert "+03:00" in error["message"]


@pytest.mark.parametrize("data,content_type", [
    ("description=Течёт", "application/x-www-form-urlencoded"), ("{not json", "application/json"),
    ('["a list"]', "application/json"), ('"a string"', "application/json"), ("", "application/json"),
    ('{"description": "Течёт"}', "text/plain"),
])
def test_a_body_that_is_not_a_json_object_is_400(client, disp, unchanged, data, content_type):
    r = client.post("/api/v1/requests", data=data.encode(), content_type=content_type, headers=disp)
    error = assert_error(r, 400, "bad_request")
    assert "JSON object" in error["message"]


@pytest.mark.parametrize("patch,field", [
    ({"apartment": 500}, "apartment"), ({"work_type": "plumbing"}, "work_type"),
    ({"building_code": "NOPE"}, "building"), ({"number": 7}, "number"), ({"status": "closed"}, "status"),
    ({"description": None}, "description"), ({"urgency": None}, "urgency"), ({"caller_phone": "12345"}, "caller_phone"),
])
def test_a_bad_correction_is_refused_and_changes_nothing(client, disp, unchanged, patch, field):
    r = client.patch("/api/v1/requests/1", json={"description": "Другое", **patch}, headers=disp)
    assert_error(r, 422, field=field)
    assert client.get("/api/v1/requests/1", headers=disp).get_json()["description"] == "Течёт кран на кухне"


def test_an_illegal_transition_is_409_and_says_what_is_allowed(client, disp, unchanged):
    error = assert_error(transition(client, disp, 1, "done", report="Готово"), 409, "illegal_transition")
    assert "'new' to 'done'" in error["message"] and "cancelled" in error["message"]
    assert error["details"] == {"from": "new", "to": "done"}


def test_assigning_through_the_transitions_endpoint_is_refused(client, disp, unchanged):
    assert_error(transition(client, disp, 1, "assigned"), 422, field="to")


@pytest.mark.parametrize("to,extra,field", [
    ("postponed", {"reason": "Нет доступа"}, "until"), ("postponed", {"until": "2026-03-05T10:00:00+03:00"}, "reason"),
    ("done", {}, "report"), ("done", {"report": "   "}, "report"), ("impossible", {}, "reason"),
    ("cancelled", {}, "reason"),
])
def test_a_transition_without_what_it_requires_is_refused_naming_it(client, disp, unchanged, to, extra, field):
    error = assert_error(transition(client, disp, 2, to, **extra), 422, field=field)
    assert f"requires '{field}'" in error["message"]


@pytest.mark.parametrize("offset", [timedelta(0), timedelta(minutes=-1), timedelta(days=-30)])
def test_postponing_into_the_past_is_refused(client, disp, clock, unchanged, offset):
    until = (clock.now + offset).isoformat()
    error = assert_error(transition(client, disp, 2, "postponed", reason="Нет доступа", until=until), 422,
                         field="until")
    assert "future" in error["message"]


def test_postponing_to_a_naive_date_is_refused(client, disp, unchanged):
    r = transition(client, disp, 2, "postponed", reason="Нет доступа", until="2026-04-01T10:00:00")
    assert_error(r, 422, "validation_error", "until")


def test_a_transition_with_an_unknown_field_is_refused(client, disp, unchanged):
    assert_error(transition(client, disp, 2, "done", report="Готово", photo="x.jpg"), 422, field="photo")


@pytest.mark.parametrize("staff_id", [99999, "Иванов"])
def test_assigning_an_unknown_technician_is_refused(client, disp, unchanged, staff_id):
    assert_error(assign(client, disp, 1, staff_id), 422, field="staff_id")


def test_assigning_someone_who_is_not_a_technician_is_refused(client, disp, container, org, before):
    boss = container.registry.upsert_staff(org.id, SYSTEM, {"full_name": "Начальникова Н.Н.", "role": "manager",
                                                             "phone": "+7 912 999-88-77"})
    error = assert_error(assign(client, disp, 1, boss.id), 422, field="staff_id")
    assert "not an active technician" in error["message"]
    assert row_counts(container.engine) == before


def test_a_write_to_a_request_that_does_not_exist_is_404(client, disp, unchanged):
    assert_error(transition(client, disp, 99, "cancelled", reason="Нет"), 404, "not_found")
    assert_error(client.patch("/api/v1/requests/99", json={"description": "x"}, headers=disp), 404)


@pytest.mark.parametrize("method,path,body,field", [
    ("POST", "/api/v1/requests", {"description": "Течёт\u0000кран"}, "description"),
    ("POST", "/api/v1/requests/1/comments", {"text": "\u0000"}, "text"),
    ("POST", "/api/v1/requests/2/transitions", {"to": "done", "report": "Готово\u0000"}, "report"),
    ("GET", "/api/v1/requests?q=%00", None, "q"),
])
def test_a_nul_character_is_refused_before_it_reaches_the_database(client, disp, unchanged, method, path, body,
                                                                   field):
    error = assert_error(client.open(path, method=method, json=body, headers=disp), 422, "validation_error", field)
    assert "NUL" in error["message"]


@pytest.mark.parametrize("method,path,body,field", [
    ("POST", "/api/v1/requests", {"description": "Течёт", "building_id": 10 ** 12}, "building_id"),
    ("POST", "/api/v1/requests", {"description": "Течёт", "building_id": 0}, "building_id"),
    ("POST", "/api/v1/requests/1/assignment", {"staff_id": 10 ** 20}, "staff_id"),
    ("GET", f"/api/v1/requests?building_id={10 ** 20}", None, "building_id"),
    ("GET", f"/api/v1/requests?assignee_id={2 ** 31}", None, "assignee_id"),
])
def test_an_id_beyond_the_databases_range_is_refused(client, disp, unchanged, method, path, body, field):
    assert_error(client.open(path, method=method, json=body, headers=disp), 422, "validation_error", field)


@pytest.mark.parametrize("path", [f"/api/v1/requests/{10 ** 20}", "/api/v1/requests/0",
                                  f"/api/v1/attachments/{2 ** 31}"])
def test_a_number_beyond_the_databases_range_is_404(client, disp, unchanged, path):
    assert_error(client.get(path, headers=disp), 404, "not_found")


@pytest.mark.parametrize("value", ["0001-01-01T00:00:00+05:00", "9999-12-31T23:00:00-05:00"])
def test_a_date_that_overflows_utc_is_refused(client, disp, unchanged, value):
    assert_error(post(client, disp, {"answered_at": value}), 422, "validation_error", "answered_at")
    query = value.replace("+", "%2B")
    assert_error(client.get(f"/api/v1/requests?registered_from={query}", headers=disp), 422,
                 "validation_error", "registered_from")


def test_a_dispatcher_corrects_the_callers_phone_through_the_api(client, disp, before):
    r = client.patch("/api/v1/requests/1", json={"caller_phone": "8 (912) 345-67-89"}, headers=disp)
    assert r.status_code == 200, r.get_json()
    assert r.get_json()["caller_phone"] == "+79123456789"
    assert client.patch("/api/v1/requests/1", json={"caller_phone": ""}, headers=disp).get_json()["caller_phone"] is None
