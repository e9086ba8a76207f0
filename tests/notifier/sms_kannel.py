"""Kannel for the tests: bearerbox, smsbox and kannel-extras' fakesmsc on free loopback ports, and the web app
served for real (smsbox calls its webhooks over HTTP)."""
from __future__ import annotations

import contextlib
import dataclasses
import re
import socket
import subprocess
import threading
import time
from pathlib import Path
from urllib.parse import quote_from_bytes, unquote_to_bytes

from notifier.inbound import InboundService
from notifier.kannel_conf import KannelPorts, render

FAKESMSC = "/usr/lib/kannel/test/fakesmsc"
_SENT = re.compile(r"Sent SMS .*\[to:([^\]]*)\].*\[flags:-?\d+:(-?\d+):")
_GOT = re.compile(r"Got message \d+: <(\S+) (\S+) (\S+) (.*)>")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise TimeoutError(f"nothing listens on port {port}")


class WebServer:
    """The Flask app on a free port in a thread (werkzeug's threaded server)."""

    def __init__(self, app):
        from werkzeug.serving import make_server

        self.port = free_port()
        self.server = make_server("127.0.0.1", self.port, app, threaded=True)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.thread.join(timeout=5)


class Kannel:
    def __init__(self, settings, callback_base: str, workdir: Path, log_level: int = 1):
        self.log_level = log_level
        self.ports = KannelPorts(admin=free_port(), smsbox=free_port(), smsc=free_port(), sendsms=free_port())
        self.workdir = workdir
        self.conf = workdir / "kannel.conf"
        conf = render(settings, self.ports, callback_base, log_dir=str(workdir), log_level=1, admin_password="test")
        # bearerbox's access log records each message part with its data coding ("[flags:mclass:coding:...]")
        self.access_log = workdir / "access.log"
        self.conf.write_text(conf.replace("group = core\n", f'group = core\naccess-log = "{self.access_log}"\n', 1))
        self.procs: list[subprocess.Popen] = []
        self.fake: subprocess.Popen | None = None
        self.received: list[tuple[str, str, str]] = []  # (from, to, text) that reached the fake SMSC
        self.codings: list[tuple[str, str]] = []  # (to, coding) of each part, as the fake SMSC reports it
        self._reader: threading.Thread | None = None

    @property
    def sendsms_url(self) -> str:
        return f"http://127.0.0.1:{self.ports.sendsms}/cgi-bin/sendsms"

    def start(self) -> "Kannel":
        out = open(self.workdir / "bearerbox.out", "wb")
        self.procs.append(subprocess.Popen(["/usr/sbin/bearerbox", str(self.conf)], stdout=out,
                                           stderr=subprocess.STDOUT))
        wait_port(self.ports.smsc)
        wait_port(self.ports.smsbox)
        self.fake = subprocess.Popen([FAKESMSC, "-H", "127.0.0.1", "-r", str(self.ports.smsc), "-i", "0"],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        self.procs.append(self.fake)
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        out = open(self.workdir / "smsbox.out", "wb")
        self.procs.append(subprocess.Popen(["/usr/sbin/smsbox", str(self.conf)], stdout=out,
                                           stderr=subprocess.STDOUT))
        wait_port(self.ports.sendsms)
        return self

    def _read(self) -> None:
        """Each line the fake SMSC got: "<from> <to> ucs-2 <data>", or for a part of a concatenated message
        "<from> <to> udh <UDH> data <data>" (UDH 05 00 03 ref total seq); parts are joined when all are in."""
        parts: dict[tuple, dict[int, bytes]] = {}
        for raw in self.fake.stdout:
            match = _GOT.search(raw.decode("utf-8", "replace"))
            if not match:
                continue
            sender, receiver, kind, data = match.groups()
            if kind == "udh":
                udh_text, coding, payload = data.split(" ", 2)
                self.codings.append((receiver, coding))
                udh = _bytes(udh_text)
                ref, total, seq = udh[3], udh[4], udh[5]
                got = parts.setdefault((sender, receiver, ref), {})
                got[seq] = _bytes(payload)
                if len(got) == total:
                    whole = b"".join(got[i] for i in sorted(got))
                    del parts[(sender, receiver, ref)]
                    self.received.append((sender, receiver, whole.decode("utf-16-be")))
            elif kind == "ucs-2":
                self.codings.append((receiver, kind))
                self.received.append((sender, receiver, _bytes(data).decode("utf-16-be")))
            else:
                self.codings.append((receiver, kind))
                self.received.append((sender, receiver, _bytes(data).decode("utf-8", "replace")))

    def sent_codings(self, receiver: str) -> list[int]:
        """The data coding of each part bearerbox sent to ``receiver`` (its access log: "Sent SMS ... [to:...]
        ... [flags:<mclass>:<coding>:...]"); 2 is UCS-2."""
        if not self.access_log.exists():
            return []
        codings = []
        for line in self.access_log.read_text("utf-8", "replace").splitlines():
            match = _SENT.search(line)
            if match and match.group(1).lstrip("+") == receiver.lstrip("+"):
                codings.append(int(match.group(2)))
        return codings

    def mo(self, sender: str, receiver: str, text: str) -> None:
        """A phone sends an SMS: UCS-2, as a handset sends Cyrillic."""
        data = quote_from_bytes(text.encode("utf-16-be"))
        self.fake.stdin.write(f"{sender} {receiver} ucs2 {data}\n".encode())
        self.fake.stdin.flush()

    def stop(self) -> None:
        for proc in reversed(self.procs):
            if proc.poll() is None:
                proc.terminate()
        for proc in self.procs:
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()


def _bytes(urlencoded: str) -> bytes:
    return unquote_to_bytes(urlencoded.replace("+", "%20"))


def wait_for(predicate, timeout: float = 10.0, step: float = 0.05):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(step)
    raise AssertionError(f"timed out after {timeout} s waiting for {predicate}")


@contextlib.contextmanager
def kannel_serving(app, sms_settings, workdir: Path, make_notifier, **own):
    """The app served on a free port and a Kannel calling its webhooks, configured like the deployment's
    ``sms_settings`` with provider kannel, password "pw", sender 4740 and ``own``. ``make_notifier(settings, kannel,
    web)`` gives the notifier the app uses (outbound and inbound); Kannel runs while the block does. Yields
    (notifier, kannel)."""
    with WebServer(app) as web:
        settings = dataclasses.replace(sms_settings, provider="kannel", kannel_password="pw", sender="4740",
                                       callback_url=web.url, **own)
        kannel = Kannel(settings, web.url, workdir)
        notifier = make_notifier(settings, kannel, web)
        app.extensions["hotline.notifier"] = notifier
        app.extensions["hotline.sms_inbound"] = InboundService(notifier)
        kannel.start()
        try:
            yield notifier, kannel
        finally:
            kannel.stop()
