"""Every path of the default flow: every answer a worker can give at every waiting point, and a hang-up at every
node; plus random event sequences (hypothesis). step never fails, and every call ends in exactly one Hangup."""
from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ivr_flows import load_flow
from ivr_flows.events import PlayDone
from ivr_support import (Digits, Gather, Hangup, Invoke, InvokeResult, Record, Recorded, Timeout, Transfer,
                         TransferResult, finish_after_hangup, ok_data, start, step, waiting_action)

FLOW = load_flow("default")
CALLERS = ["+79035551001", None, "garbage"]


def answers(flow, state, action):
    """Every answer a worker may give to the waiting action."""
    if isinstance(action, Gather):
        node = flow.nodes[state.node]
        keys = sorted(str(k) for k in (node.get("choices") or {}))
        typed = keys + ["8"] if node["type"] == "menu" else ["45#", "10#", "12#", "1234#", "0#", "#", "99999#"]
        return [Digits(k) for k in typed] + [Timeout()]
    if isinstance(action, Record):
        return [Recorded(action.name, 12.0, "silence"), Recorded(action.name, 0.0, "max")]
    if isinstance(action, Transfer):
        return [TransferResult(True), TransferResult(False)]
    if isinstance(action, Invoke):
        return [InvokeResult(action.op, True, ok_data(action.op)), InvokeResult(action.op, False, {"error": "db_down"}),
                InvokeResult(action.op, False, {"error": "not_found"}),
                InvokeResult(action.op, True, {"items": [{"building_id": 3, "house_number": 10,
                                                          "incident_work_type": "water"}]}),
                InvokeResult(action.op, True, {})]
    raise AssertionError(f"a batch must end in a waiting action or Hangup, not {action!r}")


def explore():
    """Depth-first over every answer; states are deduplicated by node, attempts and which vars are set."""
    seen, ends, hangups, visited = set(), 0, 0, set()
    todo = [start(FLOW, caller=caller) for caller in CALLERS]
    while todo:
        actions, state = todo.pop()
        visited.update(state.path)
        assert not any(isinstance(a, Hangup) and a.cause in ("ivr_error", "ivr_loop") for a in actions), actions
        if state.done:
            assert isinstance(actions[-1], Hangup) and sum(isinstance(a, Hangup) for a in actions) == 1
            ends += 1
            continue
        key = (state.node, tuple(sorted(state.attempts.items())),
               tuple(sorted((k, bool(v)) for k, v in state.vars.items() if k not in ("digits",))))
        if key in seen:
            continue
        seen.add(key)
        out, final = finish_after_hangup(FLOW, state)  # the caller hangs up right here
        assert final.done and isinstance(out[-1], Hangup)
        hangups += 1
        action = waiting_action(actions)
        for event in answers(FLOW, state, action):
            todo.append(step(FLOW, state, event))
    return visited, ends, hangups


def test_every_answer_at_every_node_ends_the_call_cleanly_and_every_node_is_reached():
    visited, ends, hangups = explore()
    assert visited == set(FLOW.nodes), f"never reached: {sorted(set(FLOW.nodes) - visited)}"
    assert ends > 100 and hangups > 50


def test_a_hang_up_with_a_description_always_asks_to_register_it_unless_it_was():
    """Wherever the caller leaves after recording a description, the request is registered (or already was)."""
    _, s = start(FLOW, caller=None)
    for event in (Digits("2"), Digits("5"), Digits("45#")):
        _, s = step(FLOW, s, event)
    _, s = step(FLOW, s, InvokeResult("buildings_for_apartment", True, ok_data("buildings_for_apartment")))
    _, s = step(FLOW, s, Digits("10#"))
    _, s = step(FLOW, s, Recorded("description", 4, "terminator"))
    out, _ = finish_after_hangup(FLOW, s)
    assert out[0] == Invoke("register_request", {"work_type": "elevator", "emergency": False, "apartment": 45,
                                                 "building_id": 3})


EVENTS = st.one_of(
    st.builds(Digits, st.text(alphabet="0123456789*#x", max_size=6)),
    st.just(Timeout()), st.just(PlayDone()),
    st.builds(Recorded, st.sampled_from(["description", "voicemail", "other"]), st.floats(-5, 200),
              st.sampled_from(["silence", "terminator", "max"])),
    st.builds(TransferResult, st.booleans()),
    st.builds(InvokeResult, st.sampled_from(["lookup_caller", "buildings_for_apartment", "register_request",
                                             "request_status", "callback_task", "bogus"]), st.booleans(),
              st.one_of(st.just({}), st.just({"error": "db_down"}),
                        st.dictionaries(st.sampled_from(["number", "due_local", "items", "building_id", "apartment",
                                                         "status", "error"]),
                                        st.one_of(st.none(), st.integers(-5, 10**10), st.text(max_size=5),
                                                  st.lists(st.dictionaries(st.sampled_from(["building_id",
                                                                                            "house_number"]),
                                                                           st.integers(0, 20)), max_size=3)),
                                        max_size=4))),
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(caller=st.one_of(st.none(), st.text(max_size=12)), events=st.lists(EVENTS, max_size=30))
def test_random_event_sequences_never_break_the_interpreter_and_end_in_one_hangup(caller, events):
    actions, state = start(FLOW, caller=caller)
    hangups = sum(isinstance(a, Hangup) for a in actions)
    for event in events:
        actions, state = step(FLOW, state, event)
        hangups += sum(isinstance(a, Hangup) for a in actions)
        assert not any(isinstance(a, Hangup) and a.cause == "ivr_error" for a in actions), (event, state)
    if not state.done:
        out, state = finish_after_hangup(FLOW, state, answer_ok=bool(len(events) % 2))
        hangups += sum(isinstance(a, Hangup) for a in out)
    assert state.done and hangups == 1
