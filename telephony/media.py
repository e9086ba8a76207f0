"""Audio helpers for the worker's loop: players, recorders that close cleanly, and a recorded segment that watches
its own growing WAV file for silence (a few hundred bytes of numpy per tick: no heavy work on the loop)."""
from __future__ import annotations

import os
import time
import wave
from functools import lru_cache
from pathlib import Path

import numpy as np
import pjsua2 as pj

from recordings import spool

from .endpoint import call_audio, make_player, make_recorder

__all__ = ["call_audio", "player", "wav_length", "Recorder", "Segment", "RxWatch", "rx_packets"]

VOICE_RMS = 400.0  # 16-bit RMS above which a 100 ms block counts as speech (phone line noise is far below)
BLOCK = 1600  # bytes: 100 ms of 8 kHz 16-bit mono
INITIAL_GRACE_S = 5.0  # a caller who has not started speaking yet gets at least this long


@lru_cache(maxsize=4096)
def _length(path: str, mtime: float) -> float:
    with wave.open(path) as wav:
        return wav.getnframes() / float(wav.getframerate())


def wav_length(path: str) -> float:
    return _length(path, os.path.getmtime(path))


def player(paths: list[str]):
    return make_player(paths)


class Recorder:
    """A pjsua2 recorder. ``close(bury)`` hands it to the worker's graveyard: pjsua destroys it (and writes the
    final WAV header) a moment later, once the conference bridge's clock can no longer be using it."""

    def __init__(self, path: str | os.PathLike):
        self.path = str(path)
        Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        self.port = make_recorder(self.path)

    def close(self, bury, then=None) -> None:
        if self.port is not None:
            port, self.port = self.port, None

            def done():
                spool.fix_wav_header(self.path)
                if then is not None:
                    then()
            bury([port], then=done)


class Segment:
    """A Record action in progress: the recorder on the live WAV, and the end conditions."""

    def __init__(self, path: Path, action):
        self.action = action
        self.recorder = Recorder(path)
        self.started = time.monotonic()
        self.offset = spool.HEADER
        self.audio_s = 0.0  # audio seen so far
        self.last_voice_s = None
        self.next_check = 0.0

    def check(self, now: float) -> str | None:
        """``max``, ``silence`` or None; reads only the bytes written since the last check (every 200 ms)."""
        if now - self.started >= self.action.max_s:
            return "max"
        if now < self.next_check:
            return None
        self.next_check = now + 0.2
        try:
            with open(self.recorder.path, "rb") as fh:
                fh.seek(self.offset)
                data = fh.read()
        except OSError:
            return None
        usable = len(data) - len(data) % BLOCK
        if usable:
            samples = np.frombuffer(data[:usable], dtype="<i2").astype(np.float32).reshape(-1, BLOCK // 2)
            rms = np.sqrt((samples * samples).mean(axis=1))
            loud = np.nonzero(rms > VOICE_RMS)[0]
            if len(loud):
                self.last_voice_s = self.audio_s + (loud[-1] + 1) * 0.1
            self.audio_s += len(rms) * 0.1
            self.offset += usable
        since = self.last_voice_s if self.last_voice_s is not None else 0.0
        grace = self.action.silence_s if self.last_voice_s is not None else max(self.action.silence_s,
                                                                                INITIAL_GRACE_S)
        if self.audio_s - since >= grace:
            return "silence"
        return None

    def close(self, reason: str, bury) -> float:
        """Stop the segment; its ``.done`` is written once the recorder is destroyed and the file complete."""
        duration = spool.wav_seconds(self.recorder.path)
        path = self.recorder.path

        def done():
            final = spool.wav_seconds(path)
            spool.write_json(Path(path + ".done"), {"duration_s": round(final, 2), "reason": reason})
        self.recorder.close(bury, then=done)
        return duration



def rx_packets(call) -> int | None:
    """RTP packets received so far on the call's audio stream (the stream's RTCP receive counter), or None while no
    stream is receiving (media not up yet, on hold, ended). Main thread only (pjsua's mainThreadOnly)."""
    try:
        info = call.getInfo()  # held: iterating a temporary's vector reads freed memory (SWIG)
        for media in info.media:
            if (media.type == pj.PJMEDIA_TYPE_AUDIO and media.status == pj.PJSUA_CALL_MEDIA_ACTIVE
                    and media.dir & pj.PJMEDIA_DIR_DECODING):
                return int(call.getStreamStat(media.index).rtcp.rxStat.pkt)
    except pj.Error:
        return None
    return None


class RxWatch:
    """The media-inactivity watchdog: every ``every_s`` it reads each watched call's RTP receive counter; a call whose
    counter has not moved for ``timeout_s`` (counted from its last packet) is reported lost. A counter still at 0
    never fires (no RTP ever came: nothing to have lost), nor does a call on hold (its clock starts again after)."""

    def __init__(self, timeout_s: float, every_s: float = 1.0):
        self.timeout_s, self.every_s = float(timeout_s or 0), every_s
        self.seen: dict[str, tuple[int, float]] = {}  # key -> (counter, when it last moved)
        self.next_at = 0.0

    def due(self, now: float) -> bool:
        return self.timeout_s > 0 and now >= self.next_at

    def check(self, calls: dict, now: float, count=rx_packets) -> list[str]:
        """``calls``: key -> pjsua2 Call of the calls to watch now; returns the keys of the lost ones."""
        self.next_at = now + self.every_s
        lost = []
        for key, call in calls.items():
            packets = count(call)
            last = self.seen.get(key)
            if packets is None:
                self.seen.pop(key, None)
            elif last is None or packets != last[0]:
                self.seen[key] = (packets, now)
            elif packets and now - last[1] >= self.timeout_s:
                lost.append(key)
        for key in [k for k in self.seen if k not in calls or k in lost]:
            del self.seen[key]
        return lost
