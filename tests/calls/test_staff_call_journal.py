"""The journal side of staff calls (issue 8 §1; journal_api/service/staff_calls.py), on PostgreSQL and SQLite: the
request a call is about (his only open request, or a number of his organisation), the call and its recordings
attached to it, and one line in its history, written once however often a worker replays it."""
from __future__ import annotations

import wave
from datetime import timedelta

import sqlalchemy as sa

from journal_api.service.requests import NewRequest
from journal_api.storage import tables_calls as tc

from conftest import SYSTEM


def staff_place(place):
    c, org = place["c"], place["org"]
    tech = c.registry.upsert_staff(org.id, SYSTEM, {"full_name": "Иванов Иван Петрович", "role": "technician",
                                                    "phone": "+7 912 345-67-89", "sip_account": "ivanov"})
    desk = c.registry.upsert_staff(org.id, SYSTEM, {"full_name": "Петрова Анна Сергеевна", "role": "dispatcher",
                                                    "phone": "+7 912 000-00-02", "sip_account": "petrova"})
    return c, org, tech, desk


def new_request(c, org, building, tech=None, text="Течь в подвале") -> int:
    r = c.requests.register(org.id, SYSTEM, NewRequest(description=text, work_type="water", building_id=building.id,
                                                       channel="dispatcher"))
    if tech is not None and r.assignee_id != tech.id:
        c.requests.assign(org.id, r.number, SYSTEM, "dispatcher", tech.id)
    elif tech is None and r.assignee_id is not None:
        c.requests.assign(org.id, r.number, SYSTEM, "dispatcher", None)
    return r.number


def open_call(c, org, uuid: str, to_number="dispatch", phone="+79123456789") -> int:
    now = c.clock()
    call_id = c.calls.open_call(org_id=org.id, sip_call_id=uuid, call_uuid=uuid, from_number=phone,
                                to_number=to_number, arrived_at=now)
    c.calls.answered(call_id, now)
    return call_id


def wav(path, seconds=2.0) -> str:
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(b"\x01\x00" * int(8000 * seconds))
    return str(path)


def history(c, org, number):
    return [h for h in c.requests.history(org.id, number, SYSTEM) if h.kind == "staff_call"]


def test_his_only_open_request_is_found_and_attached_none_or_several_are_not(place):
    c, org, tech, _ = staff_place(place)
    assert c.calls.staff_request(open_call(c, org, "u0"), account="ivanov") is None  # none
    number = new_request(c, org, place["b1"], tech)
    new_request(c, org, place["b1"], None, "Чужая заявка")  # not his
    call_id = open_call(c, org, "u1")
    found = c.calls.staff_request(call_id, account="ivanov")
    assert found["request_number"] == number
    assert c.calls.staff_request(call_id, account="ivanov") == found  # a replay: the same
    assert c.calls.staff_request(open_call(c, org, "u2"), account="nobody") is None
    new_request(c, org, place["b1"], tech, "Вторая")
    assert c.calls.staff_request(open_call(c, org, "u3"), account="ivanov") is None  # several: he is asked
    ok, data = c.calls.invoke("staff_request", {"account": "ivanov"}, org_id=org.id, call_id=open_call(c, org, "u4"))
    assert not ok and data == {"error": "not_found"}


def test_a_keyed_number_must_be_a_request_of_his_organisation(place, tmp_path):
    c, org, tech, _ = staff_place(place)
    other = c.registry.create_organisation("other", "УК Другая", "Europe/Moscow")
    b = c.registry.upsert_building(other.id, SYSTEM, {"building_id": "X", "city": "Москва", "street": "ул. Иная",
                                                      "house": "1", "entrances": 1, "floors": 5, "apartments": 10})
    foreign = [c.requests.register(other.id, SYSTEM, NewRequest(description="Чужая", work_type="water",
                                                                building_id=b.id, channel="dispatcher")).number
               for _ in range(3)]
    number = new_request(c, org, place["b1"], None)
    call_id = open_call(c, org, "u1")
    c.calls.attach_recording(call_id=call_id, kind="call", path=wav(tmp_path / "c.wav"))
    assert c.calls.attach_request(call_id, number=999) is None
    assert c.calls.attach_request(call_id, number=max(foreign)) is None  # another organisation's number
    assert c.calls.attach_request(call_id, number="12x") is None
    found = c.calls.attach_request(call_id, number=number)
    request = c.requests.get(org.id, number, SYSTEM)
    assert found == {"request_id": request.id, "request_number": number}
    with c.engine.connect() as conn:
        assert conn.scalar(sa.select(tc.calls.c.request_id).where(tc.calls.c.id == call_id)) == request.id
        assert set(conn.scalars(sa.select(tc.recordings.c.request_id).where(tc.recordings.c.call_id == call_id))) \
            == {request.id}


def test_the_call_gets_one_line_in_the_requests_history_however_often_it_is_logged(place, tmp_path):
    c, org, tech, desk = staff_place(place)
    number = new_request(c, org, place["b1"], tech)
    call_id = open_call(c, org, "u1")
    c.calls.staff_request(call_id, account="ivanov")
    c.calls.ended(call_id, at=c.clock() + timedelta(seconds=40), status="answered", hangup_cause="caller",
                  ivr_path=["find_request", "say_request", "route", "dispatch_call", "to_dispatcher", "transferred"])
    rec = c.calls.attach_recording(call_id=call_id, kind="call", path=wav(tmp_path / "c.wav"))
    assert c.calls.log_staff_call(call_id, account="ivanov", talk_s=31.6)
    assert c.calls.log_staff_call(call_id, account="ivanov", talk_s=31.6)  # a replay
    (entry,) = history(c, org, number)
    assert entry.note == f"Звонок Иванов Иван Петрович → диспетчерская: разговор 32 с, запись № {rec}."
    assert (entry.actor_name, entry.actor_role, entry.channel) == ("Иванов Иван Петрович", "technician", "phone")
    assert not c.calls.log_staff_call(open_call(c, org, "u2"), account="ivanov")  # about no request: no line


def test_a_voice_message_and_a_technician_who_does_not_answer(place, tmp_path):
    c, org, tech, desk = staff_place(place)
    number = new_request(c, org, place["b1"], tech)
    voice = open_call(c, org, "u1")
    c.calls.attach_request(voice, number=number)
    c.calls.callback_task(voice, reason="voicemail")
    c.calls.ended(voice, at=c.clock(), status="answered", ivr_path=["to_dispatcher", "voicemail_record", "callback"])
    rec = c.calls.attach_recording(call_id=voice, kind="voicemail", path=wav(tmp_path / "v.wav", 6.2))
    c.calls.log_staff_call(voice, account="ivanov")
    out = open_call(c, org, "u2", to_number="to-ivanov", phone="+79120000002")
    c.calls.staff_request(out, account="ivanov")
    c.calls.ended(out, at=c.clock(), status="answered", ivr_path=["to_technician", "technician_no_answer", "end"])
    call_rec = c.calls.attach_recording(call_id=out, kind="call", path=wav(tmp_path / "o.wav"))
    c.calls.log_staff_call(out, account="petrova")
    first, second = history(c, org, number)
    assert first.note == ("Звонок Иванов Иван Петрович → диспетчерская: никто не ответил, голосовое сообщение 6 с, "
                          f"запись № {rec}.")
    assert second.note == f"Звонок Петрова Анна Сергеевна → Иванов Иван Петрович: не ответил, запись № {call_rec}."
    assert second.actor_role == "dispatcher"
    with c.engine.connect() as conn:
        row = conn.execute(sa.select(tc.calls).where(tc.calls.c.id == voice)).one()
        kind, request_id = conn.execute(sa.select(tc.recordings.c.kind, tc.recordings.c.request_id)
                                        .where(tc.recordings.c.id == rec)).one()
    assert row.callback_reason == "voicemail" and row.request_id is not None and row.callback_done_at is None
    assert (kind, request_id) == ("voicemail", row.request_id)
