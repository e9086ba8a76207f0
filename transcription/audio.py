"""Loading recordings for recognition: WAV parsed by hand so that growing, truncated and odd files get a clear
status instead of an exception from deep inside an engine.

Accepted: RIFF/WAVE with PCM 8/16/24/32-bit, IEEE float, or G.711 (mu-law, A-law), any rate, any channel count
(mixed down). A data chunk whose size is 0 (a live file still being written) or larger than the file (a recording
cut short) is read up to the end of the file: a partial recording still has a transcript. Everything else raises
:class:`AudioError` whose ``status`` is the Russian line the request shows.
"""
from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np

STATUS_PREFIX = "не удалось распознать: "


class AudioError(Exception):
    """Bad input. ``reason`` is Russian (what the dispatcher sees after "не удалось распознать: ")."""

    def __init__(self, reason: str, detail: str = ""):
        super().__init__(f"{reason} ({detail})" if detail else reason)
        self.reason = reason
        self.detail = detail

    @property
    def status(self) -> str:
        return STATUS_PREFIX + self.reason


@dataclass
class Audio:
    samples: np.ndarray  # float32 mono in [-1, 1]
    sample_rate: int
    truncated: bool = False  # the header promised more than the file holds

    @property
    def duration_s(self) -> float:
        return len(self.samples) / float(self.sample_rate)

    def resampled(self, rate: int) -> np.ndarray:
        if rate == self.sample_rate:
            return self.samples
        import soxr

        return soxr.resample(self.samples, self.sample_rate, rate).astype(np.float32)

    def pcm16(self, rate: int | None = None) -> bytes:
        data = self.resampled(rate or self.sample_rate)
        return (np.clip(data, -1.0, 1.0) * 32767.0).astype("<i2").tobytes()


def _ulaw_table() -> np.ndarray:
    u = ~np.arange(256, dtype=np.int32) & 0xFF
    sign, exponent, mantissa = u & 0x80, (u >> 4) & 0x07, u & 0x0F
    magnitude = ((mantissa << 3) + 0x84) << exponent
    return np.where(sign != 0, 0x84 - magnitude, magnitude - 0x84).astype(np.float32) / 32768.0


def _alaw_table() -> np.ndarray:
    a = np.arange(256, dtype=np.int32) ^ 0x55
    sign, exponent, mantissa = a & 0x80, (a >> 4) & 0x07, a & 0x0F
    magnitude = np.where(exponent == 0, (mantissa << 4) + 8, ((mantissa << 4) + 0x108) << np.maximum(exponent - 1, 0))
    return np.where(sign != 0, magnitude, -magnitude).astype(np.float32) / 32768.0


def sniff(head: bytes) -> str:
    """'wav', 'mp3', 'empty' or 'unknown' from the first bytes."""
    if not head:
        return "empty"
    if head[:4] == b"RIFF" and head[8:12] == b"WAVE":
        return "wav"
    if head[:3] == b"ID3" or (len(head) > 1 and head[0] == 0xFF and (head[1] & 0xE0) == 0xE0):
        return "mp3"
    return "unknown"


def _parse_header(data: bytes) -> tuple[dict, int, int]:
    """(fmt fields, offset of the PCM data, its declared size) of a RIFF/WAVE byte string."""
    pos, fmt = 12, None
    while pos + 8 <= len(data):
        cid, size = data[pos:pos + 4], struct.unpack("<I", data[pos + 4:pos + 8])[0]
        body = pos + 8
        if cid == b"fmt ":
            if size < 16 or body + 16 > len(data):
                raise AudioError("повреждён заголовок WAV", "short fmt chunk")
            tag, channels, rate, _, block, bits = struct.unpack("<HHIIHH", data[body:body + 16])
            if tag == 0xFFFE and size >= 40 and body + 26 <= len(data):
                tag = struct.unpack("<H", data[body + 24:body + 26])[0]  # WAVE_FORMAT_EXTENSIBLE: the sub-format
            fmt = {"tag": tag, "channels": channels, "rate": rate, "block": block, "bits": bits}
        elif cid == b"data":
            if fmt is None:
                raise AudioError("повреждён заголовок WAV", "data before fmt")
            return fmt, body, size
        pos = body + size + (size & 1)
    raise AudioError("повреждён заголовок WAV", "no data chunk")


def decode(fmt: dict, raw: bytes) -> np.ndarray:
    tag, bits, channels = fmt["tag"], fmt["bits"], max(fmt["channels"], 1)
    if fmt["rate"] < 4000 or fmt["rate"] > 192000:
        raise AudioError("недопустимая частота дискретизации", f"{fmt['rate']} Hz")
    width = {8: 1, 16: 2, 24: 3, 32: 4}.get(bits)
    if width is None:
        raise AudioError("неподдерживаемый формат WAV", f"{bits} bits")
    usable = len(raw) - len(raw) % (width * channels)
    raw = raw[:usable]
    if tag == 1 and bits == 16:
        x = np.frombuffer(raw, "<i2").astype(np.float32) / 32768.0
    elif tag == 1 and bits == 8:
        x = (np.frombuffer(raw, np.uint8).astype(np.float32) - 128.0) / 128.0
    elif tag == 1 and bits == 24:
        b = np.frombuffer(raw, np.uint8).reshape(-1, 3).astype(np.int32)
        v = b[:, 0] | (b[:, 1] << 8) | (b[:, 2] << 16)
        x = (np.where(v >= 1 << 23, v - (1 << 24), v)).astype(np.float32) / float(1 << 23)
    elif tag == 1 and bits == 32:
        x = np.frombuffer(raw, "<i4").astype(np.float32) / float(1 << 31)
    elif tag == 3 and bits == 32:
        x = np.frombuffer(raw, "<f4").astype(np.float32)
    elif tag == 7 and bits == 8:
        x = _ulaw_table()[np.frombuffer(raw, np.uint8)]
    elif tag == 6 and bits == 8:
        x = _alaw_table()[np.frombuffer(raw, np.uint8)]
    else:
        raise AudioError("неподдерживаемый формат WAV", f"format tag {tag}, {bits} bits")
    if channels > 1:
        x = x.reshape(-1, channels).mean(axis=1)
    return np.ascontiguousarray(x, dtype=np.float32)


def load(path: str | Path, *, max_duration_s: float = 2 * 3600.0) -> Audio:
    path = Path(path)
    try:
        size = path.stat().st_size
        with path.open("rb") as fh:
            head = fh.read(4096)
            kind = sniff(head)
            if kind == "empty":
                raise AudioError("пустой файл записи", str(path))
            if kind == "mp3":
                raise AudioError("файл не WAV, а MP3", str(path))
            if kind != "wav":
                raise AudioError("файл не является записью WAV", str(path))
            fmt, offset, declared = _parse_header(head)
            block = max(fmt["block"], 1)
            available = size - offset
            if fmt["rate"] and declared and available > 0:
                seconds = min(declared, available) / (fmt["rate"] * block)
            else:
                seconds = available / max(fmt["rate"] * block, 1)
            if seconds > max_duration_s:
                raise AudioError(f"запись длиннее {max_duration_s / 3600:g} ч", f"{seconds:.0f} s")
            fh.seek(offset)
            raw = fh.read(declared if 0 < declared <= available else available)
    except FileNotFoundError:
        raise AudioError("файл записи не найден", str(path)) from None
    samples = decode(fmt, raw)
    if len(samples) == 0:
        raise AudioError("запись пуста", str(path))
    return Audio(samples, fmt["rate"], truncated=declared > available)


def level_dbfs(samples: np.ndarray) -> float:
    """The loudness of the loudest 10 % of 30 ms frames: speech anywhere in the file lifts it above silence."""
    if len(samples) == 0:
        return -120.0
    frame = 240 if len(samples) >= 240 else len(samples)
    n = len(samples) // frame
    rms = np.sqrt(np.mean(samples[: n * frame].reshape(n, frame) ** 2, axis=1) + 1e-12)
    top = np.sort(rms)[-max(1, n // 10):]
    return float(20 * np.log10(float(np.mean(top)) + 1e-12))


SILENCE_DBFS = -50.0


def check_not_silent(audio: Audio) -> None:
    if level_dbfs(audio.samples) < SILENCE_DBFS:
        raise AudioError("в записи тишина", f"level {level_dbfs(audio.samples):.0f} dBFS")
