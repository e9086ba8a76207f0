"""Imperative mapping of the tables in ``tables_transcripts`` (if their service uses the ORM rather than Core)."""
from __future__ import annotations


def start(map_imperatively) -> None:
    """Called once by :func:`journal_api.storage.mapping.start_mappers`, e.g. ``map_imperatively(Call, t.calls)``."""
