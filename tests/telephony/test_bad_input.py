"""Bad input at the SIP door: no common codec, garbage datagrams, a malformed INVITE."""
from __future__ import annotations

import socket
import subprocess

from sip_support import call_rows
from telephony.netutil import free_port, free_udp_range, sip_options
from telephony.sipp import ivr_scenario, sipp_command

GARBAGE = [b"\x00\xff" * 300, b"INVITE\r\n\r\n", b"SIP/2.0 200 OK\r\n\r\n",
           b"INVITE sip:x@127.0.0.1 SIP/2.0\r\nVia: nonsense\r\nCSeq: abc\r\nContent-Length: 99999\r\n\r\nv=0",
           "OPTIONS sip:я@127.0.0.1 SIP/2.0\r\nFrom: \u0000\r\n\r\n".encode()]


def test_no_common_codec_gets_488_and_garbage_does_not_crash_the_worker(hotline, container, tmp_path):
    pids = hotline.worker_pids()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        for packet in GARBAGE * 3:
            sock.sendto(packet, ("127.0.0.1", hotline.port))
    assert sip_options("127.0.0.1", hotline.port, timeout=2) == 200

    g729 = ("18", "a=rtpmap:18 G729/8000")
    path = tmp_path / "g729.xml"
    path.write_text(ivr_scenario(steps=[], codecs=g729, expect=488))
    proc = subprocess.run(sipp_command(path, f"127.0.0.1:{hotline.port}", local_port=free_port(),
                                       media_port=free_udp_range(4), timeout_s=15),
                          cwd=tmp_path, capture_output=True, text=True, timeout=30)
    assert proc.returncode == 0, (proc.stdout[-2000:], hotline.logs())

    assert hotline.worker_pids() == pids and hotline.alive()  # the same worker, still answering
    assert call_rows(container.engine) == []  # a refused INVITE is not a call
