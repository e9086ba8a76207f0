"""Option 0: the caller is put through to a dispatcher (a second call, bridged); with no answer in time, the
caller leaves a voice message and the call gets a callback task (ПП 416)."""
from __future__ import annotations

import subprocess

from sip_support import PY, ROOT, call_rows, recording_rows, wait_for
from telephony.netutil import free_port, free_udp_range


def test_option_0_reaches_the_dispatcher_or_leaves_a_voice_message(hotline_factory, org, building, container,
                                                                  speech, tmp_path):
    desk = free_port()
    dispatcher = subprocess.Popen(["sipp", "-sn", "uas", "-i", "127.0.0.1", "-p", str(desk), "-mi", "127.0.0.1",
                                   "-mp", str(free_udp_range(4)), "-m", "1", "-nostdin", "-timeout", "60s",
                                   "-timeout_error"], cwd=tmp_path, stdout=subprocess.PIPE,
                                  stderr=subprocess.STDOUT, text=True)
    staffed = hotline_factory(HOTLINE_IVR_DISPATCHER_TARGET=f"sip:desk@127.0.0.1:{desk}")
    unstaffed = hotline_factory(HOTLINE_IVR_DISPATCHER_TARGET=f"sip:desk@127.0.0.1:{free_port()}")
    talk = subprocess.Popen([PY, "-m", "journal_api.cli", "call", staffed.uri, "--from", "sip:+79161230001@127.0.0.1",
                             "--dtmf", "0@2", "--hangup-at", "12", "--timeout", "30"], cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    message = subprocess.Popen([PY, "-m", "journal_api.cli", "call", unstaffed.uri, "--from",
                                "sip:+79161230002@127.0.0.1", "--dtmf", "0@2", "--play", speech, "--timeout", "60"],
                               cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    talk.wait(60)
    message.wait(90)
    out, _ = dispatcher.communicate(timeout=30)
    assert dispatcher.returncode == 0, (out[-2000:], staffed.logs())  # answered, then got the BYE

    def done():
        rows = {r["from_number"]: r for r in call_rows(container.engine) if r["ended_at"]}
        return rows if len(rows) == 2 else None
    rows = wait_for(done, 20, message="both calls ended")
    put_through, left_message = rows["+79161230001"], rows["+79161230002"]
    assert put_through["digits"] == ["0"] and put_through["ivr_path"][-2:] == ["to_dispatcher", "transferred"]
    assert put_through["status"] == "answered" and put_through["callback_reason"] is None

    assert {"to_dispatcher", "voicemail_record", "callback", "callback_promised"} <= set(left_message["ivr_path"])
    assert left_message["callback_reason"] == "voicemail" and left_message["callback_due_at"] is not None
    kinds = {r["kind"] for r in wait_for(lambda: recording_rows(container.engine, left_message["id"])
                                         if len(recording_rows(container.engine, left_message["id"])) == 2 else None,
                                         20, message="the voice message stored")}
    assert kinds == {"call", "voicemail"}
