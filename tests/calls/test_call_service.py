"""CallService on PostgreSQL and SQLite: the journal side of a hotline call."""
from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa

from journal_api.storage import tables as t

from calls_support import T0, open_call, write_wav


def test_a_call_is_opened_once_per_call_uuid_and_closed_with_its_path_and_digits(place):
    c, org = place["c"], place["org"]
    first = open_call(c, org.id)
    assert open_call(c, org.id) == first  # a replay from the spool finds the same call
    c.calls.ended(first, at=T0 + timedelta(seconds=40), status="answered", hangup_cause="normal",
                  ivr_path=["greeting", "main_menu"], digits=["2", "45#"])
    call = c.calls.get_call(org.id, first)
    assert (call["status"], call["hangup_cause"], call["ivr_path"], call["digits"]) == \
        ("answered", "normal", ["greeting", "main_menu"], ["2", "45#"])
    assert call["answered_at"] == T0 and call["ended_at"] == T0 + timedelta(seconds=40)
    assert call["callback_reason"] is None


def test_the_did_selects_the_organisation_and_a_single_organisation_is_the_default(place):
    c, org = place["c"], place["org"]
    assert c.calls.resolve_org("+74951112233") == org.id  # the only organisation
    other = c.registry.create_organisation("other", "УК Другая", "Europe/Moscow")
    assert c.calls.resolve_org("+74951112233") is None
    with c.engine.begin() as conn:
        conn.execute(sa.update(t.organisations).where(t.organisations.c.id == other.id)
                     .values(settings={"dids": ["8 (495) 111-22-33"]}))
    assert c.calls.resolve_org("+74951112233") == other.id
    assert c.calls.resolve_org("sip:74951112233@hotline") == other.id
    assert c.calls.resolve_org("+74959999999") is None


def test_an_over_capacity_call_is_logged_as_missed_with_a_callback_due_in_ten_minutes(place):
    c, org = place["c"], place["org"]
    call_id = c.calls.missed(org_id=org.id, sip_call_id="x", from_number="+79035551001", to_number="+74950000000",
                             at=T0)
    call = c.calls.get_call(org.id, call_id)
    assert call["status"] == "over_capacity" and call["ended_at"] == T0
    assert call["callback_reason"] == "over_capacity" and call["callback_due_at"] == T0 + timedelta(minutes=10)
    names = [r.name for r in _outbox(c)]
    assert names == ["call.callback_requested"]


def test_an_anonymous_missed_call_is_logged_without_a_callback(place):
    c, org = place["c"], place["org"]
    call_id = c.calls.missed(org_id=org.id, sip_call_id="x", from_number="anonymous", to_number=None, at=T0,
                             status="missed")
    assert c.calls.get_call(org.id, call_id)["callback_reason"] is None


def test_a_known_residents_phone_gives_building_and_apartment_and_garbage_gives_none(place):
    c, org, b1 = place["c"], place["org"], place["b1"]
    found = c.calls.lookup_caller(org.id, "89035551001")
    assert found == {"building_id": b1.id, "apartment": 45, "address": "ул. Ленина, д. 10"}
    assert c.calls.lookup_caller(org.id, "+79990000000") is None
    assert c.calls.lookup_caller(org.id, "anonymous") is None
    assert c.calls.lookup_caller(org.id, None) is None


def test_buildings_for_an_apartment_are_those_with_enough_apartments_with_house_numbers(place):
    c, org = place["c"], place["org"]
    both = c.calls.buildings_for_apartment(org.id, 45)
    assert [(b["building_id"], b["house_number"]) for b in both] == [(place["b1"].id, 10), (place["b2"].id, 12)]
    assert [b["building_id"] for b in c.calls.buildings_for_apartment(org.id, 100)] == [place["b1"].id]
    assert c.calls.buildings_for_apartment(org.id, 500) == []


def test_registering_from_a_call_links_call_and_request_once_and_gives_number_and_local_deadline(place):
    c, org, b1 = place["c"], place["org"], place["b1"]
    call_id = open_call(c, org.id)
    first = c.calls.register_from_call(call_id, work_type="water", emergency=True, apartment=45,
                                       building_id=b1.id)
    again = c.calls.register_from_call(call_id, work_type="water", emergency=True, apartment=45,
                                       building_id=b1.id)
    assert again["number"] == first["number"] and again["request_id"] == first["request_id"]
    request = c.requests.get(org.id, first["number"], _dispatcher(org.id))
    assert (request.channel, request.urgency, request.work_type, request.apartment, request.building_id) == \
        ("phone", "emergency", "water", 45, b1.id)
    assert request.caller_phone == "+79035551001"
    assert first["due_local"].utcoffset() == timedelta(hours=3) and first["due_at"] == request.due_at
    assert c.calls.get_call(org.id, call_id)["request_number"] == first["number"]


def test_a_work_type_or_building_the_journal_refuses_does_not_lose_the_request(place):
    c, org = place["c"], place["org"]
    call_id = open_call(c, org.id, caller="+79990001122")  # not a known resident: no place from the phone
    out = c.calls.register_from_call(call_id, work_type="no_such_type", emergency=False, apartment=7,
                                     building_id=999999)
    request = c.requests.get(org.id, out["number"], _dispatcher(org.id))
    assert (request.work_type, request.building_id, request.apartment) == ("other", None, None)
    assert "записи звонка" in request.description


def test_the_status_enquiry_says_status_text_and_local_deadline_or_nothing(place):
    c, org = place["c"], place["org"]
    out = c.calls.register_from_call(open_call(c, org.id), work_type="heating", emergency=False, apartment=None,
                                     building_id=None)
    status = c.calls.request_status(org.id, out["number"])
    assert status["status"] == out["status"] and status["status_text"] in ("Новая", "Назначена")
    assert status["due_local"] == out["due_local"]
    assert c.calls.request_status(org.id, out["number"] + 1000) is None


def test_a_callback_task_is_set_once_and_marked_done_by_a_dispatcher(place):
    c, org = place["c"], place["org"]
    call_id = open_call(c, org.id)
    task = c.calls.callback_task(call_id, reason="voicemail")
    again = c.calls.callback_task(call_id, reason="abandoned_in_queue")
    assert task["due_at"] == again["due_at"] and again["reason"] == "voicemail"
    assert [x["id"] for x in c.calls.list_calls(org.id, _filter(callback="pending")).items] == [call_id]
    c.calls.callback_done(org.id, call_id, _dispatcher(org.id))
    assert c.calls.list_calls(org.id, _filter(callback="pending")).items == []
    assert [r.name for r in _outbox(c)].count("call.callback_requested") == 1


def test_a_recording_is_stored_with_checksum_duration_and_format_and_linked_to_the_request(place, tmp_path):
    c, org = place["c"], place["org"]
    call_id = open_call(c, org.id)
    rec_id = c.calls.attach_recording(call_id=call_id, kind="description", path=write_wav(tmp_path / "d.wav", 2.5))
    out = c.calls.register_from_call(call_id, work_type="water", emergency=False, apartment=None, building_id=None)
    assert c.calls.attach_recording(call_id=call_id, kind="description", path=tmp_path / "d.wav") == rec_id
    rec = c.calls.get_call(org.id, call_id)["recordings"][0]
    assert (rec["id"], rec["kind"], rec["duration_s"], rec["sample_rate"], rec["format"]) == \
        (rec_id, "description", 2.5, 8000, "wav/pcm_s16le")
    assert rec["request_id"] == out["request_id"] and len(rec["sha256"]) == 64
    stored = [r for r in _outbox(c) if r.name == "recording.stored"]
    assert [r.payload["recording_id"] for r in stored] == [rec_id]


def test_a_dropped_calls_wav_with_an_unfinished_header_is_stored_with_its_real_duration(place, tmp_path):
    c, org = place["c"], place["org"]
    path = write_wav(tmp_path / "partial.wav", 1.0)
    raw = bytearray(open(path, "rb").read())
    raw[4:8] = raw[40:44] = b"\x00\x00\x00\x00"  # the sizes a worker that died never wrote
    open(path, "wb").write(bytes(raw))
    rec_id = c.calls.attach_recording(call_id=open_call(c, org.id), kind="call", path=path)
    rec = c.calls.get_call(org.id, c.calls.list_calls(org.id, _filter()).items[0]["id"])["recordings"][0]
    assert rec["id"] == rec_id and abs(rec["duration_s"] - 1.0) < 0.01


def _outbox(c):
    with c.engine.connect() as conn:
        return conn.execute(sa.select(t.outbox).order_by(t.outbox.c.id)).all()


def _filter(**kw):
    from journal_api.service.call_queries import CallFilter

    return CallFilter(**kw)


def _dispatcher(org_id):
    from journal_api.domain.events import Actor

    return Actor(kind="staff", role="dispatcher", id=None, name="Диспетчер")


def test_two_registrations_of_one_call_at_the_same_time_make_one_request(container, tmp_path):
    """PostgreSQL: a hang-up clean-up racing the original registration (the call's row is locked meanwhile)."""
    from concurrent.futures import ThreadPoolExecutor

    org = container.registry.create_organisation("demo", "УК Демо", "Europe/Moscow")
    call_id = open_call(container, org.id)
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda _: container.calls.register_from_call(
            call_id, work_type="water", emergency=False, apartment=None, building_id=None), range(4)))
    assert len({r["number"] for r in results}) == 1
    with container.engine.connect() as conn:
        assert conn.scalar(sa.select(sa.func.count()).select_from(t.requests)) == 1


def test_opening_a_call_for_an_organisation_that_does_not_exist_fails_loudly(place):
    c = place["c"]
    with pytest.raises(sa.exc.IntegrityError):
        open_call(c, 999999, uuid="nobody")
    with pytest.raises(Exception, match="not a call direction"):
        c.calls.open_call(org_id=place["org"].id, sip_call_id="x", call_uuid="y", from_number=None, to_number=None,
                          arrived_at=T0, direction="sideways")
