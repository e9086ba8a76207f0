"""`hotline up` as a user runs it: a real process tree on free ports, SQLite in a temporary data dir."""
from __future__ import annotations

import json
import os
import queue
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e

TOKEN_LINE = re.compile(r"Admin API token for the organisation 'demo': (hl_\S+)")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _children(pid: int) -> dict[int, str]:
    """Every descendant of ``pid`` (pid -> command line), from /proc."""
    parents = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
                parents[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError):
                continue
    found, frontier = {}, [pid]
    while frontier:
        parent = frontier.pop()
        for child, ppid in parents.items():
            if ppid == parent and child not in found:
                try:
                    found[child] = (Path("/proc") / str(child) / "cmdline").read_bytes().replace(b"\0", b" ").decode()
                except OSError:
                    continue
                frontier.append(child)
    return found


def _alive(pid: int) -> bool:
    try:
        state = (Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def _call(method: str, url: str, token: str, body: dict | None = None) -> tuple[int, dict]:
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method, headers={
        "Authorization": f"Bearer {token}", "Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as response:
        return response.status, json.loads(response.read())


@pytest.fixture
def hotline_up(tmp_path):
    """A running `hotline up`; yields (process, base url, token, data dir, output queue)."""
    data_dir = tmp_path / "data"
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("HOTLINE_")}
    proc = subprocess.Popen([sys.executable, "-m", "journal_api.cli", "up", "--web-port", str(port),
                             "--sip-port", str(_free_port()), "--data-dir", str(data_dir)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                            env=env, text=True, cwd=tmp_path)
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=lambda: [lines.put(line) for line in proc.stdout], daemon=True).start()
    token, seen, deadline = None, [], time.monotonic() + 90
    while token is None and time.monotonic() < deadline and proc.poll() is None:
        try:
            seen.append(lines.get(timeout=0.5))
        except queue.Empty:
            continue
        match = TOKEN_LINE.search(seen[-1])
        token = match.group(1) if match else None
    try:
        assert token, "hotline up printed no admin token:\n" + "".join(seen)
        yield proc, f"http://127.0.0.1:{port}", token, data_dir, seen
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_hotline_up_serves_the_journal_runs_the_worker_and_stops_every_child(hotline_up):
    proc, base, token, data_dir, _output = hotline_up
    with urllib.request.urlopen(base + "/api/v1/health", timeout=5) as response:
        assert json.loads(response.read()) == {"status": "ok"}

    status, created = _call("POST", base + "/api/v1/requests", token, {
        "description": "Течёт батарея в комнате", "work_type": "heating", "urgency": "emergency",
        "building_code": "SP-01", "apartment": 45, "caller_phone": "+7 903 555-10-01", "channel": "phone"})
    assert status == 201
    status, page = _call("GET", base + "/api/v1/requests", token)
    assert status == 200
    assert [item["number"] for item in page["items"]] == [created["number"]]

    db = sqlite3.connect(data_dir / "hotline.db")
    deadline, handled = time.monotonic() + 15, None
    while time.monotonic() < deadline:
        handled = db.execute("SELECT o.handled_at FROM outbox o JOIN requests r ON r.id = o.request_id "
                             "WHERE o.name = 'request.registered' AND r.number = ?", (created["number"],)).fetchone()
        if handled and handled[0]:
            break
        time.sleep(0.2)
    db.close()
    assert handled and handled[0], "the rq worker child did not handle the request.registered event"

    children = _children(proc.pid)
    assert any("redis-server" in cmd for cmd in children.values()), children
    assert not any(":6379" in cmd for cmd in children.values()), "up must not use the system Redis port"
    assert sum("journal_api.cli" in cmd for cmd in children.values()) >= 2, children  # web and worker

    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=30) == 0
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and any(_alive(pid) for pid in children):
        time.sleep(0.1)
    leftovers = {pid: cmd for pid, cmd in children.items() if _alive(pid)}
    assert not leftovers, f"children still running after SIGTERM: {leftovers}"
