"""Two workers behind Kamailio: more than 4 calls at once are spread over both; when all 8 lines are busy the
next caller gets 503 with Retry-After and the call is logged as missed."""
from __future__ import annotations

import re
import subprocess

from sip_support import call_rows, wait_for
from telephony.netutil import free_port, free_udp_range
from telephony.sipp import ivr_scenario, sipp_command


def sipp(tmp_path, name: str, target: str, scenario: str, calls: int, rate: float = 50, extra=None):
    path = tmp_path / f"{name}.xml"
    path.write_text(scenario)
    argv = sipp_command(path, target, local_port=free_port(), media_port=free_udp_range(8), calls=calls, rate=rate,
                        timeout_s=40, extra=extra)
    return subprocess.Popen(argv, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def test_two_workers_behind_kamailio_take_eight_calls_and_refuse_the_ninth(hotline_factory, org, building,
                                                                          container, tmp_path):
    hotline = hotline_factory(workers=2, HOTLINE_SIP_BUSY_RETRY_AFTER=23)
    target = f"127.0.0.1:{hotline.port}"
    eight = sipp(tmp_path, "eight", target, ivr_scenario(steps=[], hangup_at_ms=9000), calls=8)
    wait_for(lambda: len([c for c in call_rows(container.engine) if c["status"] == "answered"]) >= 8, 10,
             message="8 answered calls")
    busy = sipp(tmp_path, "busy", target, ivr_scenario(steps=[], expect=503, expect_header="Retry-After"), calls=1,
                extra=["-trace_logs"])
    out_busy, _ = busy.communicate(timeout=30)
    out_eight, _ = eight.communicate(timeout=40)
    assert eight.returncode == 0, (out_eight[-2500:], hotline.logs())
    assert busy.returncode == 0, (out_busy[-2500:], hotline.logs())
    (log,) = list(tmp_path.glob("busy_*_logs.log"))  # SIPp logged the header it checked: the configured value
    assert re.search(r"^Retry-After:\s+23$", log.read_text(), re.M), log.read_text()

    def settled():
        rows = call_rows(container.engine)
        return rows if len(rows) == 9 and all(r["ended_at"] for r in rows) else None
    rows = wait_for(settled, 15, message="9 calls logged")
    answered = [r for r in rows if r["status"] != "over_capacity"]
    (missed,) = [r for r in rows if r["status"] == "over_capacity"]
    assert len(answered) == 8 and len({r["worker"] for r in answered}) == 2  # both workers took calls
    assert all(sum(r["worker"] == w for r in answered) == 4 for w in {r["worker"] for r in answered})
    assert missed["from_number"] == "+79160000001" and missed["to_number"] == "+74950000000"
    assert missed["callback_reason"] == "over_capacity"  # ПП 416: somebody calls back
