"""One worker holds 4 calls: the 5th caller gets 486 Busy Here and the call is logged as missed (over capacity)."""
from __future__ import annotations

import subprocess

from sip_support import call_rows, wait_for
from telephony.netutil import free_port, free_udp_range
from telephony.sipp import ivr_scenario, sipp_command


def test_a_fifth_call_to_a_full_worker_is_refused_with_486_and_logged_as_missed(hotline, container, tmp_path):
    def sipp(name, scenario, calls):
        path = tmp_path / f"{name}.xml"
        path.write_text(scenario)
        return subprocess.Popen(sipp_command(path, f"127.0.0.1:{hotline.port}", local_port=free_port(),
                                             media_port=free_udp_range(8), calls=calls, rate=50, timeout_s=30),
                                cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    four = sipp("four", ivr_scenario(steps=[], hangup_at_ms=7000), 4)
    wait_for(lambda: len(call_rows(container.engine)) >= 4, 10, message="4 calls")
    fifth = sipp("fifth", ivr_scenario(steps=[], expect=486), 1)
    out5, _ = fifth.communicate(timeout=30)
    out4, _ = four.communicate(timeout=40)
    assert fifth.returncode == 0 and four.returncode == 0, (out5[-1500:], out4[-1500:], hotline.logs())
    rows = wait_for(lambda: [r for r in call_rows(container.engine) if r["status"] == "over_capacity"], 10,
                    message="the missed call")
    assert len(rows) == 1 and rows[0]["from_number"] == "+79160000001"
    assert rows[0]["sip_call_id"].endswith("@127.0.0.1")  # SIPp's Call-ID of the refused INVITE
    assert rows[0]["callback_reason"] == "over_capacity"
