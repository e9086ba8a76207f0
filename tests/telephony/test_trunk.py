"""The external SIP trunk: the hotline registers at the provider's registrar with digest authentication (a SIPp
registrar that challenges with 401 and checks the answer), with one worker too (Kamailio then runs in front of
it), and a call the provider sends to the registered contact reaches the IVR."""
from __future__ import annotations

import subprocess

from sip_support import call_rows, wait_for
from telephony.netutil import free_port, free_udp_range
from telephony.sipp import ivr_scenario, registrar_scenario, sipp_command


def test_one_worker_registers_at_the_trunk_with_digest_auth_and_takes_its_calls(hotline_factory, org, building,
                                                                               container, tmp_path):
    port = free_port()
    scenario = tmp_path / "registrar.xml"
    scenario.write_text(registrar_scenario(username="hotline77", password="s3cret-77", realm="provider.test"))
    provider = subprocess.Popen(["sipp", "-sf", str(scenario), "-i", "127.0.0.1", "-p", str(port), "-m", "1",
                                 "-timeout", "40s", "-timeout_error", "-nostdin", "-trace_logs", "-trace_err"],
                                cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        hotline = hotline_factory(workers=1, HOTLINE_SIP_TRUNK_REGISTRAR=f"sip:127.0.0.1:{port}",
                                  HOTLINE_SIP_TRUNK_USERNAME="hotline77", HOTLINE_SIP_TRUNK_PASSWORD="s3cret-77",
                                  HOTLINE_SIP_TRUNK_DOMAIN="provider.test")
        out, _ = provider.communicate(timeout=45)
    finally:
        if provider.poll() is None:
            provider.kill()
            provider.communicate()
    assert provider.returncode == 0, (out[-2500:], hotline.logs())  # 401, then a digest verifyauth accepted
    (log,) = list(tmp_path.glob("registrar_*_logs.log"))
    contact = f"sip:hotline77@127.0.0.1:{hotline.port}"
    assert f"CONTACT {contact}" in log.read_text()
    workers = [p.read_text().split()[1] for p in (tmp_path / "spool").glob("worker-*.ready")]
    assert len(workers) == 1 and workers[0] != f"127.0.0.1:{hotline.port}"  # Kamailio holds the public port

    call = tmp_path / "from-trunk.xml"
    call.write_text(ivr_scenario(steps=[], hangup_at_ms=3000))
    sipp = subprocess.run(sipp_command(call, f"127.0.0.1:{hotline.port}", local_port=free_port(),
                                       media_port=free_udp_range(8), service="hotline77", timeout_s=30),
                          cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert sipp.returncode == 0, (sipp.stdout[-2500:], hotline.logs())
    rows = wait_for(lambda: [r for r in call_rows(container.engine) if r["ended_at"]], 15, message="the call")
    assert rows[0]["status"] in ("answered", "abandoned") and rows[0]["answered_at"] is not None
    assert rows[0]["from_number"] == "+79160000001"
