"""Callers who hang up early lose nothing: the partial recording is stored with a valid header, a recorded
description still becomes a request; an anonymous caller is asked for the apartment."""
from __future__ import annotations

import json
import subprocess
import wave

import sqlalchemy as sa

from journal_api.storage import tables as jt
from journal_api.storage import tables_calls as tc
from sip_audio import match_fraction
from sip_support import PY, ROOT, blob_path, recording_rows, stored_call


def start_caller(uri, *args):
    return subprocess.Popen([PY, "-m", "journal_api.cli", "call", uri, *map(str, args)], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)


def result(proc) -> dict:
    out, _ = proc.communicate(timeout=90)
    return json.loads([ln for ln in out.splitlines() if ln.startswith("{")][-1])


def test_hanging_up_mid_call_leaves_partial_recordings_and_the_request(hotline, container, speech):
    # Two callers at once: one anonymous (keys by SIP INFO), who leaves while asked for the apartment; one who
    # leaves while describing the problem (2 s before the end of what he says).
    anonymous = start_caller(hotline.uri, "--from", "sip:anonymous@anonymous.invalid", "--dtmf", "2@1.5,1@3.5",
                             "--dtmf-method", "info",  # SIP INFO keys
                             "--hangup-at", 9, "--timeout", 40)
    talker = start_caller(hotline.uri, "--from", "sip:+79161112233@127.0.0.1", "--dtmf", "2@2,1@4.5,12#@7",
                          "--play", speech, "--hangup-after", -2, "--timeout", 60)
    first, second = result(anonymous), result(talker)
    assert first["ended_by"] == "local" and second["ended_by"] == "local", (first, second, hotline.logs())

    calls = {c["from_number"]: c for c in stored_call(container, count=2)}
    anon, dropped = calls["anonymous"], calls["+79161112233"]

    assert anon["status"] == "abandoned" and anon["request_id"] is None
    assert "ask_apartment" in anon["ivr_path"] and "lookup_caller" not in anon["ivr_path"]
    (whole,) = recording_rows(container.engine, anon["id"])
    with wave.open(str(blob_path(container, whole))) as wav:  # a valid header with the real length
        assert 8.0 < wav.getnframes() / wav.getframerate() < 11.0

    # The description was cut short, yet it was registered as a request, with the partial recording.
    with container.engine.connect() as conn:
        dropped = conn.execute(sa.select(tc.calls).where(tc.calls.c.id == dropped["id"])).mappings().one()
        req = conn.execute(sa.select(jt.requests).where(jt.requests.c.id == dropped["request_id"])).mappings().one()
    assert req["apartment"] == 12 and req["channel"] == "phone"
    recs = {r["kind"]: r for r in recording_rows(container.engine, dropped["id"])}
    assert recs["description"]["request_id"] == req["id"]
    assert 1.5 < recs["description"]["duration_s"] < 6.0  # about 3 s said, plus the wait for the beep
    assert match_fraction(blob_path(container, recs["description"]), speech) > 0.3  # the part that was said
