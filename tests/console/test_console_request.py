"""A request's page: recordings with the transcript, facts, corrections as events, assignment, status, links;
escaping of untrusted text; the recordings' role check and listen log; another organisation's pages are 404."""
from __future__ import annotations

import json

import sqlalchemy as sa
from console_support import SYSTEM

from journal_api.storage import tables as t

XSS = "<script>alert('x')</script>"


def test_the_request_page_shows_the_recording_with_its_words_and_the_facts(console, recorded_request):
    r, rec_id, _ = recorded_request
    page = console.get(f"/requests/{r.number}").get_data(as_text=True)
    assert f'src="/recordings/{rec_id}/audio"' in page
    assert page.count('<span class="w') == 5 and 'data-start="1.0"' in page and 'class="w unsure"' in page
    assert "87 %" in page


def test_untrusted_text_is_escaped_everywhere_it_is_shown(console, container, org, make_request, recorded_request):
    r = make_request(description=XSS, caller_name=XSS)
    container.requests.comment(org.id, r.number, SYSTEM, "system", XSS)
    transcribed, _, _ = recorded_request
    pages = [console.get(path).get_data(as_text=True) for path in (
        f"/requests/{r.number}", f"/requests/{transcribed.number}", "/journal", "/board", "/journal/print",
        "/monitor?reason=" + XSS)]
    for page in pages:
        assert "<script>alert" not in page
    assert "&lt;script&gt;alert(" in pages[0] and "&lt;script&gt;alert(1)&lt;/script&gt;" in pages[1]
    event = console.get("/board/stream?once=1").get_data(as_text=True)
    snapshot = json.loads(event.split("data: ", 1)[1].split("\n", 1)[0])
    assert snapshot["new"][0]["description"] == XSS  # data for textContent, never parsed as HTML


def test_every_console_page_forbids_inline_scripts(console):
    policy = console.get("/journal").headers["Content-Security-Policy"]
    assert "script-src 'self'" in policy and "unsafe-inline" not in policy.split("script-src")[1].split(";")[0]


def test_a_correction_is_an_event_with_the_dispatcher_channel(console, container, org, make_request):
    r = make_request(description="Теч трубы", apartment=12)
    response = console.post(f"/requests/{r.number}/edit", data={
        "csrf_token": console.csrf, "description": "Течь трубы в ванной", "work_type": "water", "urgency": "normal",
        "apartment": "14", "entrance": "", "floor": "", "caller_name": "", "reason": "",
        "building": str(r.building.id)})
    assert response.status_code == 302
    history = container.requests.history(org.id, r.number, SYSTEM)
    changed = {(h.field, h.old_value, h.new_value, h.channel, h.actor_name) for h in history if h.kind == "field"}
    assert ("description", "Теч трубы", "Течь трубы в ванной", "dispatcher", "Петрова Анна Сергеевна") in changed
    assert ("apartment", "12", "14", "dispatcher", "Петрова Анна Сергеевна") in changed


def test_a_wrong_correction_says_why_in_russian_and_changes_nothing(console, container, org, make_request):
    r = make_request()
    response = console.post(f"/requests/{r.number}/edit", data={"csrf_token": console.csrf, "apartment": "9999",
                                                                "building": str(r.building.id)},
                            follow_redirects=True)
    page = response.get_data(as_text=True)
    assert 'class="flash error"' in page and "Проверьте" in page
    assert container.requests.get(org.id, r.number, SYSTEM).apartment == 12


def test_assignment_with_a_reason_and_a_status_change(console, container, org, technician, make_request):
    r = make_request()
    console.post(f"/requests/{r.number}/assign", data={"csrf_token": console.csrf, "staff": str(technician.id),
                                                       "reason": "ближе всех"})
    console.post(f"/requests/{r.number}/status", data={"csrf_token": console.csrf, "to": "accepted"})
    after = container.requests.get(org.id, r.number, SYSTEM)
    assert after.assignee.id == technician.id and after.status == "accepted"
    notes = [h.note for h in container.requests.history(org.id, r.number, SYSTEM) if h.kind == "assignment"]
    assert "ближе всех" in notes


def test_a_dispatcher_registers_a_call_taken_live(console, container, org, building):
    response = console.post("/requests/new", data={
        "csrf_token": console.csrf, "channel": "phone", "caller_phone": "8 903 555-10-02", "caller_name": "Орлова",
        "building": str(building.id), "apartment": "7", "work_type": "electricity", "urgency": "emergency",
        "description": "Искрит розетка"})
    assert response.status_code == 302
    number = int(response.headers["Location"].rsplit("/", 1)[1])
    r = container.requests.get(org.id, number, SYSTEM)
    assert (r.description, r.caller_phone, r.urgency, r.channel, r.apartment) == \
        ("Искрит розетка", "+79035551002", "emergency", "phone", 7)


def test_listening_to_a_recording_is_logged_and_served_with_ranges(console, container, recorded_request):
    _, rec_id, _ = recorded_request
    whole = console.get(f"/recordings/{rec_id}/audio")
    assert whole.status_code == 200 and whole.mimetype == "audio/wav" and whole.data[:4] == b"RIFF"
    part = console.get(f"/recordings/{rec_id}/audio", headers={"Range": "bytes=100-199"})
    assert part.status_code == 206 and len(part.data) == 100
    with container.engine.connect() as conn:
        listens = conn.execute(sa.select(t.audit_log.c.actor_name, t.audit_log.c.entity_id).where(
            t.audit_log.c.entity == "recording", t.audit_log.c.action == "listen")).all()
    assert listens == [("Петрова Анна Сергеевна", rec_id)]  # the seek (a later range) is not a new listen


def test_a_recording_needs_a_signed_in_staff_member(client, recorded_request):
    _, rec_id, _ = recorded_request
    assert client.get(f"/recordings/{rec_id}/audio").status_code == 302


def test_another_organisations_request_recording_and_photo_are_not_found(console, container, other_org,
                                                                         make_request, tmp_path):
    import io

    from console_support import write_wav

    place = container.registry.upsert_building(other_org.id, SYSTEM, {
        "building_id": "O-1", "city": "Екатеринбург", "street": "ул. Малышева", "house": "1", "entrances": 1,
        "floors": 5, "apartments": 20})
    theirs = make_request(org_id=other_org.id, building_id=place.id, description="Чужая заявка")
    call_id = container.calls.open_call(org_id=other_org.id, sip_call_id="x", call_uuid="other-1", from_number=None,
                                        to_number=None, arrived_at=container.clock())
    rec_id = container.calls.attach_recording(call_id=call_id, kind="description", path=write_wav(tmp_path / "o.wav"))
    att = container.requests.attach(other_org.id, theirs.number, SYSTEM, "system", kind="photo", filename="a.png",
                                    content_type="image/png", stream=io.BytesIO(b"\x89PNG\r\n\x1a\n" + b"0" * 64))
    own = make_request(description="Своя заявка")
    assert theirs.number == own.number  # numbers are per organisation: the page shows only one's own
    assert "Чужая заявка" not in console.get(f"/requests/{theirs.number}").get_data(as_text=True)
    assert console.get(f"/requests/{theirs.number + 1}").status_code == 404
    assert console.get(f"/recordings/{rec_id}/audio").status_code == 404
    assert console.get(f"/attachments/{att.id}").status_code == 404
    assert console.post(f"/requests/{theirs.number + 1}/comment",
                        data={"csrf_token": console.csrf, "text": "x"}).status_code == 404


def test_the_board_stream_pushes_new_and_overdue_requests(console, container, make_request):
    r = make_request(description="Новая на табло")
    body = console.get("/board/stream?once=1").get_data(as_text=True)
    assert body.startswith("retry: 2000") and "event: board" in body
    snapshot = json.loads(body.split("data: ", 1)[1].split("\n", 1)[0])
    assert [x["number"] for x in snapshot["new"]] == [r.number]
    assert [x["number"] for x in snapshot["unassigned"]] == [r.number]
    assert snapshot["calls"] == []


def test_a_call_on_the_board_without_a_request_can_be_registered_with_its_number(console, container, org):
    call_id = container.calls.open_call(org_id=org.id, sip_call_id="live", call_uuid="live-1",
                                        from_number="+79035550077", to_number=None, arrived_at=container.clock())
    board = console.get("/board").get_data(as_text=True)
    assert f'href="/requests/new?call={call_id}"' in board
    form = console.get(f"/requests/new?call={call_id}").get_data(as_text=True)
    assert 'name="caller_phone" value="+79035550077"' in form


def test_the_request_page_says_why_the_assignee_was_chosen(console, container, org, technician, make_request):
    r = make_request()
    container.requests.assign(org.id, r.number, SYSTEM, "system", technician.id, reason="дежурный по дому")
    page = console.get(f"/requests/{r.number}").get_data(as_text=True)
    assert '<small id="assignment-note">дежурный по дому</small>' in page
