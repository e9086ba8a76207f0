"""The recordings spool without SIP: header repair, dead workers' manifests, purge after storage."""
from __future__ import annotations

import os
import time
import wave

from recordings import spool


def _broken_wav(path, seconds: float) -> None:
    """What a worker killed -9 leaves: a header that still says 0 bytes, then the samples."""
    path.write_bytes(spool.wav_header(0) + b"\x01\x00" * int(8000 * seconds))


def test_a_header_left_at_zero_is_rewritten_from_the_file_length(tmp_path):
    path = tmp_path / "x.wav"
    _broken_wav(path, 2.5)
    assert spool.fix_wav_header(path) is True
    with wave.open(str(path)) as wav:
        assert wav.getnframes() == 20000 and wav.getframerate() == 8000
    assert spool.fix_wav_header(path) is False  # already right: untouched


def test_a_file_shorter_than_a_header_becomes_an_empty_valid_wav(tmp_path):
    path = tmp_path / "x.wav"
    path.write_bytes(b"RIFF")
    spool.fix_wav_header(path)
    with wave.open(str(path)) as wav:
        assert wav.getnframes() == 0


def test_recover_repairs_only_the_calls_of_dead_workers(tmp_path):
    dirs = spool.spool_dirs(tmp_path)
    dead, alive = dirs["calls"] / "dead.wav", dirs["calls"] / "alive.wav"
    _broken_wav(dead, 1)
    _broken_wav(alive, 1)
    spool.write_json(dirs["calls"] / "dead.json", {"worker_pid": 2 ** 22 + 7, "state": "active",
                                                   "recordings": [{"kind": "call", "path": str(dead)}]})
    spool.write_json(dirs["calls"] / "alive.json", {"worker_pid": os.getpid(), "state": "active",
                                                    "recordings": [{"kind": "call", "path": str(alive)}]})
    assert spool.recover(tmp_path) == [str(dead)]
    assert [p.name for p, _ in spool.orphaned_manifests(dirs["calls"])] == ["dead.json"]


def test_purge_removes_stored_calls_after_the_live_window_only(tmp_path):
    dirs = spool.spool_dirs(tmp_path)
    old, new = dirs["live"] / "old-description.wav", dirs["live"] / "new-description.wav"
    for wav, name, stored_at in ((old, "old", time.time() - 7200), (new, "new", time.time() - 60)):
        _broken_wav(wav, 0.1)
        spool.write_json(dirs["calls"] / f"{name}.json", {"state": "stored", "stored_at": stored_at,
                                                          "recordings": [{"kind": "description", "path": str(wav)}]})
    spool.write_json(dirs["calls"] / "pending.json", {"state": "ended", "recordings": []})
    assert spool.purge(tmp_path, retention_days=30) == 2  # the old WAV and its manifest
    assert not old.exists() and new.exists() and (dirs["calls"] / "pending.json").exists()
