"""Vosk: streaming recognition with word timings and confidence. One Model per process; a KaldiRecognizer per
stream, created at the stream's own rate (8 kHz telephone audio is resampled by Vosk to the model's rate)."""
from __future__ import annotations

import json
from pathlib import Path

from .engine import Transcript, Word, finish, load_checked
from .settings import TranscriptionSettings

CHUNK_S = 0.25


class VoskSession:
    def __init__(self, engine: "VoskEngine", sample_rate: int):
        from vosk import KaldiRecognizer

        self.engine = engine
        self.sample_rate = sample_rate
        self.rec = KaldiRecognizer(engine.vosk_model, float(sample_rate))
        self.rec.SetWords(True)
        self.words: list[Word] = []
        self.samples = 0
        self._partial = ""

    def _take(self, raw: str) -> None:
        for item in json.loads(raw).get("result", []):
            self.words.append(Word(item["word"], float(item["start"]), float(item["end"]), float(item["conf"])))

    def accept(self, pcm: bytes) -> None:
        self.samples += len(pcm) // 2
        if self.rec.AcceptWaveform(pcm):
            self._take(self.rec.Result())
            self._partial = ""
        else:
            self._partial = json.loads(self.rec.PartialResult()).get("partial", "")

    def partial(self) -> str:
        return " ".join([w.w for w in self.words] + ([self._partial] if self._partial else []))

    def final(self) -> Transcript:
        self._take(self.rec.FinalResult())
        self._partial = ""
        text = " ".join(w.w for w in self.words)
        return finish(Transcript(text, list(self.words), "vosk", self.engine.model, self.engine.language,
                                 self.samples / float(self.sample_rate)))


class VoskEngine:
    name = "vosk"

    def __init__(self, path: Path, settings: TranscriptionSettings):
        import vosk

        vosk.SetLogLevel(-1)
        self.settings = settings
        self.model = Path(path).name
        self.language = settings.language
        self.vosk_model = vosk.Model(str(path))

    def session(self, sample_rate: int = 8000) -> VoskSession:
        return VoskSession(self, sample_rate)

    def transcribe(self, path) -> Transcript:
        audio = load_checked(path, self.settings)
        rate = audio.sample_rate if audio.sample_rate in (8000, 16000) else 16000  # odd rates: soxr to 16 kHz
        pcm = audio.pcm16(rate)
        session = self.session(rate)
        step = int(rate * CHUNK_S) * 2
        for i in range(0, len(pcm), step):
            session.accept(pcm[i:i + step])
        return finish(session.final(), audio)
