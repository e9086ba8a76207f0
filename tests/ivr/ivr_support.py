"""Helpers of the IVR tests: drive the interpreter like a worker would (imported by name)."""
from __future__ import annotations

from ivr_flows import step
from ivr_flows.actions import Gather, Hangup, Invoke, Play, Record, Transfer
from ivr_flows.events import Digits, HungUp, InvokeResult, Recorded, Started, Timeout, TransferResult

KNOWN = "+79035551001"
DUE = "2026-11-26T18:00:00+03:00"


def start(flow, caller=KNOWN, call_id=17):
    return step(flow, None, Started(caller=caller, did="+74950000000", call_id=call_id))


def waiting_action(actions):
    """The action the worker answers: the last of the batch, when it waits."""
    if actions and isinstance(actions[-1], (Gather, Record, Transfer, Invoke)):
        return actions[-1]
    return None


def played(actions) -> list[str]:
    return [p for a in actions if isinstance(a, Play) for p in a.prompts]


def ok_data(op: str, **over) -> dict:
    """Plausible journal answers per op."""
    data = {
        "lookup_caller": {"building_id": 3, "apartment": 45, "address": "ул. Ленина, д. 10"},
        "buildings_for_apartment": {"items": [{"building_id": 3, "house_number": 10},
                                              {"building_id": 4, "house_number": 12}]},
        "register_request": {"request_id": 9, "number": 1234, "due_local": DUE, "status": "new"},
        "request_status": {"status": "accepted", "status_text": "Принята в работу", "due_local": DUE},
        "callback_task": {"call_id": 17, "reason": "voicemail", "due_at": "2026-11-26T12:10:00+00:00"},
    }[op]
    return {**data, **over}


def finish_after_hangup(flow, state, answer_ok=True, limit=10):
    """Send HungUp and answer clean-up Invokes until Hangup. Returns (all actions, final state)."""
    actions, state = step(flow, state, HungUp())
    out = list(actions)
    for _ in range(limit):
        if out and isinstance(out[-1], Hangup):
            return out, state
        action = waiting_action(actions)
        assert isinstance(action, Invoke), f"after HungUp only Invoke clean-ups may wait, got {actions}"
        actions, state = step(flow, state, InvokeResult(action.op, answer_ok, ok_data(action.op) if answer_ok
                                                        else {"error": "db_down"}))
        out += actions
    raise AssertionError(f"no Hangup after {limit} clean-up answers: {out}")


__all__ = ["start", "waiting_action", "played", "ok_data", "finish_after_hangup", "Digits", "Timeout", "Recorded",
           "InvokeResult", "TransferResult", "HungUp", "Invoke", "Hangup", "Gather", "Record", "Transfer", "Play",
           "KNOWN", "DUE", "step"]
