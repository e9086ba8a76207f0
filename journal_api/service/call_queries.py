"""Reading calls and recordings: the API's list (filters, cursor paging), one call with its recordings and its
request, and the audio of a recording (every listen goes to the audit log)."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import BinaryIO

import sqlalchemy as sa

from recordings.retention import RecordingSettings, status_text

from ..domain.errors import DomainError, NotFound, ValidationError
from ..domain.events import Actor
from ..storage import tables as t
from ..storage import tables_calls as tc
from .queries import decode_cursor, encode_cursor

ANSWER_WITHIN = timedelta(minutes=5)  # ПП 416 п.13: a call is answered within 5 minutes
RETENTION = Actor.system("retention")
PURGE_BATCH = 500
PERIODS = {"1h": timedelta(hours=1), "24h": timedelta(hours=24), "7d": timedelta(days=7),
           "30d": timedelta(days=30)}


class RecordingPurged(DomainError):
    """The audio of a recording was deleted by the retention job; its facts remain."""

    code = "recording_purged"
    http_status = 410


@dataclass
class CallFilter:
    from_number: str | None = None  # a substring of the caller's number
    to_number: str | None = None
    status: str | None = None
    period: str | None = None  # 1h | 24h | 7d | 30d: arrived within it
    since: datetime | None = None
    until: datetime | None = None
    has_request: bool | None = None
    callback: str | None = None  # pending | done


@dataclass
class CallPage:
    items: list[dict]
    next_cursor: str | None


class CallQueries:
    """Mixed into CallService (``self.uow``, ``self.blobs``)."""

    def list_calls(self, org_id: int, f: CallFilter, *, cursor: str | None = None, limit: int = 50) -> CallPage:
        c = tc.calls.c
        stmt = _with_request(sa.select(tc.calls)).where(c.org_id == org_id)
        if f.from_number:
            stmt = stmt.where(c.from_number.contains(f.from_number, autoescape=True))
        if f.to_number:
            stmt = stmt.where(c.to_number.contains(f.to_number, autoescape=True))
        if f.status:
            stmt = stmt.where(c.status == f.status)
        if f.period:
            if f.period not in PERIODS:
                raise ValidationError(f"period must be one of {', '.join(PERIODS)}", field="period")
            with self.uow() as uow:
                now = uow.clock()
            stmt = stmt.where(c.arrived_at >= now - PERIODS[f.period])
        if f.since:
            stmt = stmt.where(c.arrived_at >= f.since)
        if f.until:
            stmt = stmt.where(c.arrived_at < f.until)
        if f.has_request is not None:
            stmt = stmt.where(c.request_id.is_not(None) if f.has_request else c.request_id.is_(None))
        if f.callback == "pending":
            stmt = stmt.where(c.callback_reason.is_not(None), c.callback_done_at.is_(None))
        elif f.callback == "done":
            stmt = stmt.where(c.callback_done_at.is_not(None))
        elif f.callback:
            raise ValidationError("callback must be pending or done", field="callback")
        if cursor:
            try:
                key, last_id = decode_cursor(cursor)
            except Exception:
                raise ValidationError("The cursor is not valid; start from the first page.", field="cursor") from None
            stmt = stmt.where(sa.or_(c.arrived_at < key, sa.and_(c.arrived_at == key, c.id < last_id)))
        stmt = stmt.order_by(c.arrived_at.desc(), c.id.desc()).limit(limit + 1)
        with self.uow() as uow:
            rows = uow.session.execute(stmt).all()
            more = len(rows) > limit
            rows = rows[:limit]
            recs = _recordings_of_calls(uow, [row.id for row in rows])  # one query for the page, not one a call
        items = [{**_call_dict(row), "recordings": recs.get(row.id, [])} for row in rows]
        nxt = encode_cursor(rows[-1].arrived_at, rows[-1].id) if more and rows else None
        return CallPage(items, nxt)

    def get_call(self, org_id: int, call_id: int) -> dict:
        c = tc.calls.c
        with self.uow() as uow:
            row = uow.session.execute(
                _with_request(sa.select(tc.calls)).where(c.org_id == org_id, c.id == call_id)).one_or_none()
            if row is None:
                raise NotFound(f"Call {call_id} does not exist in your organisation.")
            recs = _recordings_of_calls(uow, [call_id])
        return {**_call_dict(row), "recordings": recs.get(call_id, [])}

    def summary(self, org_id: int, since: datetime, until: datetime) -> dict:
        """The ПП 416 п.13 figures of a period: calls by status, how many were answered within 5 minutes, answer
        time percentiles, and callback tasks (requested, done, done within their 10 minutes, overdue now)."""
        c = tc.calls.c
        with self.uow() as uow:
            now = uow.clock()
            rows = uow.session.execute(sa.select(c.status, c.arrived_at, c.answered_at, c.callback_reason,
                                                 c.callback_due_at, c.callback_done_at)
                                       .where(c.org_id == org_id, c.arrived_at >= since, c.arrived_at < until)).all()
        by_status: dict[str, int] = {}
        waits = []
        for row in rows:
            by_status[row.status] = by_status.get(row.status, 0) + 1
            if row.answered_at is not None:
                waits.append((row.answered_at - row.arrived_at).total_seconds())
        waits.sort()
        tasks = [r for r in rows if r.callback_reason is not None]
        return {
            "since": since, "until": until, "calls": len(rows), "by_status": by_status, "answered": len(waits),
            "answered_within_5_min": sum(1 for w in waits if w <= ANSWER_WITHIN.total_seconds()),
            "answer_seconds_p50": _percentile(waits, 0.5), "answer_seconds_p95": _percentile(waits, 0.95),
            "answer_seconds_max": waits[-1] if waits else None,
            "callbacks": {
                "requested": len(tasks),
                "done": sum(1 for r in tasks if r.callback_done_at is not None),
                "done_in_time": sum(1 for r in tasks if r.callback_done_at is not None
                                    and r.callback_done_at <= r.callback_due_at),
                "overdue": sum(1 for r in tasks if r.callback_done_at is None and r.callback_due_at < now),
            },
        }

    def recordings_of_request(self, org_id: int, request_id: int) -> list[dict]:
        r = tc.recordings.c
        with self.uow() as uow:
            rows = uow.session.execute(sa.select(tc.recordings).where(r.org_id == org_id, r.request_id == request_id)
                                       .order_by(r.id)).all()
        return [recording_dict(row) for row in rows]

    def open_recording(self, org_id: int, recording_id: int, actor: Actor) -> tuple[dict, BinaryIO]:
        """The recording's facts and an open stream of its audio. A technician may listen only to recordings of
        requests assigned to him. Every listen is written to the audit log."""
        r = tc.recordings.c
        with self.uow() as uow:
            row = uow.session.execute(
                sa.select(tc.recordings, t.requests.c.assignee_id)
                .outerjoin(t.requests, t.requests.c.id == r.request_id)
                .where(r.org_id == org_id, r.id == recording_id)).one_or_none()
            if row is None or (actor.role == "technician" and row.assignee_id != actor.id):
                raise NotFound(f"Recording {recording_id} does not exist in your organisation.")
            if row.purged_at is not None:
                raise RecordingPurged(f"Recording {recording_id}: {status_text('purged')}.",
                                      details={"purged_at": row.purged_at.isoformat()})
            uow.audit(org_id, actor, "recording", recording_id, "listen",
                      {"call_id": row.call_id, "request_id": row.request_id, "kind": row.kind})
            uow.commit()
        return recording_dict(row), self.blobs.open(row.blob_key)


    # -- retention (recordings.retention) -------------------------------------------------------------------------
    @staticmethod
    def recording_settings() -> RecordingSettings:
        """The ``[recordings]`` settings (``HOTLINE_RECORDINGS_*`` win over the file)."""
        from ..config import load_section

        return load_section(RecordingSettings, "recordings")

    def purge_recordings(self, retention_days: int) -> int:
        """Delete the audio of every recording stored more than ``retention_days`` ago and mark its row
        (``purged_at``); the call, request and transcript rows stay. A blob that a kept recording or an attachment
        still uses (the same content) stays. Blobs go before the rows are marked, so a run cut short is finished by
        the next one. Returns how many recordings were purged."""
        r = tc.recordings.c
        total = 0
        while True:
            with self.uow() as uow:
                now = uow.clock()
                rows = uow.session.execute(sa.select(r.id, r.org_id, r.blob_key).where(
                    r.purged_at.is_(None), r.created_at < now - timedelta(days=retention_days))
                    .order_by(r.created_at, r.id).limit(PURGE_BATCH)).all()
                if not rows:
                    return total
                ids, keys = [row.id for row in rows], {row.blob_key for row in rows}
                used = set(uow.session.scalars(sa.select(r.blob_key).where(
                    r.blob_key.in_(keys), r.purged_at.is_(None), r.id.not_in(ids))))
                used |= set(uow.session.scalars(sa.select(t.attachments.c.storage_key)
                                                .where(t.attachments.c.storage_key.in_(keys))))
                for key in sorted(keys - used):
                    self.blobs.delete(key)
                uow.session.execute(sa.update(tc.recordings).where(r.id.in_(ids)).values(purged_at=now))
                for org_id in sorted({row.org_id for row in rows}):
                    mine = [row.id for row in rows if row.org_id == org_id]
                    uow.audit(org_id, RETENTION, "recording", None, "purged",
                              {"recording_ids": mine, "retention_days": retention_days})
                uow.commit()
            total += len(ids)


def _with_request(stmt):
    q = t.requests.c
    return stmt.add_columns(q.number.label("request_number"), q.status.label("request_status"),
                            q.work_type.label("request_work_type"), q.urgency.label("request_urgency"),
                            q.due_at.label("request_due_at")).outerjoin(t.requests, q.id == tc.calls.c.request_id)


def _recordings_of_calls(uow, call_ids: list[int]) -> dict[int, list[dict]]:
    if not call_ids:
        return {}
    r = tc.recordings.c
    out: dict[int, list[dict]] = {}
    for row in uow.session.execute(sa.select(tc.recordings).where(r.call_id.in_(call_ids)).order_by(r.id)):
        out.setdefault(row.call_id, []).append(recording_dict(row))
    return out


def _percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    return values[min(len(values) - 1, int(round(q * (len(values) - 1))))]


def recording_dict(row) -> dict:
    return {"id": row.id, "call_id": row.call_id, "request_id": row.request_id, "kind": row.kind,
            "sha256": row.sha256, "size": row.size, "duration_s": round(float(row.duration_s), 3),
            "format": row.format, "sample_rate": row.sample_rate, "created_at": row.created_at,
            "purged_at": row.purged_at, "note": status_text("purged") if row.purged_at is not None else None}


def _call_dict(row) -> dict:
    return {"id": row.id, "sip_call_id": row.sip_call_id, "call_uuid": row.call_uuid, "direction": row.direction,
            "from_number": row.from_number, "to_number": row.to_number, "arrived_at": row.arrived_at,
            "answered_at": row.answered_at, "ended_at": row.ended_at, "status": row.status,
            "hangup_cause": row.hangup_cause, "ivr_path": row.ivr_path or [], "digits": row.digits or [],
            "request_id": row.request_id, "request_number": row.request_number, "worker": row.worker,
            "request": None if row.request_id is None else {
                "id": row.request_id, "number": row.request_number, "status": row.request_status,
                "work_type": row.request_work_type, "urgency": row.request_urgency, "due_at": row.request_due_at},
            "callback_reason": row.callback_reason, "callback_due_at": row.callback_due_at,
            "callback_done_at": row.callback_done_at}
