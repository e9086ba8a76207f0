"""`hotline up`: the embedded all-in-one on one machine.

It starts Debian's redis-server on a unix socket inside the data dir, migrates the database (SQLite in the data dir
by default), seeds the demo organisation into an empty database, then runs one rq worker and the web app as child
processes. SIGINT and SIGTERM are forwarded; the children are stopped in order (web and worker, then Redis). Each
child also gets SIGTERM from the kernel if this process dies without cleaning up (Linux's parent-death signal).
"""
from __future__ import annotations

import ctypes
import fcntl
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Callable

import sqlalchemy as sa

from .config import Settings
from .domain.errors import DomainError, NotFound

MAX_UNIX_SOCKET_PATH = 100  # sun_path holds 108 bytes on Linux; keep a margin
STOP_TIMEOUT = 15.0


class UpError(DomainError):
    """Something on this machine prevents `hotline up` from starting; the message says what to change."""

    code = "cannot_start"


@dataclass
class Child:
    name: str
    proc: subprocess.Popen


def _die_with_parent() -> None:  # runs in the child between fork and exec
    if sys.platform.startswith("linux"):
        ctypes.CDLL(None, use_errno=True).prctl(1, int(signal.SIGTERM))  # PR_SET_PDEATHSIG


class Children:
    """The started processes, stopped in reverse order of start."""

    def __init__(self):
        self.started: list[Child] = []

    def spawn(self, name: str, argv: list[str], env: dict | None = None) -> Child:
        proc = subprocess.Popen(argv, env=env, stdin=subprocess.DEVNULL, process_group=0,
                                preexec_fn=_die_with_parent)
        child = Child(name, proc)
        self.started.append(child)
        return child

    def first_exited(self) -> Child | None:
        return next((c for c in self.started if c.proc.poll() is not None), None)

    def stop(self, names: tuple[str, ...] | None = None) -> None:
        batch = [c for c in self.started if names is None or c.name in names]
        for child in batch:
            if child.proc.poll() is None:
                child.proc.send_signal(signal.SIGTERM)
        for child in batch:
            try:
                child.proc.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                child.proc.kill()
                child.proc.wait()
            self.started.remove(child)


def start_redis(children: Children, data_dir: Path) -> str:
    """Start redis-server for this data dir only; return its URL once it answers."""
    binary = shutil.which("redis-server")
    if binary is None:
        raise UpError("redis-server is not installed. On Debian: apt-get install redis-server (make run does it).")
    sock = data_dir / "redis.sock"
    argv = [binary, "--dir", str(data_dir), "--dbfilename", "redis.rdb", "--save", "60 1", "--appendonly", "no",
            "--logfile", str(data_dir / "redis.log"), "--daemonize", "no"]
    if len(str(sock)) <= MAX_UNIX_SOCKET_PATH:
        argv += ["--port", "0", "--unixsocket", str(sock), "--unixsocketperm", "700"]
        url = f"unix://{sock}?db=0"
    else:  # the path is too long for a unix socket: a free port on loopback instead
        port = _free_port("127.0.0.1")
        argv += ["--bind", "127.0.0.1", "--port", str(port)]
        url = f"redis://127.0.0.1:{port}/0"
    child = children.spawn("redis", argv)
    _wait_for(lambda: _redis_answers(url), child, 10.0, f"redis-server did not start; see {data_dir}/redis.log")
    return url


def _redis_answers(url: str) -> bool:
    from redis import Redis
    from redis.exceptions import ConnectionError as RedisDown

    client = Redis.from_url(url, socket_connect_timeout=0.5)
    try:
        return bool(client.ping())
    except RedisDown:
        return False
    finally:
        client.close()


def _http_answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1) as response:
            return response.status == 200
    except OSError:
        return False


def _wait_for(ready: Callable[[], bool], child: Child, timeout: float, message: str,
              stop: threading.Event | None = None) -> None:
    deadline = time.monotonic() + timeout
    while not ready():
        if child.proc.poll() is not None or time.monotonic() > deadline:
            raise UpError(message)
        if stop is not None and stop.is_set():
            return
        time.sleep(0.1)


def _free_port(host: str) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def check_port_free(host: str, port: int) -> None:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError as exc:
            raise UpError(f"Cannot listen on {host}:{port} ({exc.strerror}); choose another port with "
                          "--web-port.", field="web_port") from None


def lock_data_dir(data_dir: Path):
    """Hold a lock on the data dir for the life of this process: two `up`s must not share one database."""
    handle = open(data_dir / "up.lock", "w")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        raise UpError(f"Another 'hotline up' is running with the data dir {data_dir}; stop it or use "
                      "--data-dir.", field="data_dir") from None
    return handle


def child_env(settings: Settings) -> dict[str, str]:
    """The children read exactly these settings (environment variables win over a config file)."""
    env = dict(os.environ)
    env.update({f"HOTLINE_{k.upper()}": str(v) for k, v in asdict(settings).items()})
    return env


def prepare_database(settings: Settings, echo: Callable[[str], None]) -> str | None:
    """Migrate, seed the demo organisation into an empty database, and return a fresh admin token for it."""
    from .bootstrap import bootstrap
    from .seed import seed_demo
    from .storage import tables as t
    from .storage.migrate import upgrade

    upgrade(settings.effective_database_url)
    container = bootstrap(settings)
    try:
        with container.engine.connect() as conn:
            empty = conn.scalar(sa.select(sa.func.count()).select_from(t.organisations)) == 0
        if empty:
            report = seed_demo(container)
            echo(f"Seeded the demo organisation '{report.org_code}'.")
        try:
            return container.tokens.create("demo", "admin", label="hotline up")
        except NotFound:
            return None
    finally:
        container.dispose()


def run_up(settings: Settings, echo: Callable[[str], None] = print) -> int:
    """Run until SIGINT/SIGTERM (exit code 0) or until a child dies (exit code 1)."""
    data_dir = Path(settings.data_dir).resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    lock = lock_data_dir(data_dir)
    check_port_free(settings.web_host, settings.web_port)
    stop = threading.Event()
    previous = {sig: signal.signal(sig, lambda *_: stop.set()) for sig in (signal.SIGINT, signal.SIGTERM)}
    children = Children()
    plugged: list = []
    try:
        settings = replace(settings, data_dir=str(data_dir), redis_url=start_redis(children, data_dir))
        token = prepare_database(settings, echo)
        env = child_env(settings)
        cli = [sys.executable, "-m", "journal_api.cli"]
        children.spawn("worker", cli + ["worker"], env)
        children.spawn("cron", cli + ["cron"], env)  # the one scheduler: enqueues reminders and periodic jobs
        from .plugins import call_all

        plugged = [child for found in call_all("up", settings) for child in found]
        for name, argv in plugged:  # e.g. ("sip", ["sip"]): the telephony supervisor
            children.spawn(name, cli + list(argv), env)
        web = children.spawn("web", cli + ["web"], env)
        base = f"http://{settings.web_host}:{settings.web_port}"
        _wait_for(lambda: _http_answers(base + "/api/v1/health"), web, 60.0,
                  "The web app did not start; see its messages above.", stop)
        if not stop.is_set():
            _banner(echo, settings, base, token, [line for lines in call_all("banner", settings) for line in lines])
        return _watch(children, stop, echo)
    finally:
        children.stop(("web", "worker", "cron") + tuple(name for name, _ in plugged))
        children.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        lock.close()


def _banner(echo, settings: Settings, base: str, token: str | None, extra: list[str]) -> None:
    echo(f"Hotline is up: {base}/  (API: {base}/api/v1/openapi.json)")
    echo(f"Database: {sa.engine.make_url(settings.effective_database_url).render_as_string(hide_password=True)}")
    if token:
        echo(f"Admin API token for the organisation 'demo': {token}")
        from .service.console_auth import DEMO_LOGINS

        logins = ", ".join(f"{login} / {password}" for login, password in DEMO_LOGINS.values())
        echo(f"Console: {base}/ (organisation demo; demo logins, change them: {logins})")
    else:
        echo("No organisation 'demo' here; create a token with 'hotline token create --org CODE --role admin'.")
    for line in extra:  # the plugins' own lines (the SIP address, ...)
        echo(line)
    echo("Press Ctrl+C to stop.")


def _watch(children: Children, stop: threading.Event, echo) -> int:
    while not stop.wait(0.5):
        dead = children.first_exited()
        if dead is not None:
            echo(f"The {dead.name} process exited with code {dead.proc.returncode}; stopping the others.")
            return 1
    echo("Stopping...")
    return 0
