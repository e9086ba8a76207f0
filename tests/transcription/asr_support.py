"""Audio helpers for the transcription tests: real prompts, synthesised Korean, WAV writers."""
from __future__ import annotations

import gzip
import re
import subprocess
import wave
from pathlib import Path

import numpy as np

RU_SOUNDS = Path("/usr/share/asterisk/sounds/ru_RU_f_IvrvoiceRU")
RU_TEXTS = Path("/usr/share/doc/asterisk-core-sounds-ru/core-sounds-ru.txt.gz")


def ru_prompts(min_words: int = 4) -> list[tuple[Path, str]]:
    """(wav, transcript) of the Asterisk RU prompts whose transcript has ``min_words`` words or more."""
    out = []
    with gzip.open(RU_TEXTS, "rt", encoding="utf-8") as fh:
        for line in fh:
            if ":" not in line or line.startswith(";"):
                continue
            name, text = line.split(":", 1)
            text = text.strip()
            name = name.strip()
            wav = RU_SOUNDS / f"{name}.wav"
            if text.startswith(name + ":"):  # a few lines repeat their name
                text = text[len(name) + 1:].strip()
            if not text or text[0] in "([<" or "[" in text or name.startswith("silence/") or not wav.exists():
                continue
            if len(re.findall(r"\w+", text)) >= min_words:
                out.append((wav, text))
    return sorted(out)


def read_pcm(path: Path) -> tuple[bytes, int]:
    with wave.open(str(path), "rb") as w:
        return w.readframes(w.getnframes()), w.getframerate()


def write_wav(path: Path, pcm: bytes, rate: int = 8000, channels: int = 1, width: int = 2) -> Path:
    with wave.open(str(path), "wb") as w:
        w.setnchannels(channels)
        w.setsampwidth(width)
        w.setframerate(rate)
        w.writeframes(pcm)
    return path


def silence(seconds: float, rate: int = 8000) -> bytes:
    return b"\x00\x00" * int(seconds * rate)


def noise(seconds: float, rate: int = 8000, level: float = 0.3, seed: int = 1) -> bytes:
    rng = np.random.default_rng(seed)
    return (rng.standard_normal(int(seconds * rate)) * level * 32767 / 3).clip(-32767, 32767).astype("<i2").tobytes()


def music(seconds: float, rate: int = 8000) -> bytes:
    """A chord changing every half second: tonal, no speech."""
    t = np.arange(int(seconds * rate)) / rate
    notes = [261.6, 329.6, 392.0, 440.0, 349.2, 293.7]
    x = np.zeros_like(t)
    for i in range(int(seconds * 2)):
        sl = slice(int(i * rate / 2), int((i + 1) * rate / 2))
        f = notes[i % len(notes)]
        x[sl] = np.sin(2 * np.pi * f * t[sl]) + 0.5 * np.sin(2 * np.pi * f * 1.5 * t[sl])
    return (x / 2 * 0.5 * 32767).astype("<i2").tobytes()


def korean_wav(path: Path, text: str, rate: int = 8000) -> Path:
    """Korean speech from espeak-ng, at ``rate`` (16-bit mono)."""
    raw = path.with_suffix(".raw.wav")
    subprocess.run(["espeak-ng", "-v", "ko", "-s", "140", "-w", str(raw), text], check=True)
    subprocess.run(["sox", str(raw), "-r", str(rate), "-c", "1", "-b", "16", str(path)], check=True)
    raw.unlink()
    return path


def russian_wav(path: Path, text: str, rate: int = 8000) -> Path:
    """Russian speech from festival + festvox-ru (the msu_ru_nsh voice), at ``rate``."""
    raw = path.with_suffix(".raw.wav")
    subprocess.run(["text2wave", "-eval", "(voice_msu_ru_nsh_clunits)", "-o", str(raw)], input=text.encode(),
                   check=True, capture_output=True)
    subprocess.run(["sox", str(raw), "-r", str(rate), "-c", "1", "-b", "16", str(path)], check=True)
    raw.unlink()
    return path
