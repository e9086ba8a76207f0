"""Retention of stored call audio (the ``[recordings]`` settings, ``HOTLINE_RECORDINGS_*``).

A recording older than ``retention_days`` loses its audio: the blob is deleted and the journal's row is marked
(``purged_at``), so the call, its request and the answer-time report keep their facts while the API and the console
say "запись удалена по сроку хранения". 0 (the default) keeps recordings forever. The spool (recordings/spool.py)
has its own, short retention: a spooled file goes an hour after the journal stored it.

This package imports nothing of ours: :func:`purge_expired` is given the journal's wiring (``container``) and asks
its call service (``container.calls``) for the setting and the work. The scheduler runs it daily; ``hotline
recordings purge`` runs it by hand. Running it twice is harmless."""
from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources


@dataclass(frozen=True)
class RecordingSettings:
    # Days a stored recording keeps its audio; older audio is deleted by the retention job (the row stays, marked).
    # 0: keep forever.
    retention_days: int = 0


def purge_expired(container, *, retention_days: int | None = None) -> int:
    """Delete the audio of the stored recordings older than the retention; returns how many were purged now.
    ``retention_days`` None: the ``[recordings]`` setting. 0 or less: nothing is deleted."""
    if retention_days is None:
        retention_days = container.calls.recording_settings().retention_days
    if not retention_days or retention_days <= 0:
        return 0
    return container.calls.purge_recordings(int(retention_days))


@lru_cache(maxsize=None)
def _texts() -> dict:
    return json.loads(resources.files(__package__).joinpath("ru.json").read_text(encoding="utf-8"))


def status_text(code: str) -> str:
    """The Russian words for a recording's state ("purged"), as the console and the API show them."""
    return _texts()["status"].get(code, code)
