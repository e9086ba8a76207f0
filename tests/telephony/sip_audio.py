"""Audio checks for the telephony tests: does a recording contain a given sound? (normalised cross-correlation)"""
from __future__ import annotations

import wave

import numpy as np


def read_wav(path) -> tuple[np.ndarray, int]:
    """Samples as float32 in [-1, 1] and the rate; a header that still says 0 bytes is read from the file size."""
    with open(path, "rb") as fh:
        raw = fh.read()
    with wave.open(str(path)) as wav:
        rate, width, channels = wav.getframerate(), wav.getsampwidth(), wav.getnchannels()
    assert width == 2, f"{path}: {8 * width}-bit, expected 16-bit PCM"
    data = np.frombuffer(raw[44:len(raw) - (len(raw) - 44) % 2], dtype="<i2").astype(np.float32) / 32768.0
    if channels > 1:
        data = data.reshape(-1, channels).mean(axis=1)
    return data, rate


def best_match(haystack: np.ndarray, needle: np.ndarray) -> tuple[float, int]:
    """The highest normalised correlation of ``needle`` against every window of ``haystack``, and where."""
    n = len(needle)
    if len(haystack) < n or n == 0:
        return 0.0, -1
    size = 1 << int(np.ceil(np.log2(len(haystack) + n)))
    corr = np.fft.irfft(np.fft.rfft(haystack, size) * np.conj(np.fft.rfft(needle, size)), size)[:len(haystack) - n + 1]
    sq = np.concatenate([[0.0], np.cumsum(haystack.astype(np.float64) ** 2)])
    energy = np.sqrt(np.maximum(sq[n:] - sq[:-n], 1e-12)) * np.sqrt(float((needle.astype(np.float64) ** 2).sum()))
    score = corr / energy
    pos = int(np.argmax(score))
    return float(score[pos]), pos


def contains(recording_path, sound_path, seconds: float | None = None) -> float:
    """Correlation (0..1) of the first ``seconds`` of ``sound_path`` found anywhere in ``recording_path``."""
    rec, rate = read_wav(recording_path)
    sound, srate = read_wav(sound_path)
    assert rate == srate == 8000, (rate, srate)
    if seconds:
        sound = sound[: int(seconds * rate)]
    return best_match(rec, sound)[0]
