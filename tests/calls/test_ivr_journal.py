"""The default flow driven against the real journal (no SIP): every Invoke goes through CallService.invoke, so the
flow's arguments and the service's signatures are checked against each other on PostgreSQL and SQLite."""
from __future__ import annotations

import socket
from datetime import datetime, timezone
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa

from calls_support import open_call
from ivr_flows import load_flow, say, step
from ivr_flows.actions import Hangup, Invoke, Play
from ivr_flows.events import Digits, HungUp, InvokeResult, Recorded, Started, TransferResult
from journal_api.bootstrap import bootstrap
from journal_api.config import load_settings
from journal_api.domain.events import Actor
from journal_api.service.uow import MemoryPublisher
from journal_api.storage import tables_calls as tc

FLOW = load_flow("default")
DISPATCHER = Actor(kind="staff", role="dispatcher", name="Диспетчер")


def drive(c, org_id, call_id, caller, answers, *, hang_up_after=None):
    """Run a call: scripted answers for Gather/Record/Transfer, the journal for Invoke. Returns (prompts, state)."""
    answers = list(answers)
    actions, state = step(FLOW, None, Started(caller=caller, did="+74950000000", call_id=call_id))
    heard = []
    while True:
        heard += [p for a in actions if isinstance(a, Play) for p in a.prompts]
        if actions and isinstance(actions[-1], Hangup):
            return heard, state
        last = actions[-1]
        if isinstance(last, Invoke):
            ok, data = c.calls.invoke(last.op, last.args, org_id=org_id, call_id=call_id)
            event = InvokeResult(last.op, ok, data)
        elif hang_up_after is not None and state.node == hang_up_after:
            event, hang_up_after = HungUp(), None
        else:
            event = answers.pop(0)
        actions, state = step(FLOW, state, event)


def test_a_known_resident_registers_an_emergency_and_hears_the_real_number_and_deadline(place):
    c, org, b1 = place["c"], place["org"], place["b1"]
    call_id = open_call(c, org.id)
    heard, state = drive(c, org.id, call_id, "+79035551001",
                         [Digits("1"), Digits("2"), Recorded("description", 8.0, "silence")])
    call = c.calls.get_call(org.id, call_id)
    request = c.requests.get(org.id, call["request_number"], DISPATCHER)
    assert (request.urgency, request.work_type, request.building_id, request.apartment) == \
        ("emergency", "water", b1.id, 45)
    local = request.due_at.astimezone(ZoneInfo("Europe/Moscow"))
    said = ["ivr/your_request_number"] + say.number_prompts(request.number, digits=True) + \
        ["ivr/deadline_until"] + say.datetime_prompts(local) + ["ivr/goodbye"]
    assert heard[-len(said):] == said


def test_an_anonymous_caller_in_a_building_shared_apartment_number_is_placed_by_the_house(place):
    c, org, b2 = place["c"], place["org"], place["b2"]
    call_id = open_call(c, org.id, caller="anonymous")
    heard, _ = drive(c, org.id, call_id, None, [Digits("2"), Digits("1"), Digits("45#"), Digits("12#"),
                                                Recorded("description", 8.0, "terminator")])
    assert "ivr/ask_house" in heard
    request = c.requests.get(org.id, c.calls.get_call(org.id, call_id)["request_number"], DISPATCHER)
    assert (request.building_id, request.apartment, request.caller_phone) == (b2.id, 45, None)


def test_the_status_enquiry_reads_the_request_from_the_journal(place):
    c, org = place["c"], place["org"]
    registered = c.calls.register_from_call(open_call(c, org.id, uuid="first"), work_type="heating",
                                            emergency=False, apartment=None, building_id=None)
    heard, _ = drive(c, org.id, open_call(c, org.id, uuid="second"), "+79035551001",
                     [Digits("3"), Digits(f"{registered['number']}#")])
    assert f"status/{registered['status']}" in heard
    heard, _ = drive(c, org.id, open_call(c, org.id, uuid="third"), "+79035551001",
                     [Digits("3"), Digits("987654#"), Digits("9")])
    assert "ivr/status_not_found" in heard


def test_a_caller_who_hangs_up_during_the_description_still_leaves_a_request(place):
    c, org = place["c"], place["org"]
    call_id = open_call(c, org.id)
    _, state = drive(c, org.id, call_id, "+79035551001", [Digits("2"), Digits("5")],
                     hang_up_after="record_description")
    assert state.hung_up and state.cause == "caller"
    assert c.calls.get_call(org.id, call_id)["request_number"] is not None


def test_no_dispatcher_answers_so_the_voice_message_makes_a_callback_task(place):
    c, org = place["c"], place["org"]
    call_id = open_call(c, org.id)
    heard, _ = drive(c, org.id, call_id, "+79035551001", [Digits("0"), TransferResult(False),
                                                          Recorded("voicemail", 11.0, "silence")])
    assert "ivr/callback_promised" in heard
    call = c.calls.get_call(org.id, call_id)
    assert call["callback_reason"] == "voicemail" and call["callback_due_at"] is not None


def test_database_down_the_caller_hears_the_number_comes_by_sms(tmp_path):
    """The service layer reports db_down for every op, and never half-writes; the flow takes the SMS path."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # nothing listens there once closed
    settings = load_settings(environ={}, database_url=f"postgresql://postgres@127.0.0.1:{port}/none",
                             data_dir=str(tmp_path), env="test")
    c = bootstrap(settings, publisher=MemoryPublisher())
    try:
        for op, args in (("lookup_caller", {"phone": "+79035551001"}), ("register_request", {"work_type": "water"}),
                         ("callback_task", {"reason": "voicemail"})):
            assert c.calls.invoke(op, args, org_id=1, call_id=1) == (False, {"error": "db_down"})
        heard, state = drive(c, 1, 1, "+79035551001", [Digits("2"), Digits("1"), Digits("45#"),
                                                       Recorded("description", 5.0, "silence")])
        assert heard[-2:] == ["ivr/accepted_number_by_sms", "ivr/goodbye"] and state.vars["registration_spooled"]
        with pytest.raises(sa.exc.OperationalError):
            c.calls.open_call(org_id=1, sip_call_id="x", call_uuid="x", from_number=None, to_number=None,
                              arrived_at=datetime.now(timezone.utc))
    finally:
        c.dispose()


def test_invoke_maps_unknown_ops_and_refused_input_to_error_codes(place):
    c, org = place["c"], place["org"]
    call_id = open_call(c, org.id)
    assert c.calls.invoke("drop_tables", {}, org_id=org.id, call_id=call_id) == (False, {"error": "unknown_op"})
    ok, data = c.calls.invoke("callback_task", {"reason": "because"}, org_id=org.id, call_id=call_id)
    assert not ok and data["error"] == "validation_error"
    assert c.calls.invoke("buildings_for_apartment", {"apartment": 999}, org_id=org.id, call_id=call_id) == \
        (False, {"error": "not_found"})
    ok, data = c.calls.invoke("buildings_for_apartment", {"apartment": 45}, org_id=org.id, call_id=call_id)
    assert ok and len(data["items"]) == 2
    with c.engine.connect() as conn:
        assert conn.scalar(sa.select(tc.calls.c.callback_reason).where(tc.calls.c.id == call_id)) is None
