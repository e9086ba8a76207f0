"""The pure interpreter: ``step(flow, state, event) -> (actions, state)``. No I/O, no clock, never raises for any
event sequence; after ``HungUp`` it returns the clean-up actions and ends with ``Hangup``."""
from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import Mapping

from . import say
from .actions import Gather, Hangup, Invoke, Play, Record, Transfer
from .events import Digits, HungUp, InvokeResult, Recorded, Started, Timeout, TransferResult
from .flow import Flow

log = logging.getLogger(__name__)
WAITS = {"menu": "digits", "gather": "digits", "record": "recorded", "invoke": "invoke", "transfer": "transfer"}


@dataclass(frozen=True)
class State:
    node: str | None = None
    waiting: str | None = None  # digits | recorded | invoke | transfer | cleanup | None
    path: tuple[str, ...] = ()
    digits: tuple[str, ...] = ()
    vars: Mapping[str, object] = field(default_factory=lambda: MappingProxyType({}))
    attempts: Mapping[str, int] = field(default_factory=lambda: MappingProxyType({}))
    hung_up: bool = False
    done: bool = False
    cleanup: tuple[int, ...] = ()  # indexes of on_hangup rules still to run
    cause: str | None = None


def step(flow: Flow, state: State | None, event) -> tuple[list, State]:
    try:
        return _step(flow, state, event)
    except Exception:  # a flow bug must not leave a caller in silence: end the call cleanly
        log.exception("IVR flow %s failed at %s on %r", flow.name, getattr(state, "node", None), event)
        state = state or State()
        if state.done:
            return [], state
        return [Hangup("ivr_error")], replace(state, done=True, waiting=None, cause="ivr_error")


def _step(flow: Flow, state: State | None, event) -> tuple[list, State]:
    if isinstance(event, Started):
        if state is not None and state.node is not None:
            return [], state
        caller = event.caller if isinstance(event.caller, str) and event.caller.strip() else None
        vars_ = {**flow.params, "caller": caller, "did": event.did, "call_id": event.call_id}
        return _run(flow, State(vars=MappingProxyType(vars_)), flow.start, [])
    if state is None or state.done:
        return [], state or State(done=True)
    if isinstance(event, HungUp):
        return _hung_up(flow, state)
    if state.waiting == "cleanup":
        if isinstance(event, InvokeResult):
            return _next_cleanup(flow, state, [])
        return [], state
    node = flow.nodes.get(state.node) if state.node else None
    if node is None:
        return [], state
    kind = node["type"]
    if state.waiting == "digits" and isinstance(event, (Digits, Timeout)):
        return _on_digits(flow, state, node, event)
    if state.waiting == "recorded" and isinstance(event, Recorded) and event.name == node["name"]:
        vars_ = _with(state.vars, {f"{node['name']}_recorded": _positive(event.duration_s),
                                   f"{node['name']}_duration_s": _seconds(event.duration_s)})
        return _run(flow, replace(state, vars=vars_), node["next"], [])
    if state.waiting == "invoke" and isinstance(event, InvokeResult) and event.op == node["op"]:
        return _on_invoke(flow, state, node, event)
    if state.waiting == "transfer" and isinstance(event, TransferResult) and kind == "transfer":
        vars_ = _with(state.vars, {"transfer_pending": False, "transfer_answered": bool(event.answered)})
        return _run(flow, replace(state, vars=vars_), node["answered" if event.answered else "no_answer"], [])
    return [], state  # an event nobody waits for (e.g. PlayDone, a late result): ignored


# -- entering nodes -------------------------------------------------------------------------------------------------
def _run(flow: Flow, state: State, node_id: str, actions: list) -> tuple[list, State]:
    """Enter nodes until one waits for the caller or the journal, or the call ends."""
    while True:
        if len(state.path) >= flow.max_steps:
            log.warning("IVR flow %s: more than %d steps; hanging up", flow.name, flow.max_steps)
            return actions + [Hangup("ivr_loop")], replace(state, done=True, waiting=None, cause="ivr_loop")
        node = flow.nodes[node_id]
        state = replace(state, node=node_id, path=state.path + (node_id,), waiting=None)
        kind, v = node["type"], state.vars
        if kind == "play":
            _play(actions, node, v, node.get("barge_in", False))
            node_id = node["next"]
        elif kind == "set":
            state = replace(state, vars=_with(v, {k: _value(x, v) for k, x in node["vars"].items()}))
            node_id = node["next"]
        elif kind == "branch":
            node_id = _branch(node, v)
        elif kind == "pick":
            node_id, state = _pick(node, state)
        elif kind == "hangup":
            return actions + [Hangup(node["cause"])], replace(state, done=True, cause=node["cause"])
        else:
            return _wait(flow, state, node, kind, actions)


def _wait(flow: Flow, state: State, node: Mapping, kind: str, actions: list,
          wrong_input: bool = False) -> tuple[list, State]:
    v = state.vars
    if kind in ("menu", "gather"):
        # a wrong key hears retry_prompts ("Неверный выбор. ..."); no key at all hears the prompts again
        prompts = node.get("retry_prompts", node["prompts"]) if wrong_input else node["prompts"]
        _play(actions, {"prompts": prompts}, v, True)
        actions.append(Gather(max_digits=int(node.get("max_digits", 1)), timeout_s=float(_value(node["timeout_s"], v)),
                              terminator=node.get("terminator", "#" if kind == "gather" else None),
                              inter_digit_s=float(node.get("inter_digit_s", 3.0))))
    elif kind == "record":
        _play(actions, node, v, False)
        actions.append(Record(name=node["name"], max_s=float(_value(node["max_s"], v)),
                              silence_s=float(_value(node["silence_s"], v)),
                              terminator=node.get("terminator", "#"), beep=bool(node.get("beep", True))))
    elif kind == "invoke":
        _play(actions, node, v, False)
        args = {k: _value(x, v) for k, x in (node.get("args") or {}).items()}
        actions.append(Invoke(node["op"], args))
    elif kind == "transfer":
        _play(actions, node, v, False)
        actions.append(Transfer(target=str(_value(node["target"], v)), timeout_s=float(_value(node["timeout_s"], v))))
        state = replace(state, vars=_with(v, {"transfer_pending": True}))
    return actions, replace(state, waiting=WAITS[kind])


def _play(actions: list, node: Mapping, v: Mapping, barge_in: bool) -> None:
    prompts: list[str] = []
    for item in node.get("prompts") or []:
        prompts.extend(_prompt_ids(item, v))
    if prompts:
        actions.append(Play(tuple(prompts), bool(barge_in)))


def _prompt_ids(item, v: Mapping) -> list[str]:
    if isinstance(item, str):
        if "{" not in item:
            return [item]
        try:
            return [item.format(**v)]
        except (KeyError, IndexError, ValueError):
            return []
    if "if" in item and not v.get(item["if"]):
        return []
    if "prompts" in item:  # a group is said whole or not at all ("срок — до" with no date makes no sense)
        parts = [_prompt_ids(sub, v) for sub in item["prompts"]]
        if any(not part and isinstance(sub, dict) for part, sub in zip(parts, item["prompts"])):
            return []
        return [p for part in parts for p in part]
    if "number" in item:
        value = v.get(item["number"])
        if value is None or isinstance(value, bool):
            return []
        try:
            return say.number_prompts(int(value), digits=bool(item.get("digits", False)),
                                      gender=item.get("gender", "m"))
        except (TypeError, ValueError):
            return []
    if "datetime" in item:
        value = v.get(item["datetime"])
        try:
            return say.datetime_prompts(value) if value else []
        except (TypeError, ValueError, AttributeError):  # not a date: the caller hears the rest, not an error
            return []
    return []


# -- answers ----------------------------------------------------------------------------------------------------------
def _on_digits(flow: Flow, state: State, node: Mapping, event) -> tuple[list, State]:
    entered = event.digits if isinstance(event, Digits) else ""
    entered = "".join(ch for ch in str(entered) if ch in "0123456789*#")
    if entered:
        state = replace(state, digits=state.digits + (entered,))
    terminator = node.get("terminator", "#" if node["type"] == "gather" else None)
    if terminator:
        entered = entered.split(terminator)[0]
    if node["type"] == "menu":
        choices = {str(k): t for k, t in node["choices"].items()}
        if entered[:1] in choices:
            return _run(flow, state, choices[entered[:1]], [])
        fallback = node.get("invalid") if entered else None
    else:
        value = _gathered(node, entered)
        if value is not None:
            return _run(flow, replace(state, vars=_with(state.vars, {node["var"]: value})), node["next"], [])
        fallback = None
    tries = state.attempts.get(state.node, 0)
    if fallback is None and tries < int(node.get("retries", 1)):
        attempts = MappingProxyType({**state.attempts, state.node: tries + 1})
        return _wait(flow, replace(state, attempts=attempts), node, node["type"], [], wrong_input=bool(entered))
    return _run(flow, state, fallback or node["default"], [])


def _gathered(node: Mapping, entered: str):
    if not entered or not entered.isdigit() or len(entered) > int(node["max_digits"]):
        return None
    value = int(entered)
    low, high = node.get("min"), node.get("max")
    if (low is not None and value < low) or (high is not None and value > high):
        return None
    return value


def _on_invoke(flow: Flow, state: State, node: Mapping, event: InvokeResult) -> tuple[list, State]:
    data = event.data if isinstance(event.data, dict) else {}
    if event.ok:
        found = {}
        for key in node.get("store") or []:
            if key in data:
                found[key] = data[key]
                if isinstance(data[key], list):
                    found[f"{key}_count"] = len(data[key])
        found.update({k: _value(x, state.vars) for k, x in (node.get("on_ok_set") or {}).items()})
        return _run(flow, replace(state, vars=_with(state.vars, found)), node["next"], [])
    error = str(data.get("error") or "error")
    target = (node.get("errors") or {}).get(error, node["on_error"])
    return _run(flow, replace(state, vars=_with(state.vars, {"last_error": error})), target, [])


def _branch(node: Mapping, v: Mapping) -> str:
    for case in node["cases"]:
        if "if" in case:
            names = case["if"] if isinstance(case["if"], list) else [case["if"]]
            if all(v.get(n) for n in names):
                return case["goto"]
            continue
        value = v.get(case["var"])
        if "eq" in case and value == case["eq"]:
            return case["goto"]
        if "gt" in case and isinstance(value, (int, float)) and value > case["gt"]:
            return case["goto"]
    return node["default"]


def _pick(node: Mapping, state: State) -> tuple[str, State]:
    """Choose one item of a list var, optionally where item[field] equals a var; copy fields of it into vars."""
    items = state.vars.get(node["from"]) or []
    where = node.get("where") or {}
    matches = [i for i in items if isinstance(i, dict)
               and all(i.get(f) == state.vars.get(var) for f, var in where.items())]
    if len(matches) != 1:
        return node["many" if matches else "none"], state
    chosen = {var: matches[0].get(f) for var, f in node["set"].items()}
    return node["one"], replace(state, vars=_with(state.vars, chosen))


# -- hang-up and clean-up -------------------------------------------------------------------------------------------
def _hung_up(flow: Flow, state: State) -> tuple[list, State]:
    if state.hung_up:
        return [], state
    if state.waiting == "recorded" and state.node in flow.nodes:  # the partial recording still counts
        name = flow.nodes[state.node]["name"]
        state = replace(state, vars=_with(state.vars, {f"{name}_recorded": True}))
    state = replace(state, hung_up=True, waiting=None)
    due = tuple(i for i, rule in enumerate(flow.on_hangup) if _rule_applies(rule, state.vars))
    return _next_cleanup(flow, replace(state, cleanup=due), [])


def _next_cleanup(flow: Flow, state: State, actions: list) -> tuple[list, State]:
    if not state.cleanup:
        return actions + [Hangup("caller")], replace(state, done=True, waiting=None, cause=state.cause or "caller")
    rule = flow.on_hangup[state.cleanup[0]]
    args = {k: _value(x, state.vars) for k, x in (rule.get("args") or {}).items()}
    actions.append(Invoke(rule["op"], args))
    return actions, replace(state, cleanup=state.cleanup[1:], waiting="cleanup")


def _rule_applies(rule: Mapping, v: Mapping) -> bool:
    need = rule.get("if") or []
    avoid = rule.get("unless") or []
    need = need if isinstance(need, list) else [need]
    avoid = avoid if isinstance(avoid, list) else [avoid]
    return all(v.get(n) for n in need) and not any(v.get(n) for n in avoid)


# -- helpers --------------------------------------------------------------------------------------------------------
def _value(x, v: Mapping):
    if isinstance(x, str) and x.startswith("$"):
        return v.get(x[1:])
    return x


def _with(v: Mapping, changes: dict) -> Mapping:
    return MappingProxyType({**v, **changes})


def _positive(seconds) -> bool:
    return _seconds(seconds) > 0


def _seconds(seconds) -> float:
    try:
        return max(0.0, float(seconds))
    except (TypeError, ValueError):
        return 0.0
