"""`hotline sip` stopped with SIGTERM drains: the call in progress goes on to its end (its request and recordings
are stored), while a new call during the drain is refused with 503 and Retry-After and logged as missed."""
from __future__ import annotations

import json
import os
import re
import signal
import subprocess

from sip_support import PY, ROOT, call_rows, recording_rows, wait_for
from telephony.netutil import free_port, free_udp_range
from telephony.sipp import ivr_scenario, sipp_command


def test_sigterm_lets_the_call_in_progress_finish_and_refuses_new_calls_with_retry_after(
        hotline_factory, org, building, container, speech, tmp_path):
    hotline = hotline_factory(HOTLINE_SIP_DRAIN_SECONDS=90, HOTLINE_SIP_BUSY_RETRY_AFTER=17)
    resident = subprocess.Popen(
        [PY, "-m", "journal_api.cli", "call", hotline.uri, "--from", "sip:+79161234567@127.0.0.1",
         "--dtmf", "2@2,1@4.5,12#@7", "--play", str(speech), "--timeout", "60"],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={k: v for k, v in os.environ.items() if not k.startswith("HOTLINE_")})
    try:
        wait_for(lambda: [r for r in call_rows(container.engine) if r["answered_at"]], 15, message="the answer")
        hotline.proc.send_signal(signal.SIGTERM)  # the supervisor: it drains its worker
        wait_for(lambda: "draining" in hotline.logs(), 10, message="the worker draining")

        scenario = tmp_path / "late.xml"
        scenario.write_text(ivr_scenario(steps=[], caller="+79160000002", expect=503, expect_header="Retry-After"))
        late = subprocess.run(sipp_command(scenario, f"127.0.0.1:{hotline.port}", local_port=free_port(),
                                           media_port=free_udp_range(8), timeout_s=20, extra=["-trace_logs"]),
                              cwd=tmp_path, capture_output=True, text=True, timeout=40)
        out, err = resident.communicate(timeout=90)
    finally:
        if resident.poll() is None:
            resident.kill()
            resident.communicate()
    assert late.returncode == 0, (late.stdout[-2000:], hotline.logs())  # 503 with a Retry-After header
    (log,) = list(tmp_path.glob("late_*_logs.log"))
    assert re.search(r"^Retry-After:\s+17$", log.read_text(), re.M)  # the configured [sip] busy_retry_after
    result = json.loads([ln for ln in out.splitlines() if ln.startswith("{")][-1])
    assert result["connected"] and result["ended_by"] == "remote", (result, err[-2000:], hotline.logs())
    assert hotline.proc.wait(60) == 0  # the supervisor exits once its worker is through

    rows = call_rows(container.engine)
    (done,) = [r for r in rows if r["from_number"] == "+79161234567"]
    assert done["status"] == "answered" and done["hangup_cause"] == "normal" and done["request_id"] is not None
    assert {"call", "description"} <= {r["kind"] for r in recording_rows(container.engine, done["id"])}
    (refused,) = [r for r in rows if r["from_number"] == "+79160000002"]
    assert (refused["status"], refused["hangup_cause"]) == ("missed", "shutting_down")
    assert refused["callback_reason"] == "missed"  # ПП 416: somebody calls back
