"""faster-whisper: batch recognition with the multilingual base model (int8 on the CPU, language fixed to Russian).

Its streaming session transcribes the growing audio in chunks cut at pauses, so that when the caller hangs up only
the last few seconds remain to be recognised. Whisper invents text on noise and music ("Продолжение следует..."):
the VAD filter drops non-speech, segments that look like no speech are dropped, and known hallucinations too."""
from __future__ import annotations

import re
import threading
from pathlib import Path

import numpy as np

from .audio import SILENCE_DBFS, level_dbfs
from .engine import Transcript, Word, finish, load_checked
from .settings import TranscriptionSettings

RATE = 16000
# Whisper encodes a 30 s window whatever the chunk's length, so each chunk has a fixed cost: chunks are cut long
# (at the first pause after CHUNK_MIN_S, at the latest at CHUNK_MAX_S), and also at any long pause (the caller has
# stopped talking: the recording ends after seconds of silence, so the last words are recognised during that
# silence, and what is left when the segment ends is silence, skipped without running the model).
CHUNK_MIN_S = 10.0
CHUNK_MAX_S = 25.0
PAUSE_S = 0.3
LONG_PAUSE_S = 1.0
MIN_SPEECH_S = 1.0
HALLUCINATIONS = re.compile(r"продолжение следует|субтитр|редактор|корректор|спасибо за просмотр|подписывайтесь",
                            re.IGNORECASE)


class WhisperEngine:
    name = "whisper"

    def __init__(self, path: Path, settings: TranscriptionSettings):
        from faster_whisper import WhisperModel

        self.settings = settings
        self.model = Path(path).name
        self.language = settings.language
        workers = max(1, settings.effective_capacity)
        self.whisper = WhisperModel(str(path), device="cpu", compute_type="int8",
                                    cpu_threads=settings.whisper_threads, num_workers=workers)
        self._lock = threading.Semaphore(workers)

    def recognise(self, samples: np.ndarray, offset_s: float = 0.0) -> list[Word]:
        """Words of 16 kHz float32 audio, their times shifted by ``offset_s``."""
        if len(samples) < RATE // 10:
            return []
        with self._lock:
            segments, _ = self.whisper.transcribe(
                samples, language=self.language, beam_size=self.settings.whisper_beam, word_timestamps=True, vad_filter=True,
                vad_parameters={"min_silence_duration_ms": 500}, condition_on_previous_text=False,
                temperature=0.0)
            segments = list(segments)
        words = []
        for seg in segments:
            if seg.no_speech_prob > 0.6 and seg.avg_logprob < -0.8:
                continue
            if HALLUCINATIONS.search(seg.text):
                continue
            for w in seg.words or ():
                text = w.word.strip()
                if text:
                    words.append(Word(text, float(offset_s + w.start), float(offset_s + w.end), float(w.probability)))
        return words

    def session(self, sample_rate: int = 8000) -> "WhisperSession":
        return WhisperSession(self, sample_rate)

    def transcribe(self, path) -> Transcript:
        audio = load_checked(path, self.settings)
        words = self.recognise(audio.resampled(RATE))
        return finish(Transcript(" ".join(w.w for w in words), words, "whisper", self.model, self.language), audio)


class WhisperSession:
    """Chunked "streaming": audio accumulates; a chunk is recognised once it is long enough and a pause follows."""

    def __init__(self, engine: WhisperEngine, sample_rate: int):
        self.engine = engine
        self.sample_rate = sample_rate
        self.pending: list[np.ndarray] = []
        self.pending_n = 0
        self.offset_s = 0.0  # where the pending audio starts
        self.words: list[Word] = []
        self.total = 0

    def accept(self, pcm: bytes) -> None:
        x = np.frombuffer(pcm[: len(pcm) - len(pcm) % 2], "<i2").astype(np.float32) / 32768.0
        self.pending.append(x)
        self.pending_n += len(x)
        self.total += len(x)
        if self.pending_n >= MIN_SPEECH_S * self.sample_rate + LONG_PAUSE_S * self.sample_rate:
            self._maybe_cut()

    def _maybe_cut(self) -> None:
        buf = np.concatenate(self.pending)
        rate = self.sample_rate
        cut = None
        if len(buf) >= CHUNK_MIN_S * rate:
            cut = _pause_after(buf, rate, int(CHUNK_MIN_S * rate))
        if cut is None:
            cut = _pause_after(buf, rate, int(MIN_SPEECH_S * rate), pause_s=LONG_PAUSE_S, tail_only=True)
        if cut is None and len(buf) < CHUNK_MAX_S * rate:
            self.pending, self.pending_n = [buf], len(buf)
            return
        cut = cut or len(buf)
        self._recognise(buf[:cut])
        rest = buf[cut:]
        self.pending, self.pending_n = [rest], len(rest)

    def _recognise(self, chunk: np.ndarray) -> None:
        import soxr

        if level_dbfs(chunk) < SILENCE_DBFS:  # the pause that ended the recording: nothing to hear
            self.offset_s += len(chunk) / float(self.sample_rate)
            return
        audio = chunk if self.sample_rate == RATE else soxr.resample(chunk, self.sample_rate, RATE)
        self.words.extend(self.engine.recognise(audio.astype(np.float32), self.offset_s))
        self.offset_s += len(chunk) / float(self.sample_rate)

    def partial(self) -> str:
        return " ".join(w.w for w in self.words)

    def final(self) -> Transcript:
        if self.pending_n:
            self._recognise(np.concatenate(self.pending))
            self.pending, self.pending_n = [], 0
        return finish(Transcript(" ".join(w.w for w in self.words), list(self.words), "whisper", self.engine.model,
                                 self.engine.language, self.total / float(self.sample_rate)))


def _pause_after(buf: np.ndarray, rate: int, start: int, pause_s: float = PAUSE_S,
                 tail_only: bool = False) -> int | None:
    """The middle of the first quiet stretch (``pause_s`` of 30 ms frames well below the loudness, or below
    the silence level) after ``start``; with ``tail_only``, only a pause that ends the buffer counts, and it is
    cut where the pause begins (the rest, silence so far, stays pending)."""
    frame = int(rate * 0.03)
    n = len(buf) // frame
    if n < 2:
        return None
    rms = np.sqrt(np.mean(buf[: n * frame].reshape(n, frame) ** 2, axis=1) + 1e-12)
    loud = np.percentile(rms, 90)
    if 20 * np.log10(loud + 1e-12) < SILENCE_DBFS:
        return None  # no speech at all yet
    quiet = rms < max(loud * 0.1, 10 ** (SILENCE_DBFS / 20))
    need = max(1, int(pause_s / 0.03))
    if tail_only:
        if n - start // frame < need or not quiet[n - need:].all():
            return None
        i = n - need
        while i > start // frame and quiet[i - 1]:
            i -= 1
        return i * frame + frame // 2 if i > start // frame else None
    run = 0
    for i in range(start // frame, n):
        run = run + 1 if quiet[i] else 0
        if run >= need:
            return (i - need // 2) * frame
    return None
