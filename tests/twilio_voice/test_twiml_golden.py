"""TwiML golden files: what Twilio is told when the default flow enters each of its nodes (the batch from that node
to the next wait, Invoke results fed back as the webhook does). Regenerate after a deliberate change with
``UPDATE_GOLDEN=1 pytest tests/twilio_voice/test_twiml_golden.py`` and review the diff."""
from __future__ import annotations

import os
from datetime import datetime
from pathlib import Path
from types import MappingProxyType
from xml.etree import ElementTree as ET
from zoneinfo import ZoneInfo

import pytest

from ivr_flows import State, load_flow
from ivr_flows.actions import Gather, Hangup, Invoke, Play, Record, Transfer
from ivr_flows.interpreter import _run
from ivr_flows.prompts import ASTERISK_DIR, Catalogue
from ivr_flows.twiml import Prompts, Urls, render
from telephony.twilio_calls import resolve

GOLDEN = Path(__file__).parent / "golden"
FLOW = load_flow("default")
CATALOGUE = Catalogue([])
# Deterministic whatever prompts this machine has built: the human-voiced Asterisk files are <Play>ed, the
# project's own phrases fall back to <Say language="ru-RU"> (as they do where they were never synthesised).
PROMPTS = Prompts(has_audio=lambda pid: (ASTERISK_DIR / f"{pid}.wav").is_file(), text=CATALOGUE.text)
URLS = Urls(audio_base="https://hotline.example/twilio/voice/prompts")
DUE = datetime(2026, 11, 26, 18, 0, tzinfo=ZoneInfo("Europe/Moscow"))
VARS = {**FLOW.params, "caller": "+79123456789", "did": "+74950000000", "call_id": 7, "work_type": "water",
        "emergency": True, "apartment": 15, "building_id": 3, "status_number": 1234, "house": 10,
        "number": 1234, "due_local": DUE, "status": "accepted",
        "items": [{"building_id": 3, "house_number": 10}, {"building_id": 4, "house_number": 12}]}
INCIDENT = {"incident_work_type": "water", "incident_eta": DUE}  # what the lookups add for an open incident
NODE_VARS = {"incident_announce": INCIDENT, "incident_check": INCIDENT}
ANSWERS = {"lookup_caller": {"building_id": 3, "apartment": 15, "address": "ул. Ленина, д. 10"},
           "buildings_for_apartment": {"items": VARS["items"]},
           "register_request": {"number": 1234, "due_local": DUE, "status": "new"},
           "request_status": {"status": "accepted", "due_local": DUE},
           "callback_task": {"reason": "voicemail"}}


def twiml_for(node_id: str) -> str:
    actions, state = _run(FLOW, State(vars=MappingProxyType({**VARS, **NODE_VARS.get(node_id, {})})), node_id, [])
    out, _ = resolve(FLOW, actions, state, invoke=lambda a: (True, ANSWERS[a.op]),
                     dispatchers="sip:dispatchers@pbx.example")
    return render(out, PROMPTS, URLS)


@pytest.mark.parametrize("node_id", sorted(FLOW.nodes))
def test_every_node_of_the_default_flow_renders_as_its_golden_twiml(node_id):
    text = twiml_for(node_id)
    path = GOLDEN / f"{node_id}.xml"
    if os.environ.get("UPDATE_GOLDEN"):
        path.write_text(text, encoding="utf-8")
    assert path.is_file(), f"no golden file {path.name}: run with UPDATE_GOLDEN=1 and review it"
    assert text == path.read_text(encoding="utf-8")
    ET.fromstring(text.encode())  # well-formed


def test_no_golden_file_is_left_for_a_node_the_flow_lost():
    assert {p.stem for p in GOLDEN.glob("*.xml")} == set(FLOW.nodes)


def test_barge_in_prompts_are_nested_in_the_gather_and_count_keys_pressed_during_them():
    root = ET.fromstring(twiml_for("greeting"))
    assert [c.tag for c in root] == ["Gather"]
    gather = root[0]
    assert gather.get("input") == "dtmf" and gather.get("numDigits") == "1"
    assert gather.get("actionOnEmptyResult") == "true" and gather.get("action") == "/twilio/voice/gather"
    says = [c.text for c in gather if c.tag == "Say"]
    assert says == [CATALOGUE.text("ivr/greeting") + " " + CATALOGUE.text("ivr/main_menu")]
    assert all(c.get("language") == "ru-RU" for c in gather if c.tag == "Say")


def test_recorded_prompts_are_played_and_only_missing_ones_are_said():
    root = ET.fromstring(twiml_for("say_number"))
    plays = [c.text for c in root if c.tag == "Play"]
    says = [c.text for c in root if c.tag == "Say"]
    # 1234 digit by digit, then "18 часов 26 ноября" from the human-voiced set
    assert plays[:4] == [f"{URLS.audio_base}/digits/{d}.wav" for d in "1234"]
    assert f"{URLS.audio_base}/digits/mon-10.wav" in plays
    assert says == ["Ваша заявка номер", "срок — до", "Спасибо за обращение. До свидания."]
    assert root[-1].tag == "Hangup"


def test_a_record_node_asks_for_the_recording_callback_and_survives_silence():
    root = ET.fromstring(twiml_for("record_description"))
    rec = root.find("Record")
    assert rec.get("recordingStatusCallback") == "/twilio/voice/recording?name=description"
    assert rec.get("action") == "/twilio/voice/record?name=description"
    assert rec.get("maxLength") == "120" and rec.get("timeout") == "5" and rec.get("finishOnKey") == "#"
    assert root[-1].tag == "Redirect" and root[-1].text == "/twilio/voice/record?name=description&empty=1"


def test_a_transfer_dials_the_dispatchers_and_reports_back():
    root = ET.fromstring(twiml_for("to_dispatcher"))
    dial = root.find("Dial")
    assert dial.get("action") == "/twilio/voice/dial" and dial.get("timeout") == "25"
    assert dial.find("Sip").text == "sip:dispatchers@pbx.example"


def test_no_dispatcher_number_sends_the_caller_to_voicemail_at_once():
    actions, state = _run(FLOW, State(vars=MappingProxyType(dict(VARS))), "to_dispatcher", [])
    out, state = resolve(FLOW, actions, state, invoke=lambda a: (True, {}), dispatchers="")
    assert state.node == "voicemail_record" and isinstance(out[-1], Record)
    assert not any(isinstance(a, Transfer) for a in out)


def test_an_invoke_cannot_reach_twilio():
    with pytest.raises(ValueError, match="webhook"):
        render([Play(("ivr/please_wait",)), Invoke("register_request", {})], PROMPTS, URLS)


def test_a_gather_of_several_digits_waits_the_longer_of_its_timeouts():
    root = ET.fromstring(render([Gather(4, 2.5, "#", 3.0), Hangup("x")], PROMPTS, URLS))
    g = root.find("Gather")
    assert (g.get("numDigits"), g.get("timeout"), g.get("finishOnKey")) == ("4", "3", "#")


def test_a_known_incident_is_announced_with_its_eta_and_the_caller_may_still_press_1():
    root = ET.fromstring(twiml_for("incident_announce"))
    gather = root.find("Gather")
    assert gather is not None and gather.get("numDigits") == "1"
    said = " ".join(c.text for c in gather if c.tag == "Say")
    assert said.startswith("По вашему дому известно об отключении воды, бригада работает. Ориентировочное время")
    assert said.endswith("нажмите 1. Диспетчер — 0.")
    plays = [c.text.rsplit("/prompts/", 1)[1] for c in gather if c.tag == "Play"]
    assert plays == ["digits/18.wav", "digits/oclock.wav", "digits/20.wav", "digits/6.wav", "digits/mon-10.wav"]
