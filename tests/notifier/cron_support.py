"""`hotline worker` and `hotline cron` as real processes for the scheduler's tests (and bench/sms.py)."""
from __future__ import annotations

import os
import signal
import subprocess
import sys


def hotline_env(settings, redis_url: str | None = None, **sms) -> dict:
    """The environment of a `hotline` child on the test's database, Redis and queue; ``sms`` become
    HOTLINE_SMS_<KEY> variables (e.g. provider="log")."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("HOTLINE_")}
    env.update(HOTLINE_DATABASE_URL=settings.database_url, HOTLINE_REDIS_URL=redis_url or settings.redis_url,
               HOTLINE_QUEUE_NAME=settings.queue_name, HOTLINE_DATA_DIR=settings.data_dir, HOTLINE_ENV="test")
    env.update({f"HOTLINE_SMS_{key.upper()}": str(value) for key, value in sms.items()})
    return env


def start(command: str, env: dict, log_path) -> subprocess.Popen:
    """`hotline <command>` (worker | cron) with its output in ``log_path``."""
    hotline = os.path.join(os.path.dirname(sys.executable), "hotline")
    with open(log_path, "ab") as log:
        return subprocess.Popen([hotline, command], env=env, stdout=log, stderr=subprocess.STDOUT)


def stop(procs, *, kill: bool = False, timeout: float = 20.0) -> None:
    """TERM (or KILL) each process, then wait for all of them; a process that does not stop in time is killed."""
    for proc in procs:
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL if kill else signal.SIGTERM)
    for proc in procs:
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
