"""The live transcriber: consumes the SIP workers' announcements (contract C), tails each growing WAV, and has the
transcript ready when the segment ends (``<path>.done``).

One thread per live stream, at most ``capacity`` at once (default: the number of cores). An announcement beyond
that is not dropped: its transcript is opened "pending" and the rq path transcribes the recording once the worker
stores it (``recording.stored``). While a stream runs, the text so far is saved on the transcript every
``PARTIAL_EVERY_S`` when it changed (the console's board shows it). A stream that cannot finish (the transcriber
stops, the file stalls or never comes, the engine crashes) is not lost either: its transcript goes back to
"pending" and is transcribed from the stored recording."""
from __future__ import annotations

import json
import logging
import os
import threading
import time
from pathlib import Path

from .audio import STATUS_PREFIX, AudioError
from .engine import get_engine
from .pipeline import fall_back_to_queue, finish
from .settings import TranscriptionSettings

log = logging.getLogger(__name__)
HEADER = 44  # contract C: PCM from byte 44 on; the header's sizes may be 0 until the file is closed
PARTIAL_EVERY_S = 2.0


def tail(path: Path, session, *, poll_s: float, stall_s: float, stop: threading.Event | None = None,
         on_audio=None) -> dict:
    """Feed the file's PCM into the session as it grows, until ``<path>.done`` appears and everything before it
    is read. Returns the .done document. Raises AudioError when the file never grows or vanishes. ``on_audio()``
    is called after each read that fed audio (the partial text's saver)."""
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
                if on_audio is not None:
                    on_audio()
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
            saver = PartialSaver(svc, tid, session)
            try:
                tail(path, session, poll_s=self.settings.live_poll_s, stall_s=self.settings.live_stall_s,
                     stop=self.stop, on_audio=saver)
            except AudioError as exc:  # the stream could not finish: the stored recording will be transcribed
                log.warning("live %s: %s; left to the queue", path, exc)
                fall_back_to_queue(self.container, tid, exc.reason)
                return
            done_at = _mtime(Path(str(path) + ".done"))
            result = session.final()
            finish(self.container, tid, result.as_dict(), int(entry["org_id"]))
            self.timings.append({"call_uuid": entry.get("call_uuid"), "ready_after_done_s": time.time() - done_at})
        except AudioError as exc:  # the audio itself: silence, no speech, a missing model
            log.warning("live %s: %s", path, exc)
            svc.fail(tid, exc.status)
        except Exception:  # never lose the call: the stored recording is transcribed from the queue
            log.exception("live transcription of %s failed", path)
            fall_back_to_queue(self.container, tid, "внутренняя ошибка распознавания")

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


class PartialSaver:
    """Saves the session's text so far on the transcript, at most every PARTIAL_EVERY_S and only when it changed."""

    def __init__(self, transcripts, tid: int, session, every_s: float = PARTIAL_EVERY_S):
        self.transcripts, self.tid, self.session, self.every_s = transcripts, tid, session, every_s
        self.saved, self.at = "", time.monotonic()

    def __call__(self) -> None:
        if time.monotonic() - self.at < self.every_s:
            return
        self.at = time.monotonic()
        text = self.session.partial()
        if text and text != self.saved:
            try:
                self.transcripts.save_partial(self.tid, text)
            except Exception:  # a display aid: the stream goes on, its final text is stored at the end
                log.warning("transcript %s: the text so far could not be saved", self.tid, exc_info=True)
                return
            self.saved = text


def _mtime(path: Path) -> float:
    try:
        return os.stat(path).st_mtime
    except OSError:
        return time.time()


__all__ = ["LiveTranscriber", "tail", "STATUS_PREFIX"]
