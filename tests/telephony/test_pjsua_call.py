"""A resident calls the hotline with the pjsua2 test caller: the IVR takes the request during the call."""
from __future__ import annotations

import json

import redis
import sqlalchemy as sa

from ivr_flows.prompts import catalogue_for
from ivr_flows.say import number_prompts
from journal_api.storage import tables as t

from sip_audio import match_fraction
from sip_support import blob_path, caller, recording_rows, stored_call


def test_a_caller_registers_a_request_by_phone_and_hears_its_number(hotline, container, speech, tmp_path, settings):
    heard = tmp_path / "heard.wav"
    result = caller(hotline.uri, "--from", "sip:+79161234567@127.0.0.1", "--dtmf", "2@2,1@4.5,12#@7", "--play", speech,
                    "--record-heard", heard, "--timeout", 60)
    assert result["connected"] and result["ended_by"] == "remote", (result, hotline.logs())

    (call,) = stored_call(container, kinds=("call", "description"))
    assert call["status"] == "answered" and call["hangup_cause"] == "normal"
    assert call["from_number"] == "+79161234567" and call["to_number"] == "+74950000000"
    assert "".join(call["digits"]) == "2112#"
    assert {"main_menu", "category_menu", "ask_apartment", "record_description", "register", "say_number"} \
        <= set(call["ivr_path"])

    with container.engine.connect() as conn:
        req = conn.execute(sa.select(t.requests).where(t.requests.c.id == call["request_id"])).mappings().one()
    assert req["channel"] == "phone" and req["work_type"] == "water" and req["apartment"] == 12

    recs = {r["kind"]: r for r in recording_rows(container.engine, call["id"])}
    assert recs["description"]["request_id"] == req["id"]
    assert recs["description"]["sample_rate"] == 8000
    # What the caller said is in the description and in the whole-call recording.
    assert match_fraction(blob_path(container, recs["description"]), speech) >= 0.8
    assert match_fraction(blob_path(container, recs["call"]), speech) >= 0.8
    assert match_fraction(heard, speech) < 0.2  # the caller does not hear himself: the measure can fail
    assert 4.0 < recs["description"]["duration_s"] < 12.0

    # The caller heard the request's number, digit by digit, after "номер вашей заявки".
    cat = catalogue_for(settings)
    assert match_fraction(heard, cat.path("ivr/your_request_number")) >= 0.6  # a busy machine stretches audio
    for prompt in number_prompts(req["number"], digits=True):
        assert match_fraction(heard, cat.path(prompt)) >= 0.5, prompt
    assert match_fraction(heard, cat.path("ivr/callback_promised")) < 0.2  # a prompt it did not play

    # The live segment was announced for transcription and is complete on disk.
    conn = redis.Redis.from_url(settings.redis_url)
    key = f"hotline:live:{settings.queue_name}"
    entries = [json.loads(x) for x in conn.lrange(key, 0, -1)]
    conn.delete(key)
    (live,) = [e for e in entries if e["call_uuid"] == call["call_uuid"]]
    assert live["name"] == "description" and live["call_id"] == call["id"] and live["sample_rate"] == 8000
    done = json.loads(open(live["path"] + ".done").read())
    assert done["reason"] == "silence" and done["duration_s"] > 4.0
