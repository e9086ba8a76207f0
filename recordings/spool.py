"""The recordings spool: WAV files that a telephony worker writes while a call goes on, and their manifests.

Layout under ``<data_dir>/spool``:

- ``calls/<call_uuid>.json``: one manifest per call (the worker's pid, the journal's call id, the recordings);
  the mover stores the files in the journal and marks the manifest ``stored``;
- ``calls/<call_uuid>.wav``: the whole call, caller and IVR mixed into one mono 8 kHz 16-bit track;
- ``live/<call_uuid>-<name>.wav`` (+ ``.done``): a recorded segment (the description), growing while it is
  spoken so that transcription can read it live;
- ``requests/<call_uuid>.json``: a registration that could not reach the database, replayed later;
- ``missed/<uuid>.json``: a call nobody answered (busy, shutting down) that could not be logged, replayed later.

A worker killed -9 leaves WAV files whose header still says 0 bytes: :func:`fix_wav_header` rewrites the sizes
from the file's length, so a partial recording is always a valid WAV. Nothing here imports the journal.
"""
from __future__ import annotations

import json
import os
import struct
import time
from pathlib import Path

HEADER = 44  # pjmedia's WAV writer: RIFF, a 16-byte fmt chunk, data


def spool_dirs(data_dir: str | os.PathLike) -> dict[str, Path]:
    root = Path(data_dir) / "spool"
    dirs = {"root": root, "calls": root / "calls", "live": root / "live", "requests": root / "requests",
            "missed": root / "missed"}
    for path in dirs.values():
        path.mkdir(parents=True, exist_ok=True)
    return dirs


def write_json(path: Path, data: dict) -> None:
    """Atomically replace ``path`` with ``data`` (a reader never sees half a file)."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(data, ensure_ascii=False, default=str))
    os.replace(tmp, path)


def read_json(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def fix_wav_header(path: str | os.PathLike) -> bool:
    """Make the RIFF and data sizes of a PCM WAV match the bytes on disk. Returns True if the file was changed.
    A file shorter than a header gets a header for no samples (8 kHz mono 16-bit)."""
    path = Path(path)
    size = path.stat().st_size
    with open(path, "r+b") as fh:
        if size < HEADER:
            fh.seek(0)
            fh.write(wav_header(0))
            fh.truncate(HEADER)
            return True
        head = fh.read(HEADER)
        if head[:4] != b"RIFF" or head[8:12] != b"WAVE" or head[36:40] != b"data":
            return False
        data = size - HEADER
        data -= data % 2
        riff, have = struct.unpack("<I", head[4:8])[0], struct.unpack("<I", head[40:44])[0]
        if riff == data + 36 and have == data:
            return False
        fh.seek(4)
        fh.write(struct.pack("<I", data + 36))
        fh.seek(40)
        fh.write(struct.pack("<I", data))
        return True


def wav_header(data_bytes: int, rate: int = 8000, channels: int = 1, bits: int = 16) -> bytes:
    block = channels * bits // 8
    return (b"RIFF" + struct.pack("<I", data_bytes + 36) + b"WAVEfmt " +
            struct.pack("<IHHIIHH", 16, 1, channels, rate, rate * block, block, bits) +
            b"data" + struct.pack("<I", data_bytes))


def wav_seconds(path: str | os.PathLike, rate: int = 8000) -> float:
    """Duration from the file's length (valid for a growing or a broken-header file)."""
    try:
        return max(0, Path(path).stat().st_size - HEADER) / (2 * rate)
    except OSError:
        return 0.0


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def orphaned_manifests(calls_dir: Path) -> list[tuple[Path, dict]]:
    """Manifests of calls whose worker died before it stored them (killed, crashed, power loss)."""
    found = []
    for path in sorted(calls_dir.glob("*.json")):
        data = read_json(path)
        if not data or data.get("state") == "stored":
            continue
        if data.get("state") == "ended" or not pid_alive(int(data.get("worker_pid") or 0)):
            found.append((path, data))
    return found


def recover(data_dir: str | os.PathLike) -> list[str]:
    """Repair the WAV headers of every recording a dead worker left behind; returns the repaired paths. The journal
    side (ending the call, storing the files) is done by a worker's mover, which picks up the same manifests."""
    dirs = spool_dirs(data_dir)
    repaired = []
    for _path, data in orphaned_manifests(dirs["calls"]):
        if data.get("state") == "ended":
            continue
        for rec in data.get("recordings", []):
            wav = Path(rec["path"])
            if wav.exists() and fix_wav_header(wav):
                repaired.append(str(wav))
    return repaired


def purge(data_dir: str | os.PathLike, *, retention_days: float, live_keep_s: float = 3600,
          now: float | None = None) -> int:
    """Delete spooled files the journal already holds: live segments ``live_keep_s`` after they were stored, and
    anything older than ``retention_days`` whose manifest says ``stored``. Returns the number of files removed."""
    now = time.time() if now is None else now
    dirs = spool_dirs(data_dir)
    removed = 0
    for path in dirs["calls"].glob("*.json"):
        data = read_json(path)
        if not data or data.get("state") != "stored" or data.get("error"):
            continue  # not stored yet, or no organisation took the call: kept for a human to look at
        age = now - float(data.get("stored_at") or path.stat().st_mtime)
        limit = min(live_keep_s, retention_days * 86400)
        if age < limit:
            continue
        for rec in data.get("recordings", []):
            for name in (rec["path"], rec["path"] + ".done"):
                if os.path.exists(name):
                    os.unlink(name)
                    removed += 1
        path.unlink()
        removed += 1
    return removed
