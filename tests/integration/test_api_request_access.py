"""Who may see and change which requests: tokens, roles and organisations."""
from __future__ import annotations

import pytest

from request_api_support import (SYSTEM, assert_error, assign, clock, container, create, disp,  # noqa: F401
                                 manager, petrov, row_counts, tech, transition)


@pytest.fixture
def two_jobs(client, disp, technician, petrov):
    """Request 1 is Ivanov's, request 2 is Petrov's, request 3 is nobody's."""
    for _ in range(3):
        create(client, disp)
    assign(client, disp, 1, technician.id)
    assign(client, disp, 2, petrov.id)


@pytest.fixture
def stranger(other_org, make_token):
    """A dispatcher of another organisation."""
    return make_token("other", "dispatcher")


def test_a_technician_lists_only_his_own_requests(client, tech, two_jobs):
    r = client.get("/api/v1/requests?limit=200", headers=tech)
    assert [i["number"] for i in r.get_json()["items"]] == [1]


def test_a_technician_filtering_by_another_assignee_sees_nothing(client, tech, two_jobs, petrov):
    r = client.get(f"/api/v1/requests?assignee_id={petrov.id}", headers=tech)
    assert r.get_json()["items"] == []


def test_a_technician_gets_his_own_request(client, tech, two_jobs):
    assert client.get("/api/v1/requests/1", headers=tech).status_code == 200


@pytest.mark.parametrize("path", ["/api/v1/requests/2", "/api/v1/requests/3", "/api/v1/requests/2/history",
                                  "/api/v1/requests/2/attachments"])
def test_another_technicians_request_is_404_to_a_technician(client, tech, two_jobs, path):
    assert_error(client.get(path, headers=tech), 404, "not_found")


def test_a_technician_cannot_move_or_comment_on_another_technicians_request(client, tech, two_jobs, container):
    before = row_counts(container.engine)
    assert_error(transition(client, tech, 2, "accepted"), 404)
    assert_error(client.post("/api/v1/requests/2/comments", json={"text": "Моя!"}, headers=tech), 404)
    assert row_counts(container.engine) == before


@pytest.mark.parametrize("method,path,body", [
    ("POST", "/api/v1/requests", {"description": "Течёт кран"}),
    ("PATCH", "/api/v1/requests/1", {"description": "Течёт кран"}),
    ("POST", "/api/v1/requests/1/assignment", {"staff_id": None}),
    ("POST", "/api/v1/requests/1/rating", {"score": 5}),
])
def test_a_technician_cannot_register_correct_assign_or_rate(client, tech, two_jobs, container, method, path, body):
    before = row_counts(container.engine)
    error = assert_error(client.open(path, method=method, json=body, headers=tech), 403, "forbidden")
    assert "technician" in error["message"]
    assert row_counts(container.engine) == before


def test_a_technician_cannot_close_his_own_request(client, tech, two_jobs, container):
    transition(client, tech, 1, "accepted")
    transition(client, tech, 1, "done", report="Сделано")
    before = row_counts(container.engine)
    assert_error(transition(client, tech, 1, "closed"), 409, "illegal_transition")
    assert row_counts(container.engine) == before


def test_a_manager_sees_every_request_of_his_organisation(client, manager, two_jobs):
    r = client.get("/api/v1/requests", headers=manager)
    assert [i["number"] for i in r.get_json()["items"]] == [3, 2, 1]
    assert client.get("/api/v1/requests/2", headers=manager).status_code == 200


def test_another_organisations_token_sees_none_of_our_requests(client, stranger, two_jobs):
    assert client.get("/api/v1/requests", headers=stranger).get_json()["items"] == []
    for path in ("/api/v1/requests/1", "/api/v1/requests/1/history", "/api/v1/requests/1/attachments"):
        assert_error(client.get(path, headers=stranger), 404, "not_found")


@pytest.mark.parametrize("method,path,body", [
    ("PATCH", "/api/v1/requests/1", {"description": "Чужая"}),
    ("POST", "/api/v1/requests/1/transitions", {"to": "cancelled", "reason": "Чужая"}),
    ("POST", "/api/v1/requests/1/assignment", {"staff_id": None}),
    ("POST", "/api/v1/requests/1/comments", {"text": "Чужая"}),
    ("POST", "/api/v1/requests/1/rating", {"score": 1}),
])
def test_another_organisations_token_gets_404_and_writes_nothing(client, stranger, two_jobs, container, method,
                                                                 path, body):
    before = row_counts(container.engine)
    assert_error(client.open(path, method=method, json=body, headers=stranger), 404, "not_found")
    assert row_counts(container.engine) == before


def test_another_organisations_request_numbers_are_its_own(client, stranger, disp, two_jobs):
    theirs = create(client, stranger, description="Их заявка")
    assert theirs["number"] == 1
    assert client.get("/api/v1/requests/1", headers=disp).get_json()["description"] == "Течёт кран на кухне"
    assert client.get("/api/v1/requests/1", headers=stranger).get_json()["description"] == "Их заявка"


def test_our_building_is_unknown_to_another_organisation(client, stranger, building, container):
    before = row_counts(container.engine)
    r = client.post("/api/v1/requests", json={"description": "Течёт", "building_id": building.id}, headers=stranger)
    assert_error(r, 422, "unknown_reference", "building")
    assert row_counts(container.engine) == before


def test_our_technician_cannot_be_assigned_by_another_organisation(client, stranger, technician, container):
    create(client, stranger, description="Их заявка")
    before = row_counts(container.engine)
    assert_error(assign(client, stranger, 1, technician.id), 422, "unknown_reference", "staff_id")
    assert row_counts(container.engine) == before


def test_no_token_is_401_with_the_error_shape(client, two_jobs):
    error = assert_error(client.get("/api/v1/requests"), 401, "unauthorized")
    assert "Bearer" in error["message"]


@pytest.mark.parametrize("header", ["Bearer", "Bearer ", "Basic dXNlcjpwYXNz", "hl_notbearer"])
def test_a_malformed_authorization_header_is_401(client, two_jobs, header):
    assert_error(client.get("/api/v1/requests", headers={"Authorization": header}), 401, "unauthorized")


def test_an_unknown_token_is_403_with_the_error_shape(client, two_jobs):
    r = client.get("/api/v1/requests", headers={"Authorization": "Bearer hl_not-a-real-token"})
    assert_error(r, 403, "forbidden")


def test_an_unknown_token_writes_nothing(client, two_jobs, container):
    before = row_counts(container.engine)
    r = client.post("/api/v1/requests", json={"description": "Течёт"},
                    headers={"Authorization": "Bearer hl_not-a-real-token"})
    assert_error(r, 403, "forbidden")
    assert row_counts(container.engine) == before


def test_the_token_of_a_disabled_technician_stops_working(client, tech, two_jobs, container, org, technician):
    assert client.get("/api/v1/requests/1", headers=tech).status_code == 200
    container.registry.update_staff(org.id, SYSTEM, technician.id, {"active": False})
    assert_error(client.get("/api/v1/requests/1", headers=tech), 403, "forbidden")
