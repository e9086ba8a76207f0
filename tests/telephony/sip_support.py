"""Helpers for real SIP calls on loopback: a `hotline sip` supervisor on free ports against this session's
PostgreSQL and Redis, the Russian speech a caller says, and the callers (the pjsua2 test caller, baresip, SIPp)."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import sqlalchemy as sa

from journal_api.storage import tables_calls as t
from telephony.netutil import free_port, sip_options

HERE = Path(__file__).parent
ROOT = HERE.parents[1]
SOUNDS = Path("/usr/share/asterisk/sounds/ru_RU_f_IvrvoiceRU")
PY = sys.executable
# Quicker IVR for tests: the default flow with shorter silences and menu timeouts.
FAST_IVR = {"HOTLINE_IVR_RECORD_SILENCE_S": "2", "HOTLINE_IVR_MENU_TIMEOUT_S": "4",
            "HOTLINE_IVR_TRANSFER_TIMEOUT_S": "3", "HOTLINE_SIP_DRAIN_SECONDS": "5"}


def sip_env(settings, **extra) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HOTLINE_")}
    env.update(HOTLINE_DATABASE_URL=settings.database_url, HOTLINE_REDIS_URL=settings.redis_url,
               HOTLINE_QUEUE_NAME=settings.queue_name, HOTLINE_DATA_DIR=settings.data_dir,
               HOTLINE_ENV="test", **FAST_IVR)
    env.update({k: str(v) for k, v in extra.items()})
    return env


class Hotline:
    """A running `hotline sip`; ``uri`` is its public address."""

    def __init__(self, settings, workers: int = 1, **extra):
        self.settings, self.workers = settings, workers
        self.port = free_port()
        self.uri = f"sip:+74950000000@127.0.0.1:{self.port}"
        self.data_dir = Path(settings.data_dir)
        self.log = open(self.data_dir / "sip.log", "w+")
        self.env = sip_env(settings, HOTLINE_SIP_PORT=self.port, HOTLINE_SIP_WORKERS=workers, **extra)
        self.proc = subprocess.Popen([PY, "-m", "journal_api.cli", "sip"], env=self.env, cwd=ROOT,
                                     stdout=subprocess.PIPE, stderr=self.log, text=True)
        deadline = time.monotonic() + 30
        line = ""
        while time.monotonic() < deadline:
            line = self.proc.stdout.readline()
            if not line or "SIP ready" in line or "not every worker" in line:
                break
        if "SIP ready" not in line:
            self.stop()
            raise AssertionError(f"hotline sip did not start: {line!r}\n{self.logs()}")

    def logs(self) -> str:
        if not self.log.closed:
            self.log.flush()
        return (self.data_dir / "sip.log").read_text()[-6000:]

    def worker_pids(self) -> list[int]:
        pids = []
        for ready in sorted((self.data_dir / "spool").glob("worker-*.ready")):
            try:
                pids.append(int(ready.read_text().split()[0]))
            except (OSError, ValueError, IndexError):
                pass
        return pids

    def alive(self) -> bool:
        return self.proc.poll() is None and sip_options("127.0.0.1", self.port) is not None

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if not self.log.closed:
            self.log.close()
        return self.proc.returncode


def caller(uri: str, *args, timeout: float = 60) -> dict:
    """Run `hotline call` and return its JSON line."""
    proc = subprocess.run([PY, "-m", "journal_api.cli", "call", uri, *map(str, args)], capture_output=True,
                          text=True, timeout=timeout + 15, cwd=ROOT,
                          env={k: v for k, v in os.environ.items() if not k.startswith("HOTLINE_")})
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    assert lines, f"no result from the caller: {proc.stdout[-2000:]}\n{proc.stderr[-3000:]}"
    return json.loads(lines[-1])


def wait_for(predicate, timeout: float = 15.0, every: float = 0.2, message: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(every)
    raise AssertionError(f"timed out waiting for {message}")


def call_rows(engine) -> list:
    with engine.connect() as conn:
        return conn.execute(sa.select(t.calls).order_by(t.calls.c.id)).mappings().all()


def recording_rows(engine, call_id: int) -> list:
    with engine.connect() as conn:
        return conn.execute(sa.select(t.recordings).where(t.recordings.c.call_id == call_id)
                            .order_by(t.recordings.c.id)).mappings().all()


def stored_call(container, count: int = 1, timeout: float = 20.0, kinds=("call",)):
    """Wait until ``count`` calls have ended and their recordings of ``kinds`` are stored."""
    def ready():
        rows = [r for r in call_rows(container.engine) if r["ended_at"] is not None]
        if len(rows) < count:
            return None
        for row in rows:
            have = {r["kind"] for r in recording_rows(container.engine, row["id"])}
            if not set(kinds) <= have:
                return None
        return rows
    return wait_for(ready, timeout, message=f"{count} stored call(s) with {kinds}")


def blob_path(container, recording) -> Path:
    return container.blobs._path(recording["blob_key"])


def baresip_sip_port(host: str = "127.0.0.1") -> int:
    """A port free for baresip's SIP listener: UDP and TCP on it, and TCP on the next one, where baresip puts its
    TLS transport (a busy next port made baresip fail to start: "SIP/TLS transport failed: Address already in use")."""
    import socket

    from telephony.netutil import free_ports

    return free_ports([(socket.SOCK_DGRAM, 0), (socket.SOCK_STREAM, 0), (socket.SOCK_STREAM, 1)], host)
