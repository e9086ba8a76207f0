"""IVR flows as data: a YAML file of nodes, loaded and validated once. See docs/ivr.md for the node types."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Mapping

import yaml

FLOWS_DIR = Path(__file__).parent / "flows"
OPS = ("lookup_caller", "buildings_for_apartment", "register_request", "request_status", "callback_task",
       "staff_request", "attach_request")  # the last two: staff calls (flows/staff.yaml)
RECORD_NAMES = ("description", "voicemail")

# node type -> (required keys, keys that name other nodes, keys holding {value: node} maps)
NODE_TYPES: dict[str, tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]] = {
    "play": (("prompts", "next"), ("next",), ()),
    "menu": (("prompts", "choices", "timeout_s", "default"), ("default", "invalid"), ("choices",)),
    "gather": (("prompts", "var", "max_digits", "timeout_s", "next", "default"), ("next", "default"), ()),
    "record": (("name", "max_s", "silence_s", "next"), ("next",), ()),
    "invoke": (("op", "next", "on_error"), ("next", "on_error"), ("errors",)),
    "branch": (("cases", "default"), ("default",), ()),
    "pick": (("from", "set", "one", "none", "many"), ("one", "none", "many"), ()),
    "set": (("vars", "next"), ("next",), ()),
    "transfer": (("target", "timeout_s", "answered", "no_answer"), ("answered", "no_answer"), ()),
    "hangup": (("cause",), (), ()),
}


class FlowError(ValueError):
    """A flow that cannot run. The message names the file and the node."""


@dataclass(frozen=True)
class Flow:
    name: str
    start: str
    nodes: Mapping[str, Mapping]
    params: Mapping[str, object] = field(default_factory=dict)
    on_hangup: tuple[Mapping, ...] = ()
    max_steps: int = 200

    def node(self, node_id: str) -> Mapping:
        return self.nodes[node_id]


def load_flow(name_or_path: str | Path = "default", *, params: Mapping | None = None,
              prompt_ids: set[str] | None = None) -> Flow:
    """Load and validate a flow: a name in ``ivr_flows/flows/`` or a path. ``params`` override the flow's own
    (e.g. ``dispatcher_target``, ``transfer_timeout_s`` from the settings). With ``prompt_ids`` every fixed prompt
    id the flow plays must be one of them (``Catalogue.ids()``)."""
    path = Path(name_or_path)
    if path.suffix not in (".yaml", ".yml"):
        path = FLOWS_DIR / f"{name_or_path}.yaml"
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise FlowError(f"{path}: no such flow file") from None
    except yaml.YAMLError as exc:
        raise FlowError(f"{path}: not valid YAML: {exc}") from None
    return build_flow(data, source=str(path), params=params, prompt_ids=prompt_ids)


def build_flow(data, *, source: str = "<flow>", params: Mapping | None = None,
               prompt_ids: set[str] | None = None) -> Flow:
    if not isinstance(data, dict):
        raise FlowError(f"{source}: a flow is a mapping with 'start' and 'nodes'")
    nodes = data.get("nodes")
    if not isinstance(nodes, dict) or not nodes:
        raise FlowError(f"{source}: 'nodes' must be a non-empty mapping of node id -> node")
    start = data.get("start")
    if start not in nodes:
        raise FlowError(f"{source}: start node '{start}' does not exist")
    merged = {**(data.get("params") or {}), **(params or {})}
    for node_id, node in nodes.items():
        _check_node(source, str(node_id), node, nodes, merged, prompt_ids)
    rules = data.get("on_hangup") or []
    for i, rule in enumerate(rules):
        if not isinstance(rule, dict) or rule.get("op") not in OPS:
            raise FlowError(f"{source}: on_hangup[{i}]: 'op' must be one of {', '.join(OPS)}")
    _check_reachable(source, start, nodes)
    return Flow(name=str(data.get("name") or Path(source).stem), start=start,
                nodes=MappingProxyType({k: MappingProxyType(dict(v)) for k, v in nodes.items()}),
                params=MappingProxyType(merged), on_hangup=tuple(MappingProxyType(dict(r)) for r in rules),
                max_steps=int(data.get("max_steps", 200)))


def targets(node: Mapping) -> list[str]:
    """Every node id a node can lead to."""
    kind = node.get("type")
    if kind not in NODE_TYPES:
        return []
    _, single, maps = NODE_TYPES[kind]
    out = [node[k] for k in single if node.get(k) is not None]
    for k in maps:
        out.extend((node.get(k) or {}).values())
    if kind == "branch":
        out.extend(case.get("goto") for case in node.get("cases") or [] if isinstance(case, dict))
    return out


def _check_node(source, node_id, node, nodes, params, prompt_ids) -> None:
    where = f"{source}: node '{node_id}'"
    if not isinstance(node, dict):
        raise FlowError(f"{where}: must be a mapping with a 'type'")
    kind = node.get("type")
    if kind not in NODE_TYPES:
        raise FlowError(f"{where}: unknown type '{kind}' (use one of: {', '.join(NODE_TYPES)})")
    required, _, _ = NODE_TYPES[kind]
    missing = [k for k in required if node.get(k) is None]
    if missing:
        what = "every gather needs a timeout and a default" if kind in ("menu", "gather") and \
            ({"timeout_s", "default"} & set(missing)) else f"a {kind} node needs them"
        raise FlowError(f"{where}: missing {', '.join(missing)} ({what})")
    for target in targets(node):
        if target not in nodes:
            raise FlowError(f"{where}: leads to '{target}', which does not exist")
    if kind == "branch":
        for i, case in enumerate(node["cases"]):
            if not isinstance(case, dict) or "goto" not in case or not ({"if", "var"} & set(case)):
                raise FlowError(f"{where}: case {i} needs 'goto' and 'if' or 'var'")
    if kind == "menu":
        bad = [str(d) for d in node["choices"] if str(d) not in "0123456789*#" or len(str(d)) != 1]
        if bad:
            raise FlowError(f"{where}: menu choices must be single keys 0-9, * or #, not {', '.join(bad)}")
    if kind in ("menu", "gather", "transfer"):
        _number(where, "timeout_s", node["timeout_s"], params)
    if kind == "record":
        if node["name"] not in RECORD_NAMES:
            raise FlowError(f"{where}: record name must be one of {', '.join(RECORD_NAMES)}")
        _number(where, "max_s", node["max_s"], params)
        _number(where, "silence_s", node["silence_s"], params)
    if kind == "invoke" and node["op"] not in OPS:
        raise FlowError(f"{where}: unknown op '{node['op']}' (use one of: {', '.join(OPS)})")
    if kind == "transfer" and isinstance(node["target"], str) and node["target"].startswith("$") \
            and node["target"][1:] not in params:
        raise FlowError(f"{where}: target {node['target']} is not a flow parameter")
    for item in _prompt_items(node.get("prompts") or []) + _prompt_items(node.get("retry_prompts") or []):
        if isinstance(item, str) and prompt_ids is not None and "{" not in item and item not in prompt_ids:
            raise FlowError(f"{where}: prompt '{item}' is not in the prompt catalogue")
        if not isinstance(item, (str, dict)):
            raise FlowError(f"{where}: a prompt is a prompt id or a mapping (number/datetime)")


def _prompt_items(items) -> list:
    out = []
    for item in items:
        out.append(item)
        if isinstance(item, dict) and isinstance(item.get("prompts"), list):
            out.extend(_prompt_items(item["prompts"]))
    return out


def _number(where, key, value, params) -> None:
    if isinstance(value, str) and value.startswith("$"):
        value = params.get(value[1:])
    if not isinstance(value, (int, float)) or isinstance(value, bool) or value <= 0:
        raise FlowError(f"{where}: {key} must be a positive number of seconds, not {value!r}")


def _check_reachable(source, start, nodes) -> None:
    seen, todo = set(), [start]
    while todo:
        node_id = todo.pop()
        if node_id in seen:
            continue
        seen.add(node_id)
        todo.extend(targets(nodes[node_id]))
    unreachable = sorted(set(nodes) - seen)
    if unreachable:
        raise FlowError(f"{source}: unreachable node(s) {', '.join(unreachable)}: nothing leads to them from "
                        f"'{start}'")
