"""The web app under test, started as a real HTTP server in its own process(es), and a small keep-alive client."""
from __future__ import annotations

import http.client
import importlib.util
import json
import os
import re
import signal
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

WERKZEUG = ("from werkzeug.serving import run_simple; from journal_api.app import create_app; "
            "run_simple({host!r}, {port}, create_app(), threaded=True)")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def pick_server(wanted: str) -> str:
    """`hotline web` (gunicorn, as deployed) if the CLI exists, else gunicorn directly, else werkzeug."""
    if wanted != "auto":
        return wanted
    if importlib.util.find_spec("journal_api.cli") and Path(sys.executable).with_name("hotline").exists():
        return "hotline"
    if importlib.util.find_spec("gunicorn"):
        return "gunicorn"
    return "werkzeug"


class Server:
    """One server process group that we started, and stop by its own id."""

    def __init__(self, kind: str, env: dict, log_path: Path, workers: int, threads: int):
        self.kind, self.workers, self.threads = kind, workers, threads
        self.host, self.port = "127.0.0.1", free_port()
        self.env = {**os.environ, **env}
        self.log_path = log_path
        self.proc: subprocess.Popen | None = None

    @property
    def description(self) -> str:
        if self.kind == "gunicorn":
            if self.threads > 1:
                return f"gunicorn, {self.workers} worker processes x {self.threads} threads (gthread, keep-alive)"
            return f"gunicorn, {self.workers} sync worker processes (a connection per request)"
        if self.kind == "hotline":
            from journal_api.serve import WEB_THREADS

            return (f"`hotline web --workers {self.workers}`: gunicorn, {self.workers} worker processes x "
                    f"{WEB_THREADS} threads (gthread, keep-alive)")
        return "werkzeug threaded server: ONE process (not the production server)"

    def command(self) -> list[str]:
        if self.kind == "gunicorn":
            return [sys.executable, "-m", "gunicorn", "--workers", str(self.workers), "--threads", str(self.threads),
                    "--worker-class", "gthread" if self.threads > 1 else "sync",
                    "--bind", f"{self.host}:{self.port}", "--keep-alive", "30",
                    "--log-level", "warning", "journal_api.app:create_app()"]
        if self.kind == "hotline":
            return [str(Path(sys.executable).with_name("hotline")), "web", "--host", self.host,
                    "--port", str(self.port), "--workers", str(self.workers)]
        return [sys.executable, "-c", WERKZEUG.format(host=self.host, port=self.port)]

    def __enter__(self) -> "Server":
        log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(self.command(), env=self.env, stdout=log, stderr=subprocess.STDOUT,
                                     start_new_session=True)
        log.close()
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"the {self.kind} server exited with {self.proc.returncode}; see {self.log_path}")
            try:
                status, _, _ = Client(self.host, self.port).call("GET", "/api/v1/health")
                if status == 200:
                    return self
            except OSError:
                pass
            time.sleep(0.2)
        self.__exit__(None, None, None)
        raise RuntimeError(f"the {self.kind} server did not answer within 60 s; see {self.log_path}")

    def __exit__(self, *exc) -> None:
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)  # the group of the process we started, nothing else
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()


class Client:
    """A keep-alive HTTP/1.1 client; reconnects when the server closes the connection."""

    def __init__(self, host: str, port: int):
        self.host, self.port = host, port
        self.conn = http.client.HTTPConnection(host, port, timeout=60)

    def call(self, method: str, path: str, token: str | None = None, body: dict | None = None):
        headers = {"Accept": "application/json"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        data = None
        if body is not None:
            data = json.dumps(body, ensure_ascii=False).encode()
            headers["Content-Type"] = "application/json"
        for attempt in (1, 2):
            started = time.perf_counter()
            try:
                self.conn.request(method, path, body=data, headers=headers)
                resp = self.conn.getresponse()
                raw = resp.read()
                return resp.status, raw, time.perf_counter() - started
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                self.conn.close()
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def close(self) -> None:
        self.conn.close()


def raw_request(method: str, path: str, host: str, port: int, token: str, body: dict) -> bytes:
    """One HTTP/1.1 request, encoded once before the timed window (see :class:`RawClient`)."""
    data = json.dumps(body, ensure_ascii=False).encode()
    head = (f"{method} {path} HTTP/1.1\r\nHost: {host}:{port}\r\nAccept: application/json\r\n"
            f"Authorization: Bearer {token}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(data)}\r\n\r\n")
    return head.encode() + data


class RawClient:
    """The load generator's HTTP client: sends requests encoded beforehand and reads only the status line, the
    headers it needs and the body. It costs the client a fraction of http.client's CPU, so on a machine whose cores
    the server shares the load generator takes as little from the server as it can. Keeps the connection alive
    when the server does; reconnects when the server closes it (gunicorn's sync workers close after each
    response)."""

    def __init__(self, host: str, port: int):
        self.addr = (host, port)
        self.sock: socket.socket | None = None

    def _connect(self) -> socket.socket:
        sock = socket.create_connection(self.addr, timeout=60)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return sock

    def send(self, raw: bytes) -> tuple[int, bytes, float]:
        for attempt in (1, 2):
            fresh = self.sock is None
            if fresh:
                self.sock = self._connect()
            started = time.perf_counter()
            try:
                self.sock.sendall(raw)
                status, body, close = self._read()
            except (ConnectionError, EOFError):
                self.close()
                if fresh or attempt == 2:  # a kept-alive connection the server had closed: try once more
                    raise
                continue
            if close:
                self.close()
            return status, body, time.perf_counter() - started
        raise AssertionError("unreachable")

    def _read(self) -> tuple[int, bytes, bool]:
        buf = b""
        while b"\r\n\r\n" not in buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise EOFError("the server closed the connection")
            buf += chunk
        head, body = buf.split(b"\r\n\r\n", 1)
        lower = head.lower()
        at = lower.find(b"\r\ncontent-length:")
        length = int(lower[at + 17:lower.find(b"\r\n", at + 2)]) if at >= 0 else 0
        while len(body) < length:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise EOFError("the server closed the connection mid-body")
            body += chunk
        return int(head[9:12]), body, b"\r\nconnection: close" in lower

    def close(self) -> None:
        if self.sock is not None:
            self.sock.close()
            self.sock = None


def stats(seconds: list[float]) -> dict:
    """p50/p95/max in milliseconds."""
    if not seconds:
        return {"n": 0, "p50_ms": None, "p95_ms": None, "max_ms": None}
    ms = sorted(s * 1000 for s in seconds)
    p95 = statistics.quantiles(ms, n=20, method="inclusive")[18] if len(ms) > 1 else ms[0]
    return {"n": len(ms), "p50_ms": round(statistics.median(ms), 2), "p95_ms": round(p95, 2),
            "max_ms": round(ms[-1], 2)}


def _processes():
    """(pid, command name, process group, CPU seconds) of every live process."""
    tick = os.sysconf("SC_CLK_TCK")
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            head, tail = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)
        except OSError:
            continue
        fields = tail.split()  # after the name: state, ppid, pgrp, ...
        yield int(entry), head.split("(", 1)[1], int(fields[2]), (int(fields[11]) + int(fields[12])) / tick


def group_cpu_seconds(pgid: int) -> float:
    """CPU time (user + system) of the live processes in one process group: the server we started."""
    return sum(cpu for _pid, _name, pgrp, cpu in _processes() if pgrp == pgid)


def _title(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


CLIENT_BACKEND = re.compile(r"postgres: \S+: \S+ (\S+) (?:\S+\(\d+\)|\[local\])")  # "cluster: user db host(port)"


def postgres_cpu(db: str) -> dict[int, float]:
    """CPU seconds per PostgreSQL process that works for this database: its backends, and the shared ones (WAL
    writer, checkpointer, ...). Other databases' backends are left out. Compare two snapshots with cpu_delta."""
    found = {}
    for pid, name, _pgrp, cpu in _processes():
        if name != "postgres":
            continue
        backend = CLIENT_BACKEND.match(_title(pid))
        if backend is None or backend.group(1) == db:
            found[pid] = cpu
    return found


def redis_cpu() -> dict[int, float]:
    return {pid: cpu for pid, name, _pgrp, cpu in _processes() if name == "redis-server"}


def cpu_delta(before: dict[int, float], after: dict[int, float]) -> float:
    """CPU spent between two snapshots by the processes alive at the second (a process that exited is lost)."""
    return sum(cpu - before.get(pid, 0.0) for pid, cpu in after.items())


def machine_busy() -> tuple[int, int]:
    """(busy, total) jiffies of all CPUs, from /proc/stat."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = values[3] + values[4]
    return sum(values) - idle, sum(values)
