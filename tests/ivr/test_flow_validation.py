"""The validator runs at load: every target exists, every gather has a timeout and a default, no unreachable node,
and its messages name the node."""
from __future__ import annotations

import copy
import re

import pytest
import yaml

from ivr_flows import FlowError, build_flow, load_flow
from ivr_flows.flow import FLOWS_DIR
from ivr_flows.prompts import Catalogue

MINIMAL = {
    "start": "menu",
    "nodes": {
        "menu": {"type": "menu", "prompts": ["ivr/main_menu"], "choices": {"1": "bye"}, "timeout_s": 5,
                 "default": "bye"},
        "bye": {"type": "hangup", "cause": "normal"},
    },
}


def broken(**changes):
    data = copy.deepcopy(MINIMAL)
    for path, value in changes.items():
        node, key = path.split("__")
        if value is None:
            data["nodes"][node].pop(key)
        else:
            data["nodes"][node][key] = value
    return data


def test_the_default_flow_loads_and_every_prompt_it_plays_is_in_the_catalogue():
    flow = load_flow("default", prompt_ids=Catalogue([]).ids())
    assert flow.start == "greeting" and "register" in flow.nodes
    assert flow.params["transfer_timeout_s"] == 25


def test_settings_override_the_flow_parameters():
    flow = load_flow("default", params={"transfer_timeout_s": 7, "dispatcher_target": "sip:disp@127.0.0.1"})
    assert flow.params["transfer_timeout_s"] == 7 and flow.params["dispatcher_target"] == "sip:disp@127.0.0.1"


def test_a_minimal_flow_is_valid():
    assert build_flow(MINIMAL).start == "menu"


@pytest.mark.parametrize("data, message", [
    (broken(menu__default="nowhere"), "node 'menu': leads to 'nowhere', which does not exist"),
    (broken(menu__timeout_s=None), "node 'menu': missing timeout_s (every gather needs a timeout and a default)"),
    (broken(menu__default=None), "node 'menu': missing default (every gather needs a timeout and a default)"),
    (broken(menu__timeout_s=0), "node 'menu': timeout_s must be a positive number"),
    (broken(menu__choices={"12": "bye"}), "node 'menu': menu choices must be single keys"),
    (broken(menu__type="dance"), "node 'menu': unknown type 'dance'"),
    (broken(menu__prompts=["ivr/no_such_prompt"]), "node 'menu': prompt 'ivr/no_such_prompt' is not in the"),
])
def test_a_broken_node_is_refused_with_a_message_naming_it(data, message):
    with pytest.raises(FlowError) as err:
        build_flow(data, prompt_ids=Catalogue([]).ids())
    assert message in str(err.value)


def test_an_unreachable_node_is_refused():
    data = copy.deepcopy(MINIMAL)
    data["nodes"]["orphan"] = {"type": "hangup", "cause": "x"}
    with pytest.raises(FlowError, match="unreachable node\\(s\\) orphan"):
        build_flow(data)


def test_a_gather_without_timeout_or_default_is_refused():
    data = copy.deepcopy(MINIMAL)
    data["nodes"]["menu"]["choices"] = {"1": "ask"}
    data["nodes"]["ask"] = {"type": "gather", "prompts": [], "var": "apartment", "max_digits": 4, "next": "bye",
                            "timeout_s": 5}
    with pytest.raises(FlowError, match="node 'ask': missing default"):
        build_flow(data)


@pytest.mark.parametrize("node, message", [
    ({"type": "invoke", "op": "drop_tables", "next": "bye", "on_error": "bye"}, "unknown op 'drop_tables'"),
    ({"type": "record", "name": "song", "max_s": 10, "silence_s": 2, "next": "bye"}, "record name must be one"),
    ({"type": "transfer", "target": "$nobody", "timeout_s": 5, "answered": "bye", "no_answer": "bye"},
     "target $nobody is not a flow parameter"),
    ({"type": "branch", "cases": [{"goto": "bye"}], "default": "bye"}, "case 0 needs 'goto' and 'if' or 'var'"),
])
def test_other_node_types_are_checked_too(node, message):
    data = copy.deepcopy(MINIMAL)
    data["nodes"]["menu"]["choices"] = {"1": "x"}
    data["nodes"]["x"] = node
    with pytest.raises(FlowError, match=re.escape(f"node 'x': {message}")):
        build_flow(data)


def test_a_missing_start_or_file_or_bad_yaml_is_a_clear_error(tmp_path):
    with pytest.raises(FlowError, match="start node 'nope' does not exist"):
        build_flow({**MINIMAL, "start": "nope"})
    with pytest.raises(FlowError, match="no such flow file"):
        load_flow(tmp_path / "absent.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("nodes: [unclosed", encoding="utf-8")
    with pytest.raises(FlowError, match="not valid YAML"):
        load_flow(bad)


def test_every_shipped_flow_is_valid():
    files = sorted(FLOWS_DIR.glob("*.yaml"))
    assert files
    for path in files:
        assert yaml.safe_load(path.read_text(encoding="utf-8"))["nodes"]
        load_flow(path, prompt_ids=Catalogue([]).ids())


def test_the_check_command_refuses_a_broken_flow_and_reports_missing_prompt_files(tmp_path, capsys):
    from ivr_flows.__main__ import main

    bad = tmp_path / "bad.yaml"
    bad.write_text("start: a\nnodes:\n  a: {type: play, prompts: [ivr/greeting], next: b}\n", encoding="utf-8")
    assert main(["check", str(bad), "--prompt-dir", str(tmp_path)]) == 2
    assert "node 'a': leads to 'b'" in capsys.readouterr().err
    assert main(["check", "default", "--prompt-dir", str(tmp_path)]) == 1  # nothing synthesised there
    err = capsys.readouterr().err
    assert "ivr/greeting" in err and "digits/5" not in err  # the Asterisk set is always searched
