"""Which fetches of a recording are a listen, and the listen log (audit_log: entity "recording", action "listen").

A listen is any fetch that reaches the audio data: the whole file, or a Range that ends past the header (WAV: the
"data" chunk's offset), from whatever byte it starts (``bytes=0-``, ``bytes=1-``, a seek). A fetch of the header
alone (a player reading the duration) and a HEAD are not. The request page's players use ``preload="none"``, so a
page view fetches nothing; a listen is logged once per user and recording in a ``WINDOW`` (the player's seeks and
re-fetches within it are the same listen)."""
from __future__ import annotations

import struct
from datetime import timedelta

import sqlalchemy as sa
from werkzeug.datastructures import Range

from ..storage import tables as t
from . import container

WINDOW = timedelta(minutes=10)
_HEADER_SCAN = 4096


def audio_offset(path, fmt: str | None) -> int:
    """Where the audio data starts: the WAV "data" chunk's payload; 0 for other formats (every byte is audio)."""
    if (fmt or "wav").split("/")[0].lower() != "wav":
        return 0
    with open(path, "rb") as fh:
        head = fh.read(_HEADER_SCAN)
    if head[:4] != b"RIFF" or head[8:12] != b"WAVE":
        return 0
    pos = 12
    while pos + 8 <= len(head):
        chunk, size = head[pos:pos + 4], struct.unpack("<I", head[pos + 4:pos + 8])[0]
        if chunk == b"data":
            return pos + 8
        pos += 8 + size + (size & 1)
    return 0


def reaches_audio(method: str, ranges: Range | None, size: int, offset: int) -> bool:
    """Whether this fetch returns audio bytes (see the module's docstring). An unsatisfiable range returns none."""
    if method != "GET":
        return False
    if ranges is None or ranges.units != "bytes":
        return size > offset
    for start, stop in ranges.ranges:
        if start < 0:  # a suffix: the last -start bytes
            first, last = max(size + start, 0), size
        else:
            first, last = start, min(stop if stop is not None else size, size)
        if first < last and last > offset:
            return True
    return False


def log_listen(org_id: int, user, recording_id: int) -> bool:
    """Log a listen unless this user's listen of this recording was logged within ``WINDOW``. The recording's row
    is locked for the check (PostgreSQL), so a player's parallel range requests log one listen. True if logged."""
    c = container()
    a, rec = t.audit_log.c, t.metadata.tables["recordings"]
    with c.uow() as uow:
        now = uow.clock()
        uow.session.execute(sa.select(rec.c.id).where(rec.c.id == recording_id).with_for_update())
        recent = uow.session.scalar(sa.select(a.id).where(
            a.org_id == org_id, a.entity == "recording", a.entity_id == recording_id, a.action == "listen",
            a.actor_kind == user.actor.kind, a.actor_id == user.actor.id, a.at > now - WINDOW).limit(1))
        if recent is not None:
            return False
        uow.audit(org_id, user.actor, "recording", recording_id, "listen", {"login": user.login})
        uow.commit()
    return True
