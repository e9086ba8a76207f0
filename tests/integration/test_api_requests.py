"""The request endpoints through HTTP on real PostgreSQL: register, read, correct, move through the flow, comment,
rate. Listing, access and bad input have their own modules."""
from __future__ import annotations

from datetime import datetime, timedelta

from request_api_support import (START, SYSTEM, assert_error, assign, clock, container, create, disp,  # noqa: F401
                                 history, manager, petrov, row_counts, tech, transition)


def test_a_registered_request_gets_the_next_number_and_echoes_what_was_registered(client, disp, building):
    first = create(client, disp, description="Нет света в подъезде", work_type="electricity",
                   building_id=building.id, apartment=7, entrance=1, floor=2, caller_phone="+7 (912) 000-11-22",
                   caller_name="Сидорова А.В.")
    second = create(client, disp)
    assert (first["number"], second["number"]) == (1, 2)
    assert first["status"] == "new" and first["status_label"] == "Новая"
    assert first["work_type"] == "electricity" and first["urgency"] == "normal" and first["channel"] == "api"
    assert first["building"] == {"id": building.id, "code": "B-1", "address": "ул. Ленина, д. 10, корп. 2",
                                 "city": "Москва", "complex": "ЖК Солнечный"}
    assert (first["apartment"], first["entrance"], first["floor"]) == (7, 1, 2)
    assert first["caller_phone"] == "+79120001122" and first["caller_name"] == "Сидорова А.В."
    assert first["registered_at"] == START.isoformat().replace("+00:00", "Z")
    assert first["assignee"] is None and first["overdue"] is False
    assert first["deadline_rule"] == "federal.general" and first["localisation"] == {"due_at": None, "clause": None}
    # 10 working days by the production calendar (9 March 2026 is a day off), to 24:00 Moscow time
    assert first["repair"] == {"due_at": "2026-03-17T21:00:00Z", "clause": "ПП 416"} and first["due_at"] == \
        first["repair"]["due_at"]


def test_an_emergency_carries_its_legal_deadlines(client, disp, clock):
    body = create(client, disp, urgency="emergency", work_type="water")
    assert body["localisation"]["clause"] == "ПП 416 п.13"
    assert datetime.fromisoformat(body["localisation"]["due_at"]) == START + timedelta(minutes=30)
    assert datetime.fromisoformat(body["repair"]["due_at"]) == START + timedelta(days=3)
    assert body["due_at"] == body["localisation"]["due_at"]


def test_getting_a_request_returns_what_the_list_returns(client, disp, building):
    created = create(client, disp, building_code="B-1", apartment=3)
    got = client.get(f"/api/v1/requests/{created['number']}", headers=disp)
    assert got.status_code == 200
    assert got.get_json() == created
    listed = client.get("/api/v1/requests", headers=disp).get_json()
    assert listed["items"] == [created] and listed["next_cursor"] is None


def test_an_unknown_request_number_is_404(client, disp):
    assert_error(client.get("/api/v1/requests/999", headers=disp), 404, "not_found")


def test_a_registration_is_the_first_history_entry_and_one_outbox_message(client, disp, container):
    create(client, disp)
    [entry] = history(client, disp, 1)
    assert (entry["kind"], entry["field"], entry["old_value"], entry["new_value"]) == ("created", "number", None, "1")
    assert entry["actor_kind"] == "token" and entry["actor_role"] == "dispatcher"
    assert row_counts(container.engine)["outbox"] == 1


def test_a_correction_records_one_history_entry_per_changed_field_with_old_and_new(client, disp, building, clock):
    create(client, disp, description="Течёт кран", work_type="other", building_code="B-1", apartment=5)
    clock.advance(minutes=3)
    r = client.patch("/api/v1/requests/1", json={"description": "Течёт стояк ГВС", "work_type": "water",
                                                 "urgency": "emergency", "apartment": 50, "floor": 4},
                     headers=disp)
    assert r.status_code == 200, r.get_json()
    body = r.get_json()
    assert (body["description"], body["work_type"], body["urgency"], body["apartment"], body["floor"]) == \
        ("Течёт стояк ГВС", "water", "emergency", 50, 4)
    changes = {(h["field"], h["old_value"], h["new_value"]) for h in history(client, disp, 1) if h["kind"] == "field"}
    assert changes == {("description", "Течёт кран", "Течёт стояк ГВС"), ("work_type", "other", "water"),
                       ("urgency", "normal", "emergency"), ("apartment", "5", "50"), ("floor", None, "4")}
    assert {h["at"] for h in history(client, disp, 1)[1:]} == {clock.now.isoformat().replace("+00:00", "Z")}


def test_a_correction_to_emergency_sets_the_legal_deadlines_from_the_registration_time(client, disp, clock):
    create(client, disp, description="Течёт кран", work_type="water")
    clock.advance(minutes=10)
    body = client.patch("/api/v1/requests/1", json={"urgency": "emergency"}, headers=disp).get_json()
    assert datetime.fromisoformat(body["localisation"]["due_at"]) == START + timedelta(minutes=30)
    assert datetime.fromisoformat(body["repair"]["due_at"]) == START + timedelta(days=3)
    assert body["localisation"]["clause"] == body["repair"]["clause"] == "ПП 416 п.13"
    deadline_fields = {h["field"] for h in history(client, disp, 1) if h["kind"] == "deadline"}
    assert {"localisation_due_at", "repair_due_at", "deadline_rule"} <= deadline_fields
    body = client.patch("/api/v1/requests/1", json={"urgency": "normal"}, headers=disp).get_json()
    assert (body["localisation"]["due_at"], body["deadline_rule"]) == (None, "federal.general")
    assert body["due_at"] == body["repair"]["due_at"] == "2026-03-17T21:00:00Z"


def test_a_correction_that_changes_nothing_adds_no_history(client, disp):
    create(client, disp, description="Течёт кран")
    r = client.patch("/api/v1/requests/1", json={"description": "Течёт кран"}, headers=disp)
    assert r.status_code == 200
    assert len(history(client, disp, 1)) == 1


def test_moving_a_request_to_another_building_records_the_building_codes(client, disp, container, org, building):
    container.registry.upsert_building(org.id, SYSTEM, {
        "building_id": "B-2", "city": "Москва", "street": "ул. Мира", "house": "3", "entrances": 1, "floors": 5,
        "apartments": 20})
    create(client, disp, building_code="B-1", apartment=100)
    r = client.patch("/api/v1/requests/1", json={"building_code": "B-2", "apartment": 20}, headers=disp)
    assert r.status_code == 200, r.get_json()
    assert r.get_json()["building"]["code"] == "B-2"
    changes = {(h["field"], h["old_value"], h["new_value"]) for h in history(client, disp, 1)[1:]}
    assert changes == {("building", "B-1", "B-2"), ("apartment", "100", "20")}


def test_the_whole_flow_is_recorded_with_actor_channel_time_field_old_and_new(client, disp, tech, technician,
                                                                           clock):
    create(client, disp, urgency="emergency", work_type="water")
    steps = [
        (disp, lambda: assign(client, disp, 1, technician.id), "assigned"),
        (tech, lambda: transition(client, tech, 1, "accepted"), "accepted"),
        (tech, lambda: transition(client, tech, 1, "postponed", reason="Нет доступа в квартиру",
                                  until=(clock.now + timedelta(days=1)).isoformat()), "postponed"),
        (tech, lambda: transition(client, tech, 1, "accepted"), "accepted"),
        (tech, lambda: transition(client, tech, 1, "done", report="Заменён участок трубы"), "done"),
        (disp, lambda: transition(client, disp, 1, "closed"), "closed"),
    ]
    for _, step, expected in steps:
        clock.advance(minutes=10)
        r = step()
        assert r.status_code == 200, r.get_json()
        assert r.get_json()["status"] == expected
    final = r.get_json()
    assert final["report"] == "Заменён участок трубы" and final["closed_at"] is not None
    assert final["assignee"]["id"] == technician.id

    entries = history(client, disp, 1)
    statuses = [(h["old_value"], h["new_value"], h["actor_role"], h["channel"])
                for h in entries if h["field"] == "status"]
    assert statuses == [("new", "assigned", "dispatcher", "api"), ("assigned", "accepted", "technician", "api"),
                        ("accepted", "postponed", "technician", "api"), ("postponed", "accepted", "technician", "api"),
                        ("accepted", "done", "technician", "api"), ("done", "closed", "dispatcher", "api")]
    by_field = {h["field"]: h for h in entries}
    assert by_field["assignee"]["new_value"] == technician.full_name and by_field["assignee"]["old_value"] is None
    assert by_field["report"]["new_value"] == "Заменён участок трубы"
    postponed = [h["new_value"] for h in entries if h["field"] == "postponed_until"]
    assert len(postponed) == 2 and postponed[0] is not None and postponed[1] is None  # set, then cleared on resume
    postponed = next(h for h in entries if h["new_value"] == "postponed")
    assert postponed["note"] == "Нет доступа в квартиру"
    assert postponed["actor_id"] == technician.id and postponed["actor_name"] == technician.full_name
    times = [datetime.fromisoformat(h["at"]) for h in entries]
    assert times == sorted(times) and times[-1] == clock.now


def test_postponing_sets_the_new_date_and_a_later_acceptance_keeps_the_reason(client, disp, tech, technician, clock):
    create(client, disp)
    assign(client, disp, 1, technician.id)
    transition(client, tech, 1, "accepted")
    until = clock.now + timedelta(days=2)
    r = transition(client, tech, 1, "postponed", reason="Ждём запчасть", until=until.isoformat())
    assert r.status_code == 200, r.get_json()
    assert datetime.fromisoformat(r.get_json()["postponed_until"]) == until
    assert r.get_json()["status_reason"] == "Ждём запчасть"


def test_comments_appear_in_the_history_with_their_author(client, disp, tech, technician):
    create(client, disp)
    assign(client, disp, 1, technician.id)
    r = client.post("/api/v1/requests/1/comments", json={"text": "Жилец просит звонить после 18:00"}, headers=disp)
    assert r.status_code == 204
    r = client.post("/api/v1/requests/1/comments", json={"text": "Буду в 18:30"}, headers=tech)
    assert r.status_code == 204
    comments = [(h["actor_role"], h["new_value"]) for h in history(client, disp, 1) if h["kind"] == "comment"]
    assert comments == [("dispatcher", "Жилец просит звонить после 18:00"), ("technician", "Буду в 18:30")]


def test_an_empty_comment_is_refused(client, disp):
    create(client, disp)
    assert_error(client.post("/api/v1/requests/1/comments", json={"text": "   "}, headers=disp), 422)


def _done(client, disp, tech, technician):
    create(client, disp)
    assign(client, disp, 1, technician.id)
    transition(client, tech, 1, "accepted")
    assert transition(client, tech, 1, "done", report="Сделано").status_code == 200


def test_a_done_request_can_be_rated_once(client, disp, tech, technician, container):
    _done(client, disp, tech, technician)
    r = client.post("/api/v1/requests/1/rating", json={"score": 5, "comment": "Спасибо!"}, headers=disp)
    assert r.status_code == 201, r.get_json()
    assert r.get_json()["score"] == 5 and r.get_json()["comment"] == "Спасибо!"
    before = row_counts(container.engine)
    assert_error(client.post("/api/v1/requests/1/rating", json={"score": 1}, headers=disp), 409, "conflict")
    assert row_counts(container.engine) == before
    assert [h["new_value"] for h in history(client, disp, 1) if h["kind"] == "rating"] == ["5"]


def test_a_closed_request_can_be_rated(client, disp, tech, technician):
    _done(client, disp, tech, technician)
    assert transition(client, disp, 1, "closed").status_code == 200
    assert client.post("/api/v1/requests/1/rating", json={"score": 3}, headers=disp).status_code == 201


def test_an_open_request_cannot_be_rated(client, disp, technician, container):
    create(client, disp)
    assign(client, disp, 1, technician.id)
    before = row_counts(container.engine)
    error = assert_error(client.post("/api/v1/requests/1/rating", json={"score": 4}, headers=disp), 422,
                         field="score")
    assert "done or closed" in error["message"]
    assert row_counts(container.engine) == before


def test_a_rating_outside_one_to_five_is_refused(client, disp, tech, technician, container):
    _done(client, disp, tech, technician)
    before = row_counts(container.engine)
    for score in (0, 6, -1, 4.5, "5", True):
        assert_error(client.post("/api/v1/requests/1/rating", json={"score": score}, headers=disp), 422)
    assert row_counts(container.engine) == before


def test_the_phone_that_rated_is_kept_in_e164(client, disp, tech, technician, container, org):
    _done(client, disp, tech, technician)
    r = client.post("/api/v1/requests/1/rating", json={"score": 4, "phone": "8 (912) 000-11-22"}, headers=disp)
    assert r.status_code == 201, r.get_json()
    assert container.requests.rating(org.id, 1, SYSTEM).phone == "+79120001122"


def test_a_rating_with_a_malformed_phone_is_refused(client, disp, tech, technician, container):
    _done(client, disp, tech, technician)
    before = row_counts(container.engine)
    for phone in ("12345", "x" * 30):
        r = client.post("/api/v1/requests/1/rating", json={"score": 4, "phone": phone}, headers=disp)
        assert_error(r, 422, "invalid_phone", "phone")
    assert row_counts(container.engine) == before
