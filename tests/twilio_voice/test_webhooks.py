"""The Twilio Voice webhooks: a scripted Twilio call (the Flask test client posting what Twilio posts, signed with
the account's auth token) walks the default flow and leaves the same request and call as the SIP path; forged
webhooks get 403 and write nothing; recordings are fetched with the account's credentials and stored."""
from __future__ import annotations

import hashlib
from datetime import datetime, timezone

import sqlalchemy as sa

from ivr_flows import step
from ivr_flows import actions as A
from ivr_flows import events as E
from ivr_flows.prompts import ASTERISK_DIR
from journal_api.storage import tables as t
from journal_api.storage import tables_calls as tc
from journal_api.storage.tables_incidents import twilio_calls

from .twilio_support import TwilioCall

DID = "+74950000000"
CALLER = "+79161234567"
SPEECH = ASTERISK_DIR / "digits" / "5.wav"  # a real 8 kHz human voice stands in for the caller


def _call(client, account, recordings, caller=CALLER):
    return TwilioCall(client, *account, caller=caller, did=DID, recordings=recordings)


def _rows(container, table, *where):
    with container.engine.connect() as conn:
        return conn.execute(sa.select(table).where(*where)).all()


def _walk_emergency_water(call):
    call.start()
    assert call.waiting() == "Gather"
    call.press("1")  # авария
    call.press("2")  # затопление
    assert call.waiting() == "Gather"  # an unknown caller ID: the apartment is asked
    call.press("15")  # Twilio drops the finishOnKey '#'
    assert call.waiting() == "Record"


def _like_the_sip_worker(container, flow, *, caller, events):
    """What a SIP worker does with the same answers: open the call, step(), carry out Invokes via CallService."""
    calls = container.calls
    org_id = calls.resolve_org(DID)
    call_id = calls.open_call(org_id=org_id, sip_call_id="sip-1", call_uuid="sip-1", from_number=caller,
                              to_number=DID, arrived_at=datetime.now(timezone.utc), worker="w1")
    calls.answered(call_id, datetime.now(timezone.utc))
    actions, state = step(flow, None, E.Started(caller=caller, did=DID, call_id=call_id))
    queue = list(events)
    while not state.done:
        last = actions[-1]
        if isinstance(last, A.Invoke):
            ok, data = calls.invoke(last.op, last.args, org_id=org_id, call_id=call_id)
            actions, state = step(flow, state, E.InvokeResult(last.op, ok, data))
        else:
            actions, state = step(flow, state, queue.pop(0))
    calls.ended(call_id, at=datetime.now(timezone.utc), status="answered", ivr_path=list(state.path),
                digits=list(state.digits))
    return call_id


def test_a_scripted_twilio_call_registers_the_same_request_as_the_sip_path(client, container, org, building,
                                                                           account, recordings, voice):
    call = _call(client, account, recordings)
    _walk_emergency_water(call)
    doc = call.speak(SPEECH, duration=3)
    assert call.waiting() == "Hangup"
    call.hang_up()

    (tw_call,) = _rows(container, tc.calls, tc.calls.c.sip_call_id == call.sid)
    (request,) = _rows(container, t.requests, t.requests.c.id == tw_call.request_id)
    assert (request.channel, request.work_type, request.urgency) == ("phone", "water", "emergency")
    assert (request.building_id, request.apartment, request.caller_phone) == (building.id, 15, CALLER)
    assert tw_call.status == "answered" and tw_call.ended_at is not None and tw_call.worker == "twilio"
    # the caller hears the number he got, digit by digit, from the human-voiced prompts
    played = [el.text.split("/twilio/voice/prompts/", 1)[1] for el in doc if el.tag == "Play"]
    heard = played[played.index("ivr/your_request_number.wav") + 1:][:len(str(request.number))]
    assert heard == [f"digits/{d}.wav" for d in str(request.number)]

    (rec,) = _rows(container, tc.recordings, tc.recordings.c.call_id == tw_call.id)
    assert (rec.kind, rec.request_id) == ("description", request.id)
    assert rec.sha256 == hashlib.sha256(SPEECH.read_bytes()).hexdigest()
    assert len(recordings.fetched) == 1 and recordings.refused == []
    stored = _rows(container, t.outbox, t.outbox.c.name == "recording.stored")
    assert [r.payload["recording_id"] for r in stored] == [rec.id]

    sip_call_id = _like_the_sip_worker(container, voice.calls.flow, caller=CALLER, events=[
        E.Digits("1"), E.Digits("2"), E.Digits("15#"), E.Recorded("description", 3.0, "terminator")])
    (sip_call,) = _rows(container, tc.calls, tc.calls.c.id == sip_call_id)
    (sip_request,) = _rows(container, t.requests, t.requests.c.id == sip_call.request_id)
    same = ("channel", "work_type", "urgency", "building_id", "apartment", "caller_phone", "description", "status",
            "deadline_rule")
    assert {k: getattr(request, k) for k in same} == {k: getattr(sip_request, k) for k in same}
    assert tw_call.ivr_path == sip_call.ivr_path
    assert sip_request.number == request.number + 1


def test_forged_or_tampered_webhooks_get_403_and_write_nothing(client, container, org, building, account,
                                                                recordings, voice):
    call = _call(client, account, recordings)
    assert call.post("/twilio/voice/incoming", call.params(), token="not-the-token").status_code == 403
    assert call.post("/twilio/voice/incoming", call.params(), signature="").status_code == 403
    signed_elsewhere = call.params()
    from twilio.request_validator import RequestValidator

    sig = RequestValidator(account[1]).compute_signature("http://localhost/twilio/voice/status", signed_elsewhere)
    assert call.post("/twilio/voice/incoming", signed_elsewhere, signature=sig).status_code == 403
    assert _rows(container, tc.calls) == [] and _rows(container, twilio_calls) == []

    call.start()
    before = _rows(container, twilio_calls)[0].state
    params = call.params(Digits="1")
    sig = RequestValidator(account[1]).compute_signature("http://localhost/twilio/voice/gather", params)
    params["Digits"] = "0"  # changed after signing
    assert call.post("/twilio/voice/gather", params, signature=sig).status_code == 403
    foreign = call.params(AccountSid="AC" + "0" * 32, Digits="1")
    assert call.post("/twilio/voice/gather", foreign).status_code == 403
    assert _rows(container, twilio_calls)[0].state == before
    assert call.post("/twilio/voice/status", call.params(CallStatus="completed"), token="x").status_code == 403
    assert _rows(container, tc.calls)[0].ended_at is None


def test_a_caller_who_hangs_up_while_describing_still_gets_a_request_and_a_recording(client, container, org,
                                                                                    building, account, recordings,
                                                                                    voice):
    call = _call(client, account, recordings)
    _walk_emergency_water(call)
    call.speak(SPEECH, duration=2, hang_up=True)
    call.hang_up()
    call.hang_up()  # Twilio may repeat a callback: nothing is done twice
    (row,) = _rows(container, tc.calls, tc.calls.c.sip_call_id == call.sid)
    assert row.request_id is not None and row.ended_at is not None
    assert len(_rows(container, t.requests)) == 1
    (rec,) = _rows(container, tc.recordings)
    assert rec.request_id == row.request_id


def test_timeouts_walk_the_flow_and_a_hang_up_at_the_recording_registers_through_the_clean_up(
        client, container, org, building, account, recordings, voice):
    call = _call(client, account, recordings, caller="anonymous")
    call.start()
    for _ in range(4):  # nothing pressed: each menu repeats once, then "a plain request", then "other"
        call.press("")
    assert call.waiting() == "Gather"  # anonymous: the apartment
    call.press("")
    call.press("")
    assert call.waiting() == "Record"
    call.hang_up()  # gone during the description: the interpreter counts what was said and registers it
    (row,) = _rows(container, tc.calls)
    assert row.ivr_path[-3:] == ["identify", "ask_apartment", "record_description"]
    assert row.ivr_path[:4] == ["greeting", "main_menu", "category_menu", "cat_other"]
    (request,) = _rows(container, t.requests)
    assert row.request_id == request.id and request.work_type == "other" and request.building_id is None


def test_a_hang_up_in_the_main_menu_registers_nothing(client, container, org, account, recordings, voice):
    call = _call(client, account, recordings)
    call.start()
    call.hang_up()
    (row,) = _rows(container, tc.calls)
    assert row.ended_at is not None and row.request_id is None and row.ivr_path == ["greeting", "main_menu"]
    assert _rows(container, t.requests) == []


def test_no_dispatcher_number_takes_a_voice_message_and_sets_a_callback_task(client, container, org, account,
                                                                             recordings, voice):
    call = _call(client, account, recordings)
    call.start()
    call.press("0")
    assert call.waiting() == "Record"
    assert call.verb("Record").get("action").endswith("name=voicemail")
    call.speak(SPEECH, duration=4)
    call.hang_up()
    (row,) = _rows(container, tc.calls)
    assert row.callback_reason == "voicemail" and row.callback_due_at is not None
    (rec,) = _rows(container, tc.recordings)
    assert rec.kind == "voicemail"


def test_a_dispatcher_who_answers_ends_the_flow_and_one_who_does_not_gets_a_voice_message(client, container, org,
                                                                                          account, recordings,
                                                                                          voice):
    voice.settings.dispatchers = "sip:dispatchers@pbx.example"
    call = _call(client, account, recordings)
    call.start()
    call.press("0")
    assert call.verb("Dial").find("Sip").text == "sip:dispatchers@pbx.example"
    call.dial_result("no-answer")
    assert call.waiting() == "Record"
    other = _call(client, account, recordings)
    other.start()
    other.press("0")
    other.dial_result("completed")
    assert other.waiting() == "Hangup"


def test_the_incoming_webhook_repeated_opens_one_call_and_answers_the_same(client, container, org, account,
                                                                           recordings, voice):
    call = _call(client, account, recordings)
    first = call.start()
    again = call.start()
    assert call.documents[0] == call.documents[1] and first.tag == again.tag == "Response"
    assert len(_rows(container, tc.calls)) == 1


def test_a_number_no_organisation_takes_is_rejected(client, container, org, other_org, account, recordings, voice):
    call = _call(client, account, recordings)
    root = call.start()
    assert root[0].tag == "Reject"
    assert _rows(container, tc.calls) == []


def test_a_recording_callback_fetches_from_the_configured_api_only(client, container, org, account, recordings,
                                                                   voice):
    call = _call(client, account, recordings)
    call.start()
    call.press("0")
    rec = call.verb("Record")
    recordings.recordings["RE" + "1" * 32] = SPEECH.read_bytes()
    params = {"AccountSid": account[0], "CallSid": call.sid, "RecordingSid": "RE" + "1" * 32,
              "RecordingUrl": "http://attacker.example/steal", "RecordingStatus": "completed"}
    assert call.post(rec.get("recordingStatusCallback"), params).status_code == 204
    assert recordings.fetched == ["RE" + "1" * 32]
    assert voice.calls.recording_url(account[0], "RE1").startswith(recordings.url + "/2010-04-01/Accounts/")


def test_prompts_are_served_to_twilio_and_nothing_else(client, voice):
    resp = client.get("/twilio/voice/prompts/digits/5.wav")
    assert resp.status_code == 200 and resp.mimetype == "audio/wav"
    assert resp.data[:4] == b"RIFF"
    assert client.get("/twilio/voice/prompts/no/such.wav").status_code == 404
    assert client.get("/twilio/voice/prompts/../../etc/passwd.wav").status_code == 404


def test_behind_a_proxy_the_signature_is_checked_against_the_public_url(container, org, account, recordings,
                                                                         voice_settings, monkeypatch):
    """Twilio signs https://public.example/...; the app sees http://127.0.0.1/... from the proxy (ProxyFix)."""
    from twilio.request_validator import RequestValidator

    from journal_api.app import create_app
    from telephony.twilio_voice import EXT, VoiceWeb

    monkeypatch.setenv("HOTLINE_TWILIO_VOICE_PROXY_HOPS", "1")
    app = create_app(container)
    app.extensions[EXT] = VoiceWeb(container, voice_settings)
    client = app.test_client()
    call = _call(client, account, recordings)
    params = call.params(CallStatus="ringing")
    public = "https://public.example/twilio/voice/incoming"
    forwarded = {"X-Forwarded-Proto": "https", "X-Forwarded-Host": "public.example", "X-Forwarded-For": "54.1.2.3"}
    sig = RequestValidator(account[1]).compute_signature(public, params)
    ok = client.post("/twilio/voice/incoming", data=params, base_url="http://127.0.0.1",
                     headers={"X-Twilio-Signature": sig, **forwarded})
    assert ok.status_code == 200 and b"<Gather" in ok.data
    internal = RequestValidator(account[1]).compute_signature("http://127.0.0.1/twilio/voice/incoming", params)
    refused = client.post("/twilio/voice/incoming", data=params, base_url="http://127.0.0.1",
                          headers={"X-Twilio-Signature": internal, **forwarded})
    assert refused.status_code == 403
