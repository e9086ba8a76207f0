"""The default Russian flow, step by step, without SIP: what the caller hears and what the journal is asked."""
from __future__ import annotations

import pytest

from ivr_flows import load_flow
from ivr_support import (Digits, Gather, Hangup, HungUp, Invoke, InvokeResult, Play, Record, Recorded, Timeout,
                         Transfer, TransferResult, finish_after_hangup, ok_data, played, start, step)


@pytest.fixture(scope="module")
def flow():
    return load_flow("default")


def test_a_known_resident_reports_an_emergency_and_hears_number_and_deadline(flow):
    actions, s = start(flow)
    assert played(actions) == ["ivr/greeting", "ivr/main_menu"] and actions[0].barge_in
    assert actions[-1] == Gather(max_digits=1, timeout_s=6.0, terminator=None, inter_digit_s=3.0)
    actions, s = step(flow, s, Digits("1"))
    assert played(actions) == ["ivr/emergency_menu"]
    actions, s = step(flow, s, Digits("2"))  # flooding
    assert actions == [Invoke("lookup_caller", {"phone": "+79035551001"})]
    actions, s = step(flow, s, InvokeResult("lookup_caller", True, ok_data("lookup_caller")))
    assert played(actions) == ["ivr/address_known", "ivr/record_description"]
    assert actions[-1] == Record(name="description", max_s=120.0, silence_s=5.0, terminator="#", beep=True)
    actions, s = step(flow, s, Recorded("description", 14.2, "silence"))
    assert actions[-1] == Invoke("register_request", {"work_type": "water", "emergency": True, "apartment": 45,
                                                      "building_id": 3})
    actions, s = step(flow, s, InvokeResult("register_request", True, ok_data("register_request")))
    assert played(actions) == ["ivr/your_request_number", "digits/1", "digits/2", "digits/3", "digits/4",
                               "ivr/deadline_until", "digits/18", "digits/oclock", "digits/20", "digits/6",
                               "digits/mon-10", "ivr/goodbye"]
    assert actions[-1] == Hangup("normal") and s.done
    assert s.digits == ("1", "2") and s.vars["number"] == 1234
    assert s.path[:3] == ("greeting", "main_menu", "emergency_menu") and s.path[-1] == "end"
    assert step(flow, s, Digits("5")) == ([], s)  # nothing after the end


def test_a_gas_emergency_hears_the_safety_advice_first(flow):
    _, s = start(flow)
    _, s = step(flow, s, Digits("1"))
    actions, s = step(flow, s, Digits("1"))
    assert played(actions) == ["ivr/gas_warning"] and s.vars["work_type"] == "gas"


def test_an_anonymous_caller_is_asked_the_apartment_and_then_the_house_when_two_buildings_have_it(flow):
    _, s = start(flow, caller=None)
    _, s = step(flow, s, Digits("2"))
    actions, s = step(flow, s, Digits("2"))  # heating
    assert played(actions) == ["ivr/ask_apartment"]
    assert actions[-1] == Gather(max_digits=4, timeout_s=8.0, terminator="#", inter_digit_s=3.0)
    actions, s = step(flow, s, Digits("45#"))
    assert actions == [Invoke("buildings_for_apartment", {"apartment": 45})]
    actions, s = step(flow, s, InvokeResult("buildings_for_apartment", True, ok_data("buildings_for_apartment")))
    assert played(actions) == ["ivr/ask_house"]
    actions, s = step(flow, s, Digits("12#"))
    assert s.vars["building_id"] == 4 and isinstance(actions[-1], Record)


@pytest.mark.parametrize("caller", ["", "   ", None])
def test_an_empty_caller_id_takes_the_ask_apartment_path(flow, caller):
    _, s = start(flow, caller=caller)
    _, s = step(flow, s, Digits("2"))
    actions, s = step(flow, s, Digits("9"))
    assert s.node == "ask_apartment"


def test_a_caller_id_the_journal_does_not_know_takes_the_ask_apartment_path(flow):
    _, s = start(flow, caller="garbage")
    _, s = step(flow, s, Digits("2"))
    _, s = step(flow, s, Digits("1"))
    actions, s = step(flow, s, InvokeResult("lookup_caller", False, {"error": "not_found"}))
    assert played(actions) == ["ivr/ask_apartment"]


def test_one_building_with_the_apartment_is_taken_without_asking_the_house(flow):
    _, s = start(flow, caller=None)
    _, s = step(flow, s, Digits("2"))
    _, s = step(flow, s, Digits("1"))
    _, s = step(flow, s, Digits("7#"))
    actions, s = step(flow, s, InvokeResult("buildings_for_apartment", True,
                                            {"items": [{"building_id": 5, "house_number": 3}]}))
    assert s.vars["building_id"] == 5 and s.node == "record_description"


def test_dtmf_that_never_comes_takes_the_timeout_path_to_a_plain_request(flow):
    actions, s = start(flow, caller=None)
    actions, s = step(flow, s, Timeout())
    assert played(actions) == ["ivr/main_menu"]  # one more try, without "wrong choice": nothing was pressed
    actions, s = step(flow, s, Timeout())
    assert played(actions) == ["ivr/category_menu"]
    _, s = step(flow, s, Timeout())
    actions, s = step(flow, s, Timeout())
    assert s.vars["work_type"] == "other" and played(actions) == ["ivr/ask_apartment"]
    actions, s = step(flow, s, Timeout())
    assert played(actions) == ["ivr/ask_apartment"]
    actions, s = step(flow, s, Timeout())
    assert s.node == "record_description" and s.vars.get("apartment") is None
    actions, s = step(flow, s, Recorded("description", 30, "max"))
    assert actions[-1].args == {"work_type": "other", "emergency": False, "apartment": None, "building_id": None}


def test_a_wrong_key_repeats_the_menu_once_saying_it_was_wrong(flow):
    _, s = start(flow)
    actions, s = step(flow, s, Digits("7"))
    assert played(actions) == ["ivr/invalid", "ivr/main_menu"] and s.node == "main_menu"
    assert s.digits == ("7",)
    actions, s = step(flow, s, Digits("8"))
    assert played(actions) == ["ivr/category_menu"]  # the default after one retry


def test_an_apartment_number_out_of_range_is_asked_again(flow):
    _, s = start(flow, caller=None)
    _, s = step(flow, s, Digits("2"))
    _, s = step(flow, s, Digits("1"))
    actions, s = step(flow, s, Digits("0#"))
    assert played(actions) == ["ivr/invalid", "ivr/ask_apartment"] and "apartment" not in s.vars


def test_database_down_at_registration_says_the_number_comes_by_sms_and_is_not_registered_again(flow):
    _, s = start(flow)
    for event in (Digits("2"), Digits("1"), InvokeResult("lookup_caller", False, {"error": "db_down"}),
                  Digits("45#"), InvokeResult("buildings_for_apartment", False, {"error": "db_down"}),
                  Recorded("description", 5, "terminator")):
        actions, s = step(flow, s, event)
    actions, s = step(flow, s, InvokeResult("register_request", False, {"error": "db_down", "spooled": True}))
    assert played(actions) == ["ivr/accepted_number_by_sms", "ivr/goodbye"] and actions[-1] == Hangup("normal")
    assert s.vars["registration_spooled"] is True


def test_a_hang_up_after_a_spooled_registration_does_not_register_again(flow):
    _, s = start(flow, caller=None)
    for event in (Digits("2"), Digits("1"), Timeout(), Timeout(), Recorded("description", 5, "silence")):
        _, s = step(flow, s, event)
    assert s.node == "register"
    # the caller hangs up while the worker spools the registration; the result comes after HungUp
    actions, s = step(flow, s, HungUp())
    assert actions[0].op == "register_request"  # clean-up: the service registers once per call
    actions, s = step(flow, s, InvokeResult("register_request", False, {"error": "db_down", "spooled": True}))
    assert actions == [Hangup("caller")]


def test_option_zero_transfers_and_no_answer_leaves_a_voice_message_and_a_callback_task(flow):
    _, s = start(flow)
    actions, s = step(flow, s, Digits("0"))
    assert played(actions) == ["ivr/connecting_dispatcher"] and actions[-1] == Transfer("dispatchers", 25.0)
    actions, s = step(flow, s, TransferResult(answered=False))
    assert played(actions) == ["ivr/dispatchers_busy"] and actions[-1].name == "voicemail"
    actions, s = step(flow, s, Recorded("voicemail", 9, "silence"))
    assert actions == [Invoke("callback_task", {"reason": "voicemail"})]
    actions, s = step(flow, s, InvokeResult("callback_task", True, ok_data("callback_task")))
    assert played(actions) == ["ivr/callback_promised", "ivr/goodbye"] and actions[-1] == Hangup("normal")


def test_an_answered_transfer_ends_the_ivr_with_cause_transferred(flow):
    _, s = start(flow)
    _, s = step(flow, s, Digits("0"))
    actions, s = step(flow, s, TransferResult(answered=True))
    assert actions == [Hangup("transferred")] and not s.vars["transfer_pending"]


def test_the_status_enquiry_says_number_status_and_deadline(flow):
    _, s = start(flow)
    actions, s = step(flow, s, Digits("3"))
    assert actions[-1] == Gather(max_digits=9, timeout_s=10.0, terminator="#", inter_digit_s=3.0)
    actions, s = step(flow, s, Digits("1234#"))
    assert actions == [Invoke("request_status", {"number": 1234})]
    actions, s = step(flow, s, InvokeResult("request_status", True, ok_data("request_status")))
    assert played(actions) == ["ivr/request_number", "digits/1", "digits/2", "digits/3", "digits/4",
                               "status/accepted", "ivr/deadline_until", "digits/18", "digits/oclock", "digits/20",
                               "digits/6", "digits/mon-10", "ivr/goodbye"]


def test_an_unknown_request_number_is_said_and_the_menu_offered_again(flow):
    _, s = start(flow)
    _, s = step(flow, s, Digits("3"))
    _, s = step(flow, s, Digits("99#"))
    actions, s = step(flow, s, InvokeResult("request_status", False, {"error": "not_found"}))
    assert played(actions) == ["ivr/status_not_found", "ivr/main_menu"] and s.node == "main_menu_again"
    assert actions[0] == Play(("ivr/status_not_found",), True)  # keys pressed during it count for the menu
    actions, s = step(flow, s, Digits("3"))
    assert s.node == "status_ask" and isinstance(actions[-1], Gather)


def test_a_hang_up_during_the_description_still_registers_the_request(flow):
    _, s = start(flow)
    for event in (Digits("2"), Digits("4"), InvokeResult("lookup_caller", True, ok_data("lookup_caller"))):
        _, s = step(flow, s, event)
    assert s.node == "record_description"
    actions, s = finish_after_hangup(flow, s)
    assert actions[0] == Invoke("register_request", {"work_type": "electricity", "emergency": False,
                                                     "apartment": 45, "building_id": 3})
    assert actions[-1] == Hangup("caller") and s.done


def test_a_hang_up_while_the_request_is_being_registered_registers_it_once_more_idempotently(flow):
    _, s = start(flow)
    for event in (Digits("2"), Digits("4"), InvokeResult("lookup_caller", True, ok_data("lookup_caller")),
                  Recorded("description", 3, "terminator")):
        _, s = step(flow, s, event)
    assert s.node == "register" and s.waiting == "invoke"
    actions, s = finish_after_hangup(flow, s)
    assert [a.op for a in actions if isinstance(a, Invoke)] == ["register_request"]  # the service returns the first


def test_a_hang_up_after_registration_needs_no_clean_up(flow):
    _, s = start(flow)
    for event in (Digits("2"), Digits("4"), InvokeResult("lookup_caller", True, ok_data("lookup_caller")),
                  Recorded("description", 3, "terminator")):
        _, s = step(flow, s, event)
    _, s = step(flow, s, InvokeResult("register_request", True, ok_data("register_request")))
    assert s.done
    assert step(flow, s, HungUp()) == ([], s)


def test_a_hang_up_while_waiting_for_a_dispatcher_asks_for_a_callback(flow):
    _, s = start(flow)
    _, s = step(flow, s, Digits("0"))
    actions, s = finish_after_hangup(flow, s)
    assert actions[0] == Invoke("callback_task", {"reason": "abandoned_in_queue"})


def test_a_hang_up_during_the_voice_message_still_asks_for_the_callback(flow):
    _, s = start(flow)
    _, s = step(flow, s, Digits("0"))
    _, s = step(flow, s, TransferResult(answered=False))
    actions, s = finish_after_hangup(flow, s)
    assert actions[0] == Invoke("callback_task", {"reason": "voicemail"})


def test_a_caller_who_leaves_with_nothing_done_gets_a_callback_task(flow):
    _, s = start(flow)
    actions, s = finish_after_hangup(flow, s)
    assert actions == [Invoke("callback_task", {"reason": "abandoned"}), Hangup("caller")] and s.hung_up


def test_a_caller_who_heard_the_status_needs_no_callback_but_one_who_left_before_gets_one(flow):
    _, s = start(flow)
    _, s = step(flow, s, Digits("3"))
    _, s = step(flow, s, Digits("12#"))
    _, s = step(flow, s, InvokeResult("request_status", True, ok_data("request_status")))
    assert s.done  # the flow said goodbye itself
    _, s = start(flow)
    _, s = step(flow, s, Digits("3"))
    actions, s = finish_after_hangup(flow, s)  # left while typing the number: nothing heard yet
    assert actions[0] == Invoke("callback_task", {"reason": "abandoned"})


def test_events_nobody_waits_for_are_ignored_and_states_are_never_mutated(flow):
    from ivr_flows.events import PlayDone

    _, s = start(flow)
    before = (s.node, s.path, dict(s.vars))
    for event in (PlayDone(), Recorded("description", 1, "max"), TransferResult(True),
                  InvokeResult("register_request", True, {})):
        assert step(flow, s, event) == ([], s)
    _, later = step(flow, s, Digits("2"))
    assert (s.node, s.path, dict(s.vars)) == before and later.node != s.node
    with pytest.raises(TypeError):
        s.vars["x"] = 1  # read-only
    assert isinstance(later.path, tuple) and isinstance(Play(("a",)).prompts, tuple)


@pytest.mark.parametrize("due", ["tomorrow", 12345, {"x": 1}, ""])
def test_a_deadline_that_is_not_a_date_is_left_out_not_an_error(flow, due):
    _, s = start(flow)
    for event in (Digits("2"), Digits("4"), InvokeResult("lookup_caller", True, ok_data("lookup_caller")),
                  Recorded("description", 3, "terminator")):
        _, s = step(flow, s, event)
    actions, s = step(flow, s, InvokeResult("register_request", True, ok_data("register_request", due_local=due)))
    assert played(actions)[:5] == ["ivr/your_request_number", "digits/1", "digits/2", "digits/3", "digits/4"]
    assert "ivr/deadline_until" not in played(actions)  # "срок — до" is said with a date or not at all
    assert played(actions)[-1] == "ivr/goodbye" and actions[-1] == Hangup("normal")
