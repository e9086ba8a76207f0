"""SIPp scenarios for the tests and bench/sip_load.py: an IVR call that presses keys (RFC 2833 packets replayed
with ``play_pcap_audio`` from pcaps generated here, one RTP series per call) and speaks (``rtp_stream`` of a u-law
WAV) at fixed times after the answer, then waits for the IVR to hang up (or hangs up itself at ``hangup_at_ms``)."""
from __future__ import annotations

import struct
import subprocess
from pathlib import Path


INVITE = """<send retrans="500"><![CDATA[
INVITE sip:[service]@[remote_ip]:[remote_port] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
From: <sip:{caller}@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
To: <sip:[service]@[remote_ip]:[remote_port]>
Call-ID: [call_id]
CSeq: 1 INVITE
Contact: <sip:sipp@[local_ip]:[local_port]>
Max-Forwards: 70
Content-Type: application/sdp
Content-Length: [len]

v=0
o=user1 53655765 2353687637 IN IP[local_ip_type] [local_ip]
s=-
c=IN IP[media_ip_type] [media_ip]
t=0 0
m=audio [media_port] RTP/AVP {payloads}
{rtpmaps}
]]></send>
"""

ACK = """<send><![CDATA[
ACK [next_url] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
From: <sip:{caller}@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
To: <sip:[service]@[remote_ip]:[remote_port]>[peer_tag_param]
[routes]
Call-ID: [call_id]
CSeq: 1 ACK
Contact: <sip:sipp@[local_ip]:[local_port]>
Max-Forwards: 70
Content-Length: 0

]]></send>
"""

BYE = """<send retrans="500"><![CDATA[
BYE [next_url] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
From: <sip:{caller}@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
To: <sip:[service]@[remote_ip]:[remote_port]>[peer_tag_param]
[routes]
Call-ID: [call_id]
CSeq: 2 BYE
Contact: <sip:sipp@[local_ip]:[local_port]>
Max-Forwards: 70
Content-Length: 0

]]></send>
<recv response="200" crlf="true"/>
"""

BYE_200 = """<recv request="BYE" timeout="{timeout_ms}"/>
<send><![CDATA[
SIP/2.0 200 OK
[last_Via:]
[last_From:]
[last_To:]
[last_Call-ID:]
[last_CSeq:]
Contact: <sip:sipp@[local_ip]:[local_port]>
Content-Length: 0

]]></send>
"""

PCMU = ("0 101", "a=rtpmap:0 PCMU/8000\na=rtpmap:101 telephone-event/8000\na=fmtp:101 0-15")


EVENTS = {**{str(i): i for i in range(10)}, "*": 10, "#": 11}


def dtmf_pcap(path: str | Path, digits: str, *, seq: int, ts: int, ssrc: int = 0x48544C4E) -> Path:
    """An RFC 2833 pcap of ``digits`` (100 ms tones, 100 ms apart) with RTP sequence numbers and timestamps from
    ``seq``/``ts``. sip-tester's own pcaps come from one capture (one SSRC, out-of-order sequence numbers), so a
    receiver drops a second key as a late duplicate; a call gets its own series instead."""
    out = [struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1)]
    t = 0.0
    for digit in digits:
        event = EVENTS[digit]
        packets = [(i == 0, False, 160 * (i + 1)) for i in range(5)] + [(False, True, 800)] * 3
        for marker, end, duration in packets:
            rtp = struct.pack(">BBHII", 0x80, (0x80 if marker else 0) | 101, seq & 0xFFFF, ts & 0xFFFFFFFF, ssrc)
            rtp += struct.pack(">BBH", event, (0x80 if end else 0) | 10, duration)
            udp = struct.pack(">HHHH", 6000, 6000, 8 + len(rtp), 0) + rtp
            ip = struct.pack(">BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 0, 0, 64, 17, 0, bytes([127, 0, 0, 1]),
                             bytes([127, 0, 0, 1])) + udp
            frame = b"\x00" * 12 + b"\x08\x00" + ip
            out.append(struct.pack("<IIII", int(t), int((t % 1) * 1e6), len(frame), len(frame)) + frame)
            seq += 1
            t += 0.02
        ts += 1600  # the next key is a new event: a later timestamp
        t += 0.1
    Path(path).write_bytes(b"".join(out))
    return Path(path)


def ivr_scenario(*, steps: list[tuple[int, str]], caller: str = "+79160000001", hangup_at_ms: int | None = None,
                 wait_bye_ms: int = 60000, codecs: tuple[str, str] = PCMU, expect: int = 200,
                 expect_header: str | None = None) -> str:
    """``steps``: (ms after the answer, action): action is ``pcap:FILE`` (RFC 2833 keys, see :func:`dtmf_pcap`),
    ``play:FILE`` (a u-law WAV streamed with rtp_stream). ``expect``: the final response (e.g. 488: no media)."""
    parts = ['<?xml version="1.0" encoding="ISO-8859-1" ?>', '<scenario name="hotline IVR call">',
             INVITE.format(caller=caller, payloads=codecs[0], rtpmaps=codecs[1]),
             '<recv response="100" optional="true"/>', '<recv response="180" optional="true"/>',
             '<recv response="183" optional="true"/>']
    if expect != 200:
        check = ""
        if expect_header:  # e.g. "Retry-After": the response must carry it
            check = (f'<action><ereg regexp=".+" search_in="hdr" header="{expect_header}:" check_it="true" '
                     f'assign_to="1"/></action>')
        parts.append(f'<recv response="{expect}">{check}</recv>')
        if expect_header:
            parts.append('<nop><action><log message="{header}: [$1]"/></action></nop>'.format(header=expect_header))
        parts.append(ACK.format(caller=caller))
        parts.append("</scenario>")
        return "\n".join(parts)
    parts += ['<recv response="200" rtd="true" crlf="true" rrs="true"/>', ACK.format(caller=caller)]
    now = 0
    for at, action in sorted(steps):
        if at > now:
            parts.append(f'<pause milliseconds="{at - now}"/>')
            now = at
        if action.startswith("play:"):
            parts.append(f'<nop><action><exec rtp_stream="{action[5:]},1,0"/></action></nop>')
        else:
            parts.append(f'<nop><action><exec play_pcap_audio="{action[5:]}"/></action></nop>')
    if hangup_at_ms is not None:
        if hangup_at_ms > now:
            parts.append(f'<pause milliseconds="{hangup_at_ms - now}"/>')
        parts.append(BYE.format(caller=caller))
    else:
        parts.append(BYE_200.format(timeout_ms=wait_bye_ms))
    parts.append('<ResponseTimeRepartition value="10, 20, 50, 100, 200, 500, 1000"/>')
    parts.append("</scenario>")
    return "\n".join(parts)


def dtmf_steps(directory: Path, keys: list[tuple[int, str]]) -> list[tuple[int, str]]:
    """[(ms, digits)] -> [(ms, "pcap:FILE")], one pcap per step with a continuing RTP series."""
    steps, seq, ts = [], 1000, 160000
    for i, (at, digits) in enumerate(keys):
        path = dtmf_pcap(Path(directory) / f"dtmf-{i}.pcap", digits, seq=seq, ts=ts)
        steps.append((at, f"pcap:{path}"))
        seq += 8 * len(digits) + 10
        ts += 1600 * len(digits) + 8000
    return steps


def ulaw(src: str | Path, dst: str | Path) -> Path:
    """The u-law WAV rtp_stream wants (8 kHz mono)."""
    subprocess.run(["sox", str(src), "-r", "8000", "-c", "1", "-e", "u-law", "-t", "wav", str(dst)], check=True)
    return Path(dst)


def sipp_command(scenario: Path, target: str, *, local_port: int, media_port: int, calls: int = 1,
                 rate: float = 1.0, limit: int | None = None, service: str = "+74950000000",
                 timeout_s: int = 90, extra: list[str] | None = None) -> list[str]:
    argv = ["sipp", target, "-sf", str(scenario), "-s", service, "-i", "127.0.0.1", "-p", str(local_port),
            "-mi", "127.0.0.1", "-mp", str(media_port),
            "-m", str(calls), "-r", str(rate), "-l", str(limit or calls),
            "-timeout", f"{timeout_s}s", "-timeout_error", "-nostdin", "-trace_err", "-trace_stat",
            "-fd", "1", "-trace_rtt", "-rtt_freq", "1"]
    return argv + (extra or [])


def injection_file(path: str | Path, callers: list[str]) -> Path:
    """A SIPp injection file (``-inf``): one caller ID per call, in order; use ``caller="[field0]"`` in
    :func:`ivr_scenario` so each call's From carries its own number."""
    Path(path).write_text("SEQUENTIAL\n" + "".join(f"{c};\n" for c in callers))
    return Path(path)


def registrar_scenario(*, username: str, password: str, realm: str = "provider.test",
                       nonce: str = "3f9a1c7e5b2d4a6f8e0c1b3d5f7a9c2e") -> str:
    """A SIP trunk provider's registrar (SIPp as UAS, ``-m 1``): the first REGISTER gets 401 with a digest challenge;
    the second must carry an Authorization that ``verifyauth`` accepts for ``username``/``password`` (then 200 OK
    with the Contact back), else 403 and the scenario fails (SIPp exits non-zero). The Contact registered is logged
    (``-trace_logs``) as ``CONTACT <uri>``."""
    reply = """<send><![CDATA[
SIP/2.0 {status}
[last_Via:]
[last_From:]
[last_To:];tag=prov[call_number]
[last_Call-ID:]
[last_CSeq:]
{extra}Content-Length: 0

]]></send>"""
    challenge = f'WWW-Authenticate: Digest realm="{realm}", nonce="{nonce}", algorithm=MD5\n'
    return "\n".join([
        '<?xml version="1.0" encoding="ISO-8859-1" ?>', '<scenario name="trunk registrar">',
        '<recv request="REGISTER"/>',
        reply.format(status="401 Unauthorized", extra=challenge),
        '<recv request="REGISTER"><action>',
        f'<verifyauth assign_to="authvalid" username="{username}" password="{password}"/>',
        '<ereg regexp="sip:[^>;]+" search_in="hdr" header="Contact:" check_it="true" assign_to="contact"/>',
        '</action></recv>',
        '<nop hide="true" test="authvalid" next="good"/>',
        reply.format(status="403 Forbidden", extra=""),
        '<recv request="NEVER" timeout="500"/>',  # no such request: a refused digest fails the scenario
        '<label id="good"/>',
        '<nop><action><log message="CONTACT [$contact]"/></action></nop>',
        reply.format(status="200 OK", extra="Contact: [$contact];expires=600\nExpires: 600\n"),
        "</scenario>"])
