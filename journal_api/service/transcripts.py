"""Transcripts: store what the engines heard, and fill the request's empty fields from the extracted facts.

The fill rules (issue 5 §4):
- only EMPTY fields are filled: no building, no apartment/entrance/floor, work type "other" (the IVR's "not
  chosen"), the description still the IVR's placeholder; urgency is only ever raised to "emergency", never lowered
  (a missed gas smell is the worst error);
- a field that a person has set after registration (a history entry for that field from any channel but "asr":
  a dispatcher's correction, the caller's own change) is never touched;
- a fact below the confidence threshold stays a suggestion in ``facts`` and fills nothing;
- every filled field is a history entry from the channel "asr" (RequestService.update writes it).
- work type "other" is filled only when the caller did not choose it: "other" keyed in the IVR's category menu
  (key 9: the call's ``ivr_path`` and ``digits`` tell) is the caller's choice. While the call is still in progress
  (its path is written when it ends) the work type waits: the next fill (``recording.stored``) decides.
Bad input ends as status "failed" with its Russian reason in ``error`` (the bare reason: the console puts the status
before it), and once a comment on the request ("не удалось распознать: <reason>"), also when the request is linked
only later. A finished transcript may carry a note in ``error`` too (e.g. a truncated file).
"""
from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Callable

import sqlalchemy as sa

from ..domain.errors import DomainError, NotFound, ValidationError
from ..domain.events import Actor
from ..storage import tables as t
from ..storage import tables_calls as tc
from ..storage import tables_transcripts as tt
from ..catalogue import catalogue
from .requests import RequestService
from .uow import UnitOfWork

log = logging.getLogger(__name__)

ASR = Actor(kind="system", role="system", name="asr")
PLACE_FIELDS = ("apartment", "entrance", "floor")
MAX_DESCRIPTION = 4000
# The recordings that are the caller's own words. The whole call ("call") also holds the IVR's prompts ("если
# пахнет газом, нажмите 1") and the dispatcher's voice: its transcript is for reading, it never fills the request.
FILLING_KINDS = ("description", "voicemail")
# The IVR's explicit "other" (ivr_flows/flows/default.yaml): key 9 of the category menu enters "cat_other"; the
# menu's default (nothing pressed) enters the same node, so the key must be the digit keyed at that menu. The keys of
# the menus before it tell how many digits they took.
KEYED_OTHER_AT = {("category_menu", "cat_other"): "9"}
MENU_KEYS = {("main_menu", "emergency_menu"): "1", ("main_menu", "category_menu"): "2"}


def failed_label() -> str:
    return catalogue("console_ru")["transcript_statuses"]["failed"]


def bare_reason(text: str) -> str:
    """'не удалось распознать: в записи тишина' -> 'в записи тишина' (the status is not part of the reason)."""
    prefix = failed_label().lower() + ":"
    text = (text or "").strip()
    return text[len(prefix):].strip() if text.lower().startswith(prefix) else text


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
                except sa.exc.IntegrityError as exc:  # another process opened it at the same moment
                    uow.session.rollback()
                    existing = self.find(call_id=call_id, kind=kind, recording_id=recording_id)
                    if existing is None:  # not a race: the call, recording or request does not exist
                        raise NotFound(f"Transcript of call {call_id} / recording {recording_id}: "
                                       f"{type(exc.orig).__name__}") from exc
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
                duration_s=result.get("duration_s"), facts=facts, error=result.get("status_note") or None,
                updated_at=now, finished_at=now))
            uow.commit()
        return self.fill_request(transcript_id)

    def save_partial(self, transcript_id: int, text: str) -> bool:
        """The text so far of a transcript being recognised live (the board shows it). Only while it is live."""
        c = tt.transcripts.c
        with self.uow() as uow:
            n = uow.session.execute(sa.update(tt.transcripts).where(c.id == transcript_id, c.status == "live")
                                    .values(text=text, updated_at=uow.clock())).rowcount
            uow.commit()
        return bool(n)

    def requeue(self, transcript_id: int, note: str | None = None) -> bool:
        """Back to "pending" for the queue (a live stream that stopped, a failure to retry from the stored
        recording), with an optional note saying why. A done transcript stays done."""
        c = tt.transcripts.c
        with self.uow() as uow:
            n = uow.session.execute(sa.update(tt.transcripts).where(
                c.id == transcript_id, c.status.in_(("pending", "live", "failed"))).values(
                status="pending", error=note, finished_at=None, updated_at=uow.clock())).rowcount
            uow.commit()
        return bool(n)

    def note(self, transcript_id: int, text: str) -> None:
        """A note on a transcript still waiting (e.g. the transcriber is not running), once on the request too."""
        row = self.get(transcript_id)
        if row.error == text:
            return
        with self.uow() as uow:
            uow.session.execute(sa.update(tt.transcripts).where(tt.transcripts.c.id == transcript_id)
                                .values(error=text))
            uow.commit()
        if row.request_id is not None:
            self._comment(row.org_id, row.request_id, f"{label_of(row.status)}: {text}")

    def fail(self, transcript_id: int, status_text: str) -> None:
        """A clear Russian status on the transcript (``error`` keeps the bare reason), and once on the request's
        history as "не удалось распознать: <reason>"."""
        c = tt.transcripts.c
        row = self.get(transcript_id)
        reason = bare_reason(status_text)
        with self.uow() as uow:
            now = uow.clock()
            uow.session.execute(sa.update(tt.transcripts).where(c.id == transcript_id).values(
                status="failed", error=reason[:2000], updated_at=now, finished_at=now))
            uow.commit()
        log.info("transcript %s failed: %s", transcript_id, reason)
        if row.request_id is not None and not (row.status == "failed" and row.error == reason):
            self._comment(row.org_id, row.request_id, f"{failed_label()}: {reason}")

    def link(self, transcript_id: int, *, recording_id: int | None = None, request_id: int | None = None) -> None:
        values = {k: v for k, v in (("recording_id", recording_id), ("request_id", request_id)) if v is not None}
        if values:
            row = self.get(transcript_id)
            with self.uow() as uow:
                values["updated_at"] = uow.clock()
                uow.session.execute(sa.update(tt.transcripts).where(tt.transcripts.c.id == transcript_id)
                                    .values(**values))
                uow.commit()
            if request_id is not None and row.request_id is None and row.status == "failed":
                # failed before the request existed (a live failure during the call): the request learns it now
                self._comment(row.org_id, request_id, f"{failed_label()}: {bare_reason(row.error or '')}")

    def stale(self, older_than: timedelta, now: datetime) -> list:
        """Transcripts pending or live for longer than ``older_than`` (a crashed transcriber, a lost job)."""
        c = tt.transcripts.c
        with self.uow() as uow:
            return list(uow.session.execute(sa.select(tt.transcripts).where(
                c.status.in_(("pending", "live")), c.updated_at < now - older_than).order_by(c.id).limit(200)))

    def untranscribed(self, kinds: tuple[str, ...], older_than: timedelta, now: datetime,
                      since: datetime | None = None, limit: int = 200) -> list:
        """Stored recordings of these kinds with no transcript at all (stored before transcription was installed,
        or a lost event), older than ``older_than`` so the event handler has had its turn, and stored after
        ``since`` when given (the recent window uses the index on created_at). Purged ones are left."""
        r, c = tc.recordings.c, tt.transcripts.c
        by_recording = sa.exists().where(c.recording_id == r.id)
        by_call = sa.exists().where(c.call_id == r.call_id, c.kind == r.kind)
        where = [r.kind.in_(kinds), r.purged_at.is_(None), r.created_at < now - older_than, ~by_recording,
                 sa.or_(r.call_id.is_(None), ~by_call)]
        if since is not None:
            where.append(r.created_at >= since)
        with self.uow() as uow:
            return list(uow.session.execute(sa.select(r.id, r.org_id, r.call_id, r.kind).where(*where)
                                            .order_by(r.id).limit(limit)))

    def request_of_call(self, call_id: int) -> int | None:
        with self.uow() as uow:
            return uow.session.scalar(sa.select(tc.calls.c.request_id).where(tc.calls.c.id == call_id))

    # -- filling the request -------------------------------------------------------------------------------------
    def fill_request(self, transcript_id: int) -> list[str]:
        row = self.get(transcript_id)
        if row.status != "done" or row.kind not in FILLING_KINDS:
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
        if "work_type" in changes and not self._work_type_open(row.call_id):
            del changes["work_type"]
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

    def _work_type_open(self, call_id: int | None) -> bool:
        """Whether "other" on a phone request means "not chosen": the call has ended (its IVR path is known) and
        the caller did not key "other" in the menu."""
        if call_id is None:
            return True
        with self.uow() as uow:
            call = uow.session.execute(sa.select(tc.calls.c.ended_at, tc.calls.c.ivr_path, tc.calls.c.digits)
                                       .where(tc.calls.c.id == call_id)).one_or_none()
        if call is None:
            return True
        if call.ended_at is None:
            return False  # the path is written when the call ends: decide at the next fill
        return not keyed_other(list(call.ivr_path or []), [str(d) for d in (call.digits or [])])

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


def label_of(status: str) -> str:
    return catalogue("console_ru")["transcript_statuses"].get(status, status)


def keyed_other(path: list[str], digits: list[str]) -> bool:
    """Did the caller key "other"? Walk the path's menu transitions up to the "other" node; each transition that
    the default flow makes on a key (``MENU_KEYS``) consumed that digit if it is the next one (else the menu timed
    out into its default). "Other" is keyed when its own key is the next digit at its menu."""
    pos = 0
    for a, b in zip(path, path[1:]):
        if (a, b) in KEYED_OTHER_AT:
            return digits[pos:pos + 1] == [KEYED_OTHER_AT[(a, b)]]
        if digits[pos:pos + 1] == [MENU_KEYS.get((a, b))]:
            pos += 1
    return False
