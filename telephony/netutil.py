"""Small network helpers: free ports picked at run time, and a raw SIP OPTIONS probe."""
from __future__ import annotations

import socket
import uuid


def free_port(kind: int = socket.SOCK_DGRAM, host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, kind) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def free_ports(wanted: list[tuple[int, int]], host: str = "127.0.0.1", tries: int = 200, step: int = 1) -> int:
    """A start port (a multiple of ``step``) where a socket of every (socket kind, offset) in ``wanted`` binds on
    ``host`` at start + offset."""
    import random

    span = max(offset for _, offset in wanted) + 1
    for _ in range(tries):
        start = random.randrange(20000, 60000 - span, step)
        socks = []
        try:
            for kind, offset in wanted:
                sock = socket.socket(socket.AF_INET, kind)
                socks.append(sock)
                sock.bind((host, start + offset))
            return start
        except OSError:
            continue
        finally:
            for sock in socks:
                sock.close()
    raise RuntimeError(f"no free ports {wanted} (kind, offset) on {host}")


def free_udp_range(count: int, host: str = "127.0.0.1", tries: int = 200) -> int:
    """The first port of ``count`` consecutive free UDP ports (an even start, for RTP and RTCP pairs)."""
    return free_ports([(socket.SOCK_DGRAM, i) for i in range(count)], host, tries, step=2)


def sip_options(host: str, port: int, timeout: float = 1.0) -> int | None:
    """Send one OPTIONS over UDP; returns the response's status code, or None without an answer."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.settimeout(timeout)
        lport = sock.getsockname()[1]
        branch, tag, cid = uuid.uuid4().hex[:16], uuid.uuid4().hex[:8], uuid.uuid4().hex
        msg = (f"OPTIONS sip:{host}:{port} SIP/2.0\r\n"
               f"Via: SIP/2.0/UDP 127.0.0.1:{lport};branch=z9hG4bK{branch};rport\r\n"
               f"Max-Forwards: 70\r\nFrom: <sip:probe@127.0.0.1>;tag={tag}\r\nTo: <sip:{host}:{port}>\r\n"
               f"Call-ID: {cid}\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n")
        sock.sendto(msg.encode(), (host, port))
        try:
            while True:
                data, _ = sock.recvfrom(65535)
                first = data.split(b"\r\n", 1)[0].decode(errors="replace").split()
                if len(first) >= 2 and first[0] == "SIP/2.0" and first[1].isdigit() and int(first[1]) >= 200:
                    return int(first[1])
        except (socket.timeout, OSError):
            return None
