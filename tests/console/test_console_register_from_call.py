"""A request registered by hand from a call taken live (`/requests/new?call=ID`): the phone is prefilled, and the
call with its recording and transcript is linked to the new request, so the board stops offering to register it."""
from __future__ import annotations

import json

import sqlalchemy as sa
from console_support import SYSTEM, WORDS, write_wav

from journal_api.storage import tables_transcripts as tt


def _call_with_voice(container, org, tmp_path, uuid="live-1"):
    now = container.clock()
    call_id = container.calls.open_call(org_id=org.id, sip_call_id=uuid, call_uuid=uuid,
                                        from_number="+79035557788", to_number="+74950000000", arrived_at=now)
    container.calls.answered(call_id, now)
    rec_id = container.calls.attach_recording(call_id=call_id, kind="call", path=write_wav(tmp_path / f"{uuid}.wav"))
    tid = container.transcripts.open(org_id=org.id, kind="call", call_id=call_id, recording_id=rec_id)
    container.transcripts.complete(tid, {"engine": "test", "text": " ".join(w["w"] for w in WORDS), "words": WORDS,
                                         "language": "ru"}, None)
    container.calls.callback_task(call_id, reason="registration_failed")
    return call_id, rec_id, tid


def _snapshot(client) -> dict:
    event = client.get("/board/stream?once=1").get_data(as_text=True)
    return json.loads(event.split("data: ", 1)[1].split("\n", 1)[0])


def test_the_registration_form_of_a_call_prefills_the_phone_and_names_the_call(console, container, org, tmp_path):
    call_id, _, _ = _call_with_voice(container, org, tmp_path)
    assert f"/requests/new?call={call_id}" in console.get("/board").get_data(as_text=True)
    page = console.get(f"/requests/new?call={call_id}").get_data(as_text=True)
    assert 'value="+79035557788"' in page and f'name="call" value="{call_id}"' in page


def test_registering_from_a_call_brings_its_recording_and_transcript_to_the_request(console, container, org,
                                                                                    building, tmp_path):
    call_id, rec_id, tid = _call_with_voice(container, org, tmp_path)
    assert _snapshot(console)["callbacks"][0]["request"] is None
    response = console.post("/requests/new", data={
        "csrf_token": console.csrf, "call": str(call_id), "caller_phone": "+79035557788", "channel": "phone",
        "building": str(building.id), "apartment": "5", "work_type": "water", "description": "Прорвало трубу"})
    assert response.status_code == 302
    number = int(response.headers["Location"].rsplit("/", 1)[1])
    r = container.requests.get(org.id, number, SYSTEM)
    assert container.transcripts.get(tid).request_id == r.id
    page = console.get(f"/requests/{number}").get_data(as_text=True)
    assert f'src="/recordings/{rec_id}/audio"' in page and "течёт" in page
    board = _snapshot(console)
    assert board["callbacks"][0]["request"] == number  # no longer "зарегистрировать"
    assert f"/requests/new?call={call_id}" not in console.get("/board").get_data(as_text=True)


def test_a_call_already_about_a_request_is_not_registered_twice(console, container, org, make_request, tmp_path):
    call_id, _, _ = _call_with_voice(container, org, tmp_path)
    first = make_request()
    container.calls.link_request(org.id, call_id, first.number, SYSTEM)
    response = console.post("/requests/new", data={"csrf_token": console.csrf, "call": str(call_id),
                                                   "work_type": "water", "description": "Ещё раз"})
    assert response.status_code == 422 and f"заявке № {first.number}" in response.get_data(as_text=True)
    with container.engine.connect() as conn:
        assert conn.scalar(sa.select(sa.func.count()).select_from(tt.transcripts)
                           .where(tt.transcripts.c.request_id.is_not(None))) == 1


def test_another_organisations_call_cannot_be_registered_or_linked(console, container, other_org, tmp_path):
    call_id, _, tid = _call_with_voice(container, other_org, tmp_path, uuid="other-1")
    assert console.get(f"/requests/new?call={call_id}").status_code == 404
    response = console.post("/requests/new", data={"csrf_token": console.csrf, "call": str(call_id),
                                                   "work_type": "water", "description": "Чужой звонок"})
    assert response.status_code == 404
    assert container.transcripts.get(tid).request_id is None
