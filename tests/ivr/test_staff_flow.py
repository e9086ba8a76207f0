"""The staff flow (flows/staff.yaml, issue 8 §1) through the pure interpreter: the request a staff call is about (his
only open one, else keyed in, a wrong number asked once more), then the dispatchers or the technician."""
from __future__ import annotations

import pytest

from ivr_flows import load_flow, step
from ivr_flows.prompts import Catalogue

from ivr_support import (Digits, Gather, Hangup, HungUp, Invoke, InvokeResult, Recorded, Timeout, Transfer,
                         TransferResult, finish_after_hangup, played, waiting_action)
from ivr_flows.events import Started


@pytest.fixture(scope="module")
def flow():
    return load_flow("staff", prompt_ids=Catalogue().ids())


def begin(flow, did="dispatch"):
    actions, state = step(flow, None, Started(caller=None, did=did, call_id=5))
    assert waiting_action(actions) == Invoke("staff_request", {})
    return state


def answer(flow, state, op, ok, **data):
    return step(flow, state, InvokeResult(op, ok, data))


def test_his_only_open_request_is_taken_and_its_number_said_then_the_dispatchers_ring(flow):
    actions, state = answer(flow, begin(flow), "staff_request", True, request_id=9, request_number=507)
    assert played(actions) == ["ivr/request_number", "digits/5", "digits/0", "digits/7", "ivr/connecting_dispatcher"]
    assert waiting_action(actions) == Transfer("dispatchers", 25.0)
    actions, state = step(flow, state, TransferResult(True))
    assert actions == [Hangup("transferred")] and state.path[-1] == "transferred"


def test_without_one_open_request_he_keys_the_number_which_is_checked_and_said(flow):
    actions, state = answer(flow, begin(flow), "staff_request", False, error="not_found")
    assert played(actions) == ["staff/ask_request"] and isinstance(waiting_action(actions), Gather)
    assert waiting_action(actions).terminator == "#" and waiting_action(actions).max_digits == 9
    actions, state = step(flow, state, Digits("1234"))
    assert waiting_action(actions) == Invoke("attach_request", {"number": 1234})
    actions, state = answer(flow, state, "attach_request", True, request_id=3, request_number=1234)
    assert played(actions)[:5] == ["ivr/request_number", "digits/1", "digits/2", "digits/3", "digits/4"]
    assert waiting_action(actions) == Transfer("dispatchers", 25.0)


def test_a_wrong_number_is_said_so_and_asked_once_more_then_the_call_goes_on_without_one(flow):
    _, state = answer(flow, begin(flow), "staff_request", False, error="not_found")
    actions, state = step(flow, state, Digits("99"))
    actions, state = answer(flow, state, "attach_request", False, error="not_found")
    assert played(actions) == ["ivr/status_not_found", "staff/ask_request"]
    assert actions[0].barge_in  # the right number may be keyed while "не найдена" still plays
    actions, state = step(flow, state, Digits("98"))
    assert waiting_action(actions) == Invoke("attach_request", {"number": 98})
    actions, state = answer(flow, state, "attach_request", False, error="not_found")
    assert played(actions) == ["ivr/status_not_found", "ivr/connecting_dispatcher"]
    assert waiting_action(actions) == Transfer("dispatchers", 25.0)
    assert "request_number" not in state.vars


def test_the_second_try_may_be_right(flow):
    _, state = answer(flow, begin(flow), "staff_request", False, error="not_found")
    _, state = step(flow, state, Digits("99"))
    _, state = answer(flow, state, "attach_request", False, error="not_found")
    _, state = step(flow, state, Digits("12"))
    actions, state = answer(flow, state, "attach_request", True, request_id=3, request_number=12)
    assert played(actions) == ["ivr/request_number", "digits/1", "digits/2", "ivr/connecting_dispatcher"]


@pytest.mark.parametrize("event", [Digits(""), Timeout()], ids=["hash only", "nothing"])
def test_hash_alone_or_nothing_means_not_about_a_request(flow, event):
    _, state = answer(flow, begin(flow), "staff_request", False, error="not_found")
    actions, state = step(flow, state, event)
    assert played(actions) == ["ivr/connecting_dispatcher"]
    assert waiting_action(actions) == Transfer("dispatchers", 25.0)


def test_the_journal_down_puts_him_through_without_asking(flow):
    actions, _ = answer(flow, begin(flow), "staff_request", False, error="db_down")
    assert played(actions) == ["ivr/connecting_dispatcher"] and isinstance(waiting_action(actions), Transfer)


def test_no_dispatcher_answers_a_voice_message_and_a_callback(flow):
    _, state = answer(flow, begin(flow), "staff_request", True, request_id=9, request_number=7)
    actions, state = step(flow, state, TransferResult(False))
    assert played(actions) == ["ivr/dispatchers_busy"] and waiting_action(actions).name == "voicemail"
    actions, state = step(flow, state, Recorded("voicemail", 6.0, "silence"))
    assert waiting_action(actions) == Invoke("callback_task", {"reason": "voicemail"})


def test_a_dispatcher_calls_a_technician_who_does_not_answer(flow):
    state = begin(flow, did="to-ivanov")
    actions, state = answer(flow, state, "staff_request", True, request_id=9, request_number=7)
    assert played(actions) == ["ivr/request_number", "digits/7", "staff/connecting_technician"]
    assert waiting_action(actions) == Transfer("technician", 25.0)
    actions, state = step(flow, state, TransferResult(False))
    assert played(actions) == ["staff/technician_no_answer"] and actions[-1] == Hangup("normal")


def test_who_gives_up_while_it_rings_a_technician_is_called_back_a_dispatcher_is_not(flow):
    _, state = answer(flow, begin(flow), "staff_request", True, request_id=9, request_number=7)
    actions, _ = finish_after_hangup(flow, state)
    assert Invoke("callback_task", {"reason": "abandoned_in_queue"}) in actions
    _, state = answer(flow, begin(flow, did="to-ivanov"), "staff_request", True, request_id=9, request_number=7)
    actions, _ = step(flow, state, HungUp())
    assert actions == [Hangup("caller")]
