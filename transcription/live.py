"""The live transcriber: consumes the SIP workers' announcements (contract C), tails each growing WAV, and has the
transcript ready when the segment ends (``<path>.done``).

One thread per live stream, at most ``capacity`` at once (default: the number of cores). An announcement beyond
that is not dropped: its transcript is opened "pending" and the rq path transcribes the recording once the worker
stores it (``recording.stored``)."""
from __future__ import annotations

import json
import logging
import os
import threading
import time
from pathlib import Path

from .audio import STATUS_PREFIX, AudioError
from .engine import get_engine
from .pipeline import finish
from .settings import TranscriptionSettings

log = logging.getLogger(__name__)
HEADER = 44  # contract C: PCM from byte 44 on; the header's sizes may be 0 until the file is closed


def tail(path: Path, session, *, poll_s: float, stall_s: float, stop: threading.Event | None = None) -> dict:
    """Feed the file's PCM into the session as it grows, until ``<path>.done`` appears and everything before it
    is read. Returns the .done document. Raises AudioError when the file never grows or vanishes."""
    done_path = Path(str(path) + ".done")
    pos, last_growth = HEADER, time.monotonic()
    while not path.exists():
        if time.monotonic() - last_growth > stall_s or (stop is not None and stop.is_set()):
            raise AudioError("запись не поступила", str(path))
        time.sleep(poll_s)
    with path.open("rb") as fh:
        while True:
            finished = done_path.exists()  # look before reading: what is written before .done is all there
            fh.seek(pos)
            chunk = fh.read()
            usable = len(chunk) - len(chunk) % 2
            if usable:
                session.accept(chunk[:usable])
                pos += usable
                last_growth = time.monotonic()
            if finished:
                try:
                    return json.loads(done_path.read_text() or "{}")
                except ValueError:
                    return {}
            if not usable:
                if time.monotonic() - last_growth > stall_s:
                    raise AudioError("запись оборвалась", f"{path}: no audio for {stall_s:.0f} s and no .done")
                if stop is not None and stop.is_set():
                    raise AudioError("распознавание остановлено", str(path))
                time.sleep(poll_s)


class LiveTranscriber:
    def __init__(self, container, settings: TranscriptionSettings, *, engine_name: str | None = None,
                 model: str | None = None):
        self.container = container
        self.settings = settings
        self.engine_name, self.model = engine_name, model
        self.capacity = settings.effective_capacity
        self.active: dict[str, threading.Thread] = {}
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.list_key = f"hotline:live:{settings.live_queue or container.settings.queue_name}"
        self.timings: list[dict] = []  # (for the benchmark) done seen -> transcript stored

    def handle(self, entry: dict) -> str:
        """Start a stream, or leave it to the rq path when at capacity. Returns "live" or "pending"."""
        svc = self.container.transcripts
        kind = entry.get("name") or "description"
        with self.lock:
            self.active = {k: t for k, t in self.active.items() if t.is_alive()}
            full = len(self.active) >= self.capacity
        status = "pending" if full else "live"
        tid = svc.open(org_id=int(entry["org_id"]), kind=kind, status=status, call_id=entry.get("call_id"),
                       source_path=entry.get("path"))
        if full:
            log.info("live capacity %d reached: call %s left to the queue", self.capacity, entry.get("call_id"))
            return "pending"
        thread = threading.Thread(target=self._run, args=(tid, entry), name=f"live-{entry.get('call_uuid')}",
                                  daemon=True)
        with self.lock:
            self.active[str(entry.get("call_uuid")) + kind] = thread
        thread.start()
        return "live"

    def _run(self, tid: int, entry: dict) -> None:
        svc = self.container.transcripts
        path = Path(entry["path"])
        try:
            engine = get_engine(self.settings, self.engine_name, model=self.model)  # built once, on first use
            session = engine.session(int(entry.get("sample_rate") or 8000))
            tail(path, session, poll_s=self.settings.live_poll_s, stall_s=self.settings.live_stall_s,
                 stop=self.stop)
            done_at = _mtime(Path(str(path) + ".done"))
            result = session.final()
            finish(self.container, tid, result.as_dict(), int(entry["org_id"]))
            self.timings.append({"call_uuid": entry.get("call_uuid"), "ready_after_done_s": time.time() - done_at})
        except AudioError as exc:
            log.warning("live %s: %s", path, exc)
            svc.fail(tid, exc.status)
        except Exception:  # never lose the call: the sweeper retries it from the stored recording
            log.exception("live transcription of %s failed", path)
            try:
                svc.open(org_id=int(entry["org_id"]), kind=entry.get("name") or "description", status="pending",
                         call_id=entry.get("call_id"))
            except Exception:
                log.exception("could not mark %s pending", path)

    def run(self, redis) -> None:
        """BLPOP the announcements until stopped."""
        while not self.stop.is_set():
            item = redis.blpop([self.list_key], timeout=1)
            if item is None:
                continue
            try:
                entry = json.loads(item[1])
                self.handle(entry)
            except Exception:
                log.exception("bad live announcement %r", item[1][:200])

    def join(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        for t in list(self.active.values()):
            t.join(max(0.0, deadline - time.monotonic()))


def _mtime(path: Path) -> float:
    try:
        return os.stat(path).st_mtime
    except OSError:
        return time.time()


__all__ = ["LiveTranscriber", "tail", "STATUS_PREFIX"]
