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


def match_fraction(recording_path, sound_path, window_s: float = 0.25, threshold: float = 0.7) -> float:
    """The share of the sound's voiced quarter-second windows found in the recording (correlation > ``threshold``).
    Short windows survive what a real RTP path does to long ones: a dropped frame, the bridge stretching audio
    (WSOLA) when the machine is busy. A different Russian phrase scores 0 at these settings."""
    rec, rate = read_wav(recording_path)
    sound, _ = read_wav(sound_path)
    n = int(window_s * rate)
    windows = [sound[i:i + n] for i in range(0, len(sound) - n + 1, n)]
    voiced = [w for w in windows if np.sqrt((w * w).mean()) > 0.01]
    if not voiced:
        return 0.0
    return sum(best_match(rec, w)[0] > threshold for w in voiced) / len(voiced)
