"""`hotline transcriber` itself, as a process: it takes a live announcement and tails the growing WAV into a finished
transcript, it works the rq queues (a whole call from the low-priority one), and when it is stopped (SIGTERM) a live
stream in progress goes back to the queue instead of being lost. Real PostgreSQL, Redis, whisper."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import uuid
from pathlib import Path

import pytest
from redis import Redis

from transcription.pipeline import low_queue_name, on_recording_stored, queue_name

from asr_support import read_pcm, russian_wav, silence, write_wav
from journal_support import T0, answered_call, stored_event, wait_transcript
from test_live import grow

TEXT = "Здравствуйте. В подъезде пахнет газом. Улица Ленина, дом десять, квартира пять."


def _clear(settings, container) -> None:
    """This test's rq queues and live list, which other tests of the session (calls, SIP) may have left filled: the
    process must see only what this test announces."""
    redis = Redis.from_url(settings.redis_url)
    for name in (queue_name(container), low_queue_name(container)):
        for key in redis.scan_iter(f"rq:*{name}*"):
            redis.delete(key)
    redis.delete(f"hotline:live:{settings.queue_name}")
    redis.close()


@pytest.fixture
def transcriber(settings, container, tmp_path):
    _clear(settings, container)
    env = {k: v for k, v in os.environ.items() if not k.startswith("HOTLINE_")}
    env.update(HOTLINE_DATABASE_URL=settings.database_url, HOTLINE_REDIS_URL=settings.redis_url,
               HOTLINE_DATA_DIR=settings.data_dir, HOTLINE_QUEUE_NAME=settings.queue_name,
               HOTLINE_TRANSCRIPTION_LIVE_STALL_S="60")
    log = open(tmp_path / "transcriber.log", "w")
    proc = subprocess.Popen([str(Path(sys.executable).parent / "hotline"), "transcriber", "--engine", "whisper",
                             "--capacity", "1"], env=env, stdout=log, stderr=subprocess.STDOUT)
    yield proc
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    log.close()
    _clear(settings, container)


def test_the_transcriber_process_transcribes_a_live_stream_and_a_queued_call_and_hands_back_on_stop(
        container, org, building, tmp_path, transcriber, whisper):
    pcm, rate = read_pcm(russian_wav(tmp_path / "s.wav", TEXT))
    redis = Redis.from_url(container.settings.redis_url)
    live_key = f"hotline:live:{container.settings.queue_name}"

    # a live stream, announced before its audio, as the SIP worker does
    u = uuid.uuid4().hex[:12]
    call_id = answered_call(container, org.id, u)
    path = tmp_path / f"{u}-description.wav"
    redis.rpush(live_key, json.dumps({"call_uuid": u, "call_id": call_id, "org_id": org.id, "name": "description",
                                      "path": str(path), "sample_rate": rate, "started_at": T0.isoformat()}))
    grow(path, pcm + silence(1.0), speed=4.0)
    row = wait_transcript(container, call_id, "description", ("done", "failed"), timeout=180, step=0.2)
    assert row.status == "done" and "газом" in row.text.lower(), (tmp_path / "transcriber.log").read_text()[-2000:]

    # a whole call stored after the fact: the process works the low-priority queue too
    whole = container.calls.attach_recording(call_id=call_id, kind="call",
                                             path=write_wav(tmp_path / "call.wav", pcm, rate))
    on_recording_stored(container, stored_event(container, whole))
    row = wait_transcript(container, call_id, "call", ("done", "failed"), timeout=180, step=0.2)
    assert row.status == "done" and row.recording_id == whole and "газом" in row.text.lower()

    # stopped while a stream is in progress: the stream is handed back to the queue, not failed
    u2 = uuid.uuid4().hex[:12]
    call2 = answered_call(container, org.id, u2)
    path2 = tmp_path / f"{u2}-description.wav"
    writer = threading.Thread(target=grow, args=(path2, pcm * 3), kwargs={"speed": 1.0, "done": False},
                              daemon=True)
    redis.rpush(live_key, json.dumps({"call_uuid": u2, "call_id": call2, "org_id": org.id, "name": "description",
                                      "path": str(path2), "sample_rate": rate, "started_at": T0.isoformat()}))
    writer.start()
    wait_transcript(container, call2, "description", ("live",), timeout=60, step=0.2)
    transcriber.send_signal(signal.SIGTERM)
    assert transcriber.wait(60) == 0
    row = wait_transcript(container, call2, "description", ("pending",), timeout=5, step=0.2)
    assert row.error == "распознаётся заново по сохранённой записи (распознавание остановлено)"
    writer.join()
    redis.close()
