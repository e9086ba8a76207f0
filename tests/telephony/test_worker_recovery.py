"""A worker killed -9 in the middle of a call: the supervisor restarts it, the call is closed as failed and its
partial recording is stored with a valid WAV header."""
from __future__ import annotations

import os
import signal
import subprocess
import wave

import sqlalchemy as sa

from journal_api.storage import tables as jt
from sip_audio import match_fraction
from sip_support import PY, ROOT, blob_path, recording_rows, stored_call, wait_for
from telephony.netutil import sip_options


def test_a_worker_killed_mid_call_is_restarted_and_its_call_recovered(hotline, container, speech):
    (old_pid,) = hotline.worker_pids()
    talker = subprocess.Popen([PY, "-m", "journal_api.cli", "call", hotline.uri, "--from", "sip:+79163334455@127.0.0.1",
                               "--dtmf", "2@2,1@4.5,12#@7", "--play", speech, "--hangup-after", "3", "--timeout", "40"],
                              cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:  # killed while the caller describes the problem
        live = wait_for(lambda: list((hotline.data_dir / "spool" / "live").glob("*-description.wav")), 30,
                        message="the description")[0]
        wait_for(lambda: live.stat().st_size > 44 + 16000 * 4.5, 15, message="4.5 s of description")
        os.kill(old_pid, signal.SIGKILL)
        new = wait_for(lambda: [p for p in hotline.worker_pids() if p != old_pid], 20, message="a new worker")
        assert new and wait_for(lambda: sip_options("127.0.0.1", hotline.port) == 200, 10, message="OPTIONS")
    finally:
        talker.wait(30)

    (call,) = stored_call(container, timeout=30, kinds=("call", "description"))
    assert call["status"] == "failed" and call["hangup_cause"] == "worker_died"
    with container.engine.connect() as conn:  # what he said still became a request, with what he keyed in
        req = conn.execute(sa.select(jt.requests).where(jt.requests.c.id == call["request_id"])).mappings().one()
    assert req["work_type"] == "water" and req["apartment"] == 12
    recs = {r["kind"]: r for r in recording_rows(container.engine, call["id"])}
    for rec in recs.values():
        with wave.open(str(blob_path(container, rec))) as wav:  # the header now tells the real length
            seconds = wav.getnframes() / wav.getframerate()
        assert abs(rec["duration_s"] - seconds) < 0.1 and seconds > 4.0
    assert match_fraction(blob_path(container, recs["description"]), speech) > 0.5  # what he said before the kill
