"""Transcripts: store what the engines heard, and fill the request's empty fields from the extracted facts.

The fill rules (issue 5 §4):
- only EMPTY fields are filled: no building, no apartment/entrance/floor, work type "other" (the IVR's "not
  chosen"), the description still the IVR's placeholder; urgency is only ever raised to "emergency", never lowered
  (a missed gas smell is the worst error);
- a field that a person has set after registration (a history entry for that field from any channel but "asr":
  a dispatcher's correction, the caller's own change) is never touched;
- a fact below the confidence threshold stays a suggestion in ``facts`` and fills nothing;
- every filled field is a history entry from the channel "asr" (RequestService.update writes it).
Bad input ends as status "failed" with a Russian error, and a comment on the request so that the journal shows it.
"""
from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Callable

import sqlalchemy as sa

from ..domain.errors import DomainError, ValidationError
from ..domain.events import Actor
from ..storage import tables as t
from ..storage import tables_calls as tc
from ..storage import tables_transcripts as tt
from .requests import RequestService
from .uow import UnitOfWork

log = logging.getLogger(__name__)

ASR = Actor(kind="system", role="system", name="asr")
PLACE_FIELDS = ("apartment", "entrance", "floor")
MAX_DESCRIPTION = 4000


def _placeholder() -> str | None:
    try:
        from ivr_flows.prompts import journal_text

        return journal_text("description_pending")
    except Exception:  # the IVR package is optional for the journal
        return None


class TranscriptService:
    def __init__(self, uow_factory: Callable[[], UnitOfWork], requests: RequestService,
                 min_confidence: float = 0.6):
        self.uow = uow_factory
        self.requests = requests
        self.min_confidence = min_confidence

    # -- reading -------------------------------------------------------------------------------------------------
    def get(self, transcript_id: int):
        with self.uow() as uow:
            return uow.session.execute(sa.select(tt.transcripts).where(tt.transcripts.c.id == transcript_id)).one()

    def find(self, *, call_id: int | None = None, kind: str | None = None, recording_id: int | None = None):
        c = tt.transcripts.c
        with self.uow() as uow:
            if recording_id is not None:
                row = uow.session.execute(sa.select(tt.transcripts).where(c.recording_id == recording_id)).first()
                if row is not None:
                    return row
            if call_id is not None:
                return uow.session.execute(sa.select(tt.transcripts).where(c.call_id == call_id,
                                                                           c.kind == kind)).first()
        return None

    def for_request(self, org_id: int, request_id: int) -> list:
        c = tt.transcripts.c
        with self.uow() as uow:
            return list(uow.session.execute(sa.select(tt.transcripts).where(
                c.org_id == org_id, c.request_id == request_id).order_by(c.id)))

    # -- writing -------------------------------------------------------------------------------------------------
    def open(self, *, org_id: int, kind: str, status: str = "pending", call_id: int | None = None,
             recording_id: int | None = None, request_id: int | None = None,
             source_path: str | None = None) -> int:
        """The transcript of a call's segment, created once (by call and kind, or by recording); a second open
        links what it learnt (recording, request) and returns the same id. A finished one keeps its status."""
        if status not in ("pending", "live"):
            raise ValueError(status)
        existing = self.find(call_id=call_id, kind=kind, recording_id=recording_id)
        with self.uow() as uow:
            now = uow.clock()
            c = tt.transcripts.c
            if existing is None:
                try:
                    new_id = uow.session.execute(sa.insert(tt.transcripts).values(
                        org_id=org_id, call_id=call_id, recording_id=recording_id, request_id=request_id,
                        kind=kind, status=status, source_path=source_path, attempts=0, created_at=now,
                        updated_at=now).returning(c.id)).scalar_one()
                    uow.commit()
                    return new_id
                except sa.exc.IntegrityError:  # another process opened it at the same moment
                    uow.session.rollback()
                    existing = self.find(call_id=call_id, kind=kind, recording_id=recording_id)
            values = {k: v for k, v in (("recording_id", recording_id), ("request_id", request_id),
                                        ("source_path", source_path)) if v is not None and getattr(existing, k) is None}
            if existing.status in ("pending", "live") and existing.status != status:
                values["status"] = status
            if values:
                values["updated_at"] = now
                uow.session.execute(sa.update(tt.transcripts).where(c.id == existing.id).values(**values))
                uow.commit()
            return existing.id

    def started(self, transcript_id: int) -> int:
        """One more attempt; returns how many there have been."""
        c = tt.transcripts.c
        with self.uow() as uow:
            uow.session.execute(sa.update(tt.transcripts).where(c.id == transcript_id).values(
                attempts=c.attempts + 1, updated_at=uow.clock()))
            n = uow.session.scalar(sa.select(c.attempts).where(c.id == transcript_id))
            uow.commit()
            return n

    def complete(self, transcript_id: int, result: dict, facts: dict | None) -> list[str]:
        """Store the engine's result (``Transcript.as_dict()``) and the extraction; fill the request if it is
        known. Returns the names of the fields filled."""
        c = tt.transcripts.c
        with self.uow() as uow:
            now = uow.clock()
            uow.session.execute(sa.update(tt.transcripts).where(c.id == transcript_id).values(
                status="done", engine=result.get("engine"), model=result.get("model"),
                language=result.get("language"), text=result.get("text"), words=result.get("words"),
                duration_s=result.get("duration_s"), facts=facts, error=None, updated_at=now, finished_at=now))
            uow.commit()
        return self.fill_request(transcript_id)

    def fail(self, transcript_id: int, status_text: str) -> None:
        """A clear Russian status on the transcript, and once on the request's history."""
        c = tt.transcripts.c
        row = self.get(transcript_id)
        with self.uow() as uow:
            now = uow.clock()
            uow.session.execute(sa.update(tt.transcripts).where(c.id == transcript_id).values(
                status="failed", error=status_text[:2000], updated_at=now, finished_at=now))
            uow.commit()
        if row.request_id is not None and row.status != "failed":
            self._comment(row.org_id, row.request_id, status_text)

    def link(self, transcript_id: int, *, recording_id: int | None = None, request_id: int | None = None) -> None:
        values = {k: v for k, v in (("recording_id", recording_id), ("request_id", request_id)) if v is not None}
        if values:
            with self.uow() as uow:
                values["updated_at"] = uow.clock()
                uow.session.execute(sa.update(tt.transcripts).where(tt.transcripts.c.id == transcript_id)
                                    .values(**values))
                uow.commit()

    def stale(self, older_than: timedelta, now: datetime) -> list:
        """Transcripts pending or live for longer than ``older_than`` (a crashed transcriber, a lost job)."""
        c = tt.transcripts.c
        with self.uow() as uow:
            return list(uow.session.execute(sa.select(tt.transcripts).where(
                c.status.in_(("pending", "live")), c.updated_at < now - older_than).order_by(c.id).limit(200)))

    def request_of_call(self, call_id: int) -> int | None:
        with self.uow() as uow:
            return uow.session.scalar(sa.select(tc.calls.c.request_id).where(tc.calls.c.id == call_id))

    # -- filling the request -------------------------------------------------------------------------------------
    def fill_request(self, transcript_id: int) -> list[str]:
        row = self.get(transcript_id)
        if row.status != "done":
            return []
        request_id = row.request_id
        if request_id is None and row.call_id is not None:
            request_id = self.request_of_call(row.call_id)
            if request_id is not None:
                self.link(transcript_id, request_id=request_id)
        if request_id is None:
            return []  # the request comes later (registered at the end of the call): filled when it is linked
        with self.uow() as uow:
            req = uow.session.execute(sa.select(t.requests).where(t.requests.c.id == request_id)).one()
        history = self.requests.history(req.org_id, req.number, ASR)
        by_people = {h.field for h in history if h.kind == "field" and h.channel != "asr" and h.field}
        facts = row.facts or {}
        changes, building_pk = self._changes(req, facts, row.text or "", by_people)
        filled = []
        if changes or building_pk is not None:
            filled = self._update(req, changes, building_pk)
        if filled:
            merged = dict(facts)
            merged["filled"] = sorted(set(merged.get("filled", [])) | set(filled))
            with self.uow() as uow:
                uow.session.execute(sa.update(tt.transcripts).where(tt.transcripts.c.id == transcript_id)
                                    .values(facts=merged))
                uow.commit()
        return filled

    def _sure(self, facts: dict, name: str):
        fact = facts.get(name) or {}
        value = fact.get("value")
        if value is None or float(fact.get("confidence") or 0) < self.min_confidence:
            return None
        return value

    def _changes(self, req, facts: dict, text: str, by_people: set) -> tuple[dict, int | None]:
        changes: dict = {}
        placeholder = _placeholder()
        desc = (req.description or "").strip()
        if text.strip() and "description" not in by_people and (not desc or desc == placeholder):
            changes["description"] = text.strip()[:MAX_DESCRIPTION]
        work_type = self._sure(facts, "work_type")
        if work_type and work_type != "other" and req.work_type == "other" and "work_type" not in by_people:
            changes["work_type"] = work_type
        if self._sure(facts, "emergency") is True and req.urgency != "emergency" and "urgency" not in by_people:
            changes["urgency"] = "emergency"
        building_pk = None
        if req.building_id is None and "building" not in by_people:
            building_pk = self._sure(facts, "building_pk")
        if req.building_id is not None or building_pk is not None:
            for name in PLACE_FIELDS:
                value = self._sure(facts, name)
                if value is not None and getattr(req, name) is None and name not in by_people:
                    changes[name] = int(value)
        return changes, building_pk

    def _update(self, req, changes: dict, building_pk: int | None) -> list[str]:
        kwargs = {"building_id": building_pk, "building_given": True} if building_pk is not None else {}
        for attempt in range(2):
            try:
                request = self.requests.update(req.org_id, req.number, ASR, "asr", dict(changes), **kwargs)
                break
            except ValidationError as exc:  # e.g. an apartment outside the building: keep the rest
                log.info("asr fill of request %s: %s; retrying without the place", req.number, exc)
                if attempt:
                    return []
                changes = {k: v for k, v in changes.items() if k not in PLACE_FIELDS}
        filled = [k for k in changes if getattr(request, k, None) == changes[k]]
        if building_pk is not None and request.building is not None and request.building.id == building_pk:
            filled.append("building")
        return filled

    def _comment(self, org_id: int, request_id: int, text: str) -> None:
        with self.uow() as uow:
            number = uow.session.scalar(sa.select(t.requests.c.number).where(t.requests.c.id == request_id))
        try:
            self.requests.comment(org_id, number, ASR, "asr", text)
        except DomainError:
            log.exception("could not note the transcription status on request %s", number)
