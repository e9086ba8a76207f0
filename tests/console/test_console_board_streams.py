"""The live board's Server-Sent Events do not starve the web app: under the production worker model (gunicorn
gthread, journal_api.serve.run_web) with more boards open than the process has threads, a page still answers at
once; the boards beyond the per-process cap get a snapshot and poll."""
from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from datetime import timedelta

import pytest
import requests
from console_support import PASSWORD, SYSTEM

from journal_api.console.live import POLL_BUSY_MS, max_streams
from journal_api.serve import WEB_THREADS


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def gunicorn(settings, tmp_path):
    """One gunicorn process of WEB_THREADS threads, the production worker class, on a free port."""
    port = _free_port()
    env = dict(os.environ, HOTLINE_DATABASE_URL=settings.database_url, HOTLINE_REDIS_URL=settings.redis_url,
               HOTLINE_QUEUE_NAME=settings.queue_name, HOTLINE_DATA_DIR=str(tmp_path), HOTLINE_ENV="test",
               HOTLINE_WEB_HOST="127.0.0.1", HOTLINE_WEB_PORT=str(port))
    code = ("from journal_api.config import load_settings; from journal_api.serve import run_web; "
            "run_web(load_settings(), workers=1)")
    proc = subprocess.Popen([sys.executable, "-c", code], env=env, start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if requests.get(base + "/api/v1/health", timeout=2).status_code == 200:
                    break
            except requests.RequestException:
                pass
            assert proc.poll() is None and time.monotonic() < deadline, "gunicorn did not start"
            time.sleep(0.3)
        yield base
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(5)


def _signed_in(base: str) -> requests.Session:
    s = requests.Session()
    token = re.search(r'name="csrf_token" value="([^"]+)"', s.get(base + "/login", timeout=10).text).group(1)
    answer = s.post(base + "/login", data={"org": "demo", "login": "petrova", "password": PASSWORD,
                                           "csrf_token": token}, allow_redirects=False, timeout=10)
    assert answer.status_code == 302
    return s


def test_with_more_boards_open_than_threads_pages_still_answer(gunicorn, container, org, dispatcher, technician,
                                                               make_request):
    r = make_request(description="Течёт труба")
    container.requests.assign(org.id, r.number, SYSTEM, "system", technician.id)
    tech_link = container.links.issue(org.id, r.id, audience="technician", subject_id=technician.id,
                                      ttl=timedelta(days=1))
    boards = WEB_THREADS + 2
    results: list[dict] = []

    def board():
        s = _signed_in(gunicorn)
        started, text = time.monotonic(), ""
        with s.get(gunicorn + "/board/stream", stream=True, timeout=60) as response:
            for chunk in response.iter_content(chunk_size=None, decode_unicode=True):
                text += chunk
        results.append({"seconds": time.monotonic() - started, "text": text})

    threads = [threading.Thread(target=board, daemon=True) for _ in range(boards)]
    for t in threads:
        t.start()
    time.sleep(4.0)  # every board has connected; the streaming ones hold their threads

    began = time.monotonic()
    assert requests.get(gunicorn + tech_link, timeout=8).status_code == 200
    assert _signed_in(gunicorn).get(gunicorn + "/journal", timeout=8).status_code == 200
    assert time.monotonic() - began < 5.0

    polled = [x for x in results if x["seconds"] < 3.0]  # answered with one snapshot, then closed
    assert len(polled) == boards - max_streams()
    assert all(x["text"].startswith(f"retry: {POLL_BUSY_MS}") and "event: board" in x["text"] for x in polled)
    for t in threads:
        t.join(60)
    assert len(results) == boards and sum(x["seconds"] > 20 for x in results) == max_streams()
