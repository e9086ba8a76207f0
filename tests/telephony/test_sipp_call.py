"""SIPp calls the hotline: RFC 2833 keys from pcaps generated per call (telephony/sipp.py: dtmf_pcap, one RTP
series per call; sip-tester's own pcaps share one SSRC and would be dropped as duplicates) and Russian speech
streamed as RTP."""
from __future__ import annotations

import subprocess

import sqlalchemy as sa

from journal_api.storage import tables as jt
from sip_audio import match_fraction
from sip_support import blob_path, recording_rows, stored_call
from telephony.netutil import free_port, free_udp_range
from telephony.sipp import dtmf_steps, ivr_scenario, sipp_command, ulaw


def run_sipp(tmp_path, hotline, scenario: str, timeout: int = 90) -> subprocess.CompletedProcess:
    path = tmp_path / "scenario.xml"
    path.write_text(scenario)
    argv = sipp_command(path, f"127.0.0.1:{hotline.port}", local_port=free_port(),
                        media_port=free_udp_range(4), timeout_s=timeout)
    return subprocess.run(argv, cwd=tmp_path, capture_output=True, text=True, timeout=timeout + 20)


def test_sipp_keys_and_speech_register_a_request_with_its_recording(hotline, container, speech, tmp_path):
    voice = ulaw(speech, tmp_path / "speech-ulaw.wav")
    # 2: a request, 1: water, 12#: apartment 12; speech after the beep (the prompt before it lasts ~6 s).
    keys = dtmf_steps(tmp_path, [(2000, "2"), (4500, "1"), (7000, "12#")])
    scenario = ivr_scenario(steps=keys + [(15500, f"play:{voice}")])
    proc = run_sipp(tmp_path, hotline, scenario)
    assert proc.returncode == 0, (proc.stdout[-3000:], proc.stderr[-2000:], hotline.logs())

    (call,) = stored_call(container, kinds=("call", "description"))
    assert "".join(call["digits"]) == "2112#" and call["status"] == "answered"
    with container.engine.connect() as conn:
        req = conn.execute(sa.select(jt.requests).where(jt.requests.c.id == call["request_id"])).mappings().one()
    assert req["work_type"] == "water" and req["apartment"] == 12 and req["caller_phone"] == "+79160000001"
    recs = {r["kind"]: r for r in recording_rows(container.engine, call["id"])}
    assert match_fraction(blob_path(container, recs["description"]), speech) >= 0.8
