"""Calls, recordings and the IVR's facade onto the journal (issue 4, contracts §B).

The telephony workers call these methods off their event loop. Requests are registered through RequestService
(channel "phone"), never around it. Every write is idempotent where a worker may replay it from its spool: a call
is opened once per call_uuid, a call registers at most one request, a recording is stored once per call, kind and
checksum, and a callback task is set once per call."""
from __future__ import annotations

import json
import sys
import wave
from datetime import datetime
from pathlib import Path
from typing import Callable
from zoneinfo import ZoneInfo

import sqlalchemy as sa

from ivr_flows.prompts import journal_text
from recordings.store import BlobStore

from ..catalogue import label
from ..domain import calls as d
from ..domain.errors import Conflict, DomainError, NotFound, UnknownReference, ValidationError
from ..domain.events import Actor, DomainEvent
from ..domain.phones import maybe_phone
from ..storage import tables as t
from ..storage import tables_calls as tc
from .call_queries import CallQueries
from .incidents import incident_fields
from .requests import NewRequest, RequestService
from .staff_calls import StaffCallOps
from .uow import UnitOfWork

IVR = Actor(kind="system", role="system", name="IVR")
ORG_OPS = ("lookup_caller", "buildings_for_apartment", "request_status")
INVOKE_OPS = {"lookup_caller": "lookup_caller", "buildings_for_apartment": "buildings_for_apartment",
              "register_request": "register_from_call", "request_status": "request_status",
              "callback_task": "callback_task", "staff_request": "staff_request", "attach_request": "attach_request"}
MAX_RECORDING_BYTES = 2 ** 31


class CallService(CallQueries, StaffCallOps):
    def __init__(self, uow_factory: Callable[[], UnitOfWork], requests: RequestService, blobs: BlobStore):
        self.uow = uow_factory
        self.requests = requests
        self.blobs = blobs

    # -- the call's life -------------------------------------------------------------------------------------------
    def resolve_org(self, did: str | None) -> int | None:
        """The organisation whose settings list the dialled number in "dids"; else the one marked
        "hotline_default": true; else the only organisation there is; else None."""
        with self.uow() as uow:
            rows = uow.session.execute(sa.select(t.organisations.c.id, t.organisations.c.settings)
                                       .order_by(t.organisations.c.id)).all()
        parsed = [(row.id, _settings(row.settings)) for row in rows]
        for org_id, settings in parsed:
            if d.did_matches(did, settings.get("dids")):
                return org_id
        for org_id, settings in parsed:
            if settings.get("hotline_default"):
                return org_id
        return parsed[0][0] if len(parsed) == 1 else None

    def open_call(self, *, org_id: int, sip_call_id: str | None, call_uuid: str | None, from_number: str | None,
                  to_number: str | None, arrived_at: datetime, worker: str | None = None,
                  direction: str = "in") -> int:
        """A new call (status "ringing"); the same call_uuid again (a replay from the spool) gives the same id."""
        if direction not in d.DIRECTIONS:
            raise ValidationError(f"'{direction}' is not a call direction; use one of: {', '.join(d.DIRECTIONS)}",
                                  field="direction")
        call_uuid = _clip(call_uuid, 64)
        return self._insert_once(call_uuid, dict(
            org_id=org_id, sip_call_id=_clip(sip_call_id, 200), call_uuid=call_uuid, direction=direction,
            from_number=_clip(from_number, 64), to_number=_clip(to_number, 64), arrived_at=arrived_at,
            status="ringing", worker=_clip(worker, 64)))

    def _insert_once(self, call_uuid: str | None, values: dict, then=None) -> int:
        """Insert a call row once per call_uuid (a replay, or another process at the same moment, finds the first);
        ``then(uow, call_id)`` runs in the inserting transaction."""
        find = sa.select(tc.calls.c.id).where(tc.calls.c.call_uuid == call_uuid)
        with self.uow() as uow:
            found = uow.session.scalar(find) if call_uuid else None
            if found is not None:
                return found
            try:
                call_id = uow.session.execute(sa.insert(tc.calls).values(**values)
                                              .returning(tc.calls.c.id)).scalar_one()
                if then is not None:
                    then(uow, call_id)
                uow.commit()
                return call_id
            except sa.exc.IntegrityError:
                if not call_uuid:
                    raise
                error = sys.exc_info()[1]
        with self.uow() as uow:  # inserted by another process at the same moment, or a bad org_id
            found = uow.session.scalar(find)
        if found is None:
            raise error
        return found

    def answered(self, call_id: int, at: datetime) -> None:
        with self.uow() as uow:
            uow.session.execute(sa.update(tc.calls).where(tc.calls.c.id == call_id, tc.calls.c.answered_at.is_(None))
                                .values(answered_at=at, status="answered"))
            uow.commit()

    def ended(self, call_id: int, *, at: datetime, status: str, hangup_cause: str | None = None,
              ivr_path=None, digits=None) -> None:
        """Close a call. A missed or abandoned call from a number one can call back gets a callback task."""
        d.check_status(status)
        with self.uow() as uow:
            call = _call(uow, call_id, for_update=True)
            uow.session.execute(sa.update(tc.calls).where(tc.calls.c.id == call_id).values(
                ended_at=at, status=status, hangup_cause=_clip(hangup_cause, 64),
                ivr_path=list(ivr_path or []), digits=list(digits or [])))
            if status in d.CALLBACK_STATUSES and call.request_id is None:
                self._set_callback(uow, call, status, at)
            uow.commit()

    def missed(self, *, org_id: int, sip_call_id: str | None, from_number: str | None, to_number: str | None,
               at: datetime, status: str = "over_capacity", hangup_cause: str | None = None,
               call_uuid: str | None = None) -> int:
        """A call nobody answered (every worker busy, or it rang out): logged, with a callback task (ПП 416).
        With a ``call_uuid`` (a missed call replayed from the spool) it is logged once."""
        d.check_status(status)
        return self._insert_once(_clip(call_uuid, 64), dict(
            org_id=org_id, sip_call_id=_clip(sip_call_id, 200), call_uuid=_clip(call_uuid, 64), direction="in",
            from_number=_clip(from_number, 64), to_number=_clip(to_number, 64), arrived_at=at, ended_at=at,
            status=status, hangup_cause=_clip(hangup_cause or status, 64)),
            then=lambda uow, call_id: self._set_callback(uow, _call(uow, call_id), status, at))

    # -- what the IVR asks -----------------------------------------------------------------------------------------
    def lookup_caller(self, org_id: int, phone: str | None) -> dict | None:
        """A known resident's place: {"building_id", "apartment", "address"} when the phone names exactly one."""
        with self.uow() as uow:
            region = uow.session.scalar(sa.select(t.organisations.c.phone_region)
                                        .where(t.organisations.c.id == org_id)) or "RU"
            try:
                phone = maybe_phone(phone, region=region)
            except ValidationError:
                return None
            if phone is None:
                return None
            r, b = t.residents.c, t.buildings.c
            rows = uow.session.execute(
                sa.select(r.building_id, r.apartment, b.street, b.house, b.korpus)
                .join(t.buildings, b.id == r.building_id)
                .where(r.org_id == org_id, r.phone == phone, b.active.is_(True))).all()
        places = {(row.building_id, row.apartment) for row in rows}
        if len(places) != 1 or rows[0].apartment is None:
            return None
        row = rows[0]
        return {"building_id": row.building_id, "apartment": row.apartment,
                "address": d.address_text(row.street, row.house, row.korpus),
                **incident_fields(self.uow, org_id, [row.building_id]).get(row.building_id, {})}  # issue 8

    def buildings_for_apartment(self, org_id: int, apartment: int) -> list[dict]:
        """The organisation's active buildings that have such an apartment number (by their apartment count)."""
        b = t.buildings.c
        with self.uow() as uow:
            rows = uow.session.execute(
                sa.select(b.id, b.street, b.house, b.korpus).where(
                    b.org_id == org_id, b.active.is_(True), b.apartments >= int(apartment), int(apartment) >= 1)
                .order_by(b.id)).all()
        known = incident_fields(self.uow, org_id, [row.id for row in rows])  # issue 8: open incidents
        return [{"building_id": row.id, "address": d.address_text(row.street, row.house, row.korpus),
                 "house": row.house, "house_number": d.house_number(row.house), **known.get(row.id, {})}
                for row in rows]

    def register_from_call(self, call_id: int, *, work_type: str | None = None, emergency: bool = False,
                           apartment: int | None = None, building_id: int | None = None,
                           description: str | None = None) -> dict:
        """Register the call's request (once: a second call returns the first). A work type or building the journal
        refuses is dropped rather than losing the request; the dispatcher completes it.

        On PostgreSQL the call's row stays locked while the request is registered, so two registrations of one call
        at the same time (a clean-up racing the original) make one request. SQLite takes its write lock at BEGIN, so
        there the check and the registration are two transactions (one embedded process: the worker runs them in
        order)."""
        request_id = None
        with self.uow() as uow:
            locking = uow.session.get_bind().dialect.name == "postgresql"
            call = _call(uow, call_id, for_update=locking)
            request_id = call.request_id
            if request_id is None and locking:
                request_id = self._register(call, work_type, emergency, apartment, building_id, description).id
                self._link(uow, call_id, request_id)
                uow.commit()
        if request_id is None:  # SQLite: no transaction may stay open around the registration
            request_id = self._register(call, work_type, emergency, apartment, building_id, description).id
            with self.uow() as uow:
                self._link(uow, call_id, request_id)
                uow.commit()
        return self._registered(call.org_id, request_id)

    def _register(self, call, work_type, emergency, apartment, building_id, description):
        data = NewRequest(description=description or journal_text("description_pending"),
                          work_type=work_type or "other", urgency="emergency" if emergency else None,
                          channel="phone", caller_phone=_phone_or_none(call.from_number),
                          building_id=building_id, apartment=apartment if building_id else None,
                          answered_at=call.answered_at)
        for _ in range(3):
            try:
                return self.requests.register(call.org_id, IVR, data)
            except UnknownReference as exc:
                if exc.field == "work_type" and data.work_type != "other":
                    data.work_type = "other"
                elif data.building_id is not None:
                    data.building_id, data.apartment = None, None
                else:
                    raise
            except ValidationError:
                if data.building_id is None and data.apartment is None:
                    raise
                data.building_id, data.apartment = None, None
        return self.requests.register(call.org_id, IVR, data)

    @staticmethod
    def _link(uow: UnitOfWork, call_id: int, request_id: int) -> None:
        uow.session.execute(sa.update(tc.calls).where(tc.calls.c.id == call_id).values(request_id=request_id))
        uow.session.execute(sa.update(tc.recordings).where(
            tc.recordings.c.call_id == call_id, tc.recordings.c.request_id.is_(None)).values(request_id=request_id))

    def link_request(self, org_id: int, call_id: int, number: int, actor: Actor) -> None:
        """A dispatcher's registration from a call (the console's form): the call, its recordings and transcripts
        go to the organisation's request ``number``. Another organisation's call or request is NotFound; linking
        again to the same request does nothing; a call already about another request is a Conflict."""
        from ..storage import tables_transcripts as tt

        with self.uow() as uow:
            call = _call(uow, call_id, for_update=True, org_id=org_id)
            request_id = uow.session.scalar(sa.select(t.requests.c.id).where(
                t.requests.c.org_id == org_id, t.requests.c.number == int(number)))
            if request_id is None:
                raise NotFound(f"Request №{number} does not exist in this organisation.", field="number")
            if call.request_id not in (None, request_id):
                raise Conflict(f"Call {call_id} is already linked to another request.", field="call_id")
            self._link(uow, call_id, request_id)
            uow.session.execute(sa.update(tt.transcripts).where(
                tt.transcripts.c.call_id == call_id, tt.transcripts.c.request_id.is_(None))
                .values(request_id=request_id))
            if call.request_id is None:
                uow.audit(org_id, actor, "call", call_id, "request_linked", {"request_id": request_id,
                                                                             "number": int(number)})
            uow.commit()

    def request_status(self, org_id: int, number: int) -> dict | None:
        q = t.requests.c
        with self.uow() as uow:
            row = uow.session.execute(sa.select(q.status, q.due_at, t.organisations.c.timezone)
                                      .join(t.organisations, t.organisations.c.id == q.org_id)
                                      .where(q.org_id == org_id, q.number == int(number))).one_or_none()
        if row is None:
            return None
        return {"status": row.status, "status_text": label("statuses", row.status),
                "due_local": _local(row.due_at, row.timezone)}

    def callback_task(self, call_id: int, *, reason: str) -> dict:
        """ПП 416: a callback or a voice message a dispatcher must deal with within 10 minutes."""
        if reason not in d.CALLBACK_REASONS:
            raise ValidationError(f"'{reason}' is not a callback reason; use one of: {', '.join(d.CALLBACK_REASONS)}",
                                  field="reason")
        with self.uow() as uow:
            call = _call(uow, call_id, for_update=True)
            due = self._set_callback(uow, call, reason, uow.clock())
            uow.commit()
        return {"call_id": call_id, "reason": reason if call.callback_reason is None else call.callback_reason,
                "due_at": due}

    def callback_done(self, org_id: int, call_id: int, actor: Actor) -> None:
        with self.uow() as uow:
            call = _call(uow, call_id, for_update=True, org_id=org_id)
            if call.callback_reason is None:
                raise ValidationError(f"Call {call_id} has no callback task.", field="call_id")
            if call.callback_done_at is None:
                now = uow.clock()
                uow.session.execute(sa.update(tc.calls).where(tc.calls.c.id == call_id).values(callback_done_at=now))
                uow.audit(org_id, actor, "call", call_id, "callback_done", {"at": now})
                uow.commit()

    # -- one entry point for a worker ------------------------------------------------------------------------------
    def invoke(self, op: str, args: dict, *, org_id: int | None, call_id: int | None) -> tuple[bool, dict]:
        """Carry out an IVR ``Invoke(op, args)`` and give ``(ok, data)`` for ``InvokeResult``: ops about the
        organisation get ``org_id``, ops about the call get ``call_id``; nothing found is ``not_found``, a list is
        ``{"items": [...]}``, an unreachable database is ``db_down`` (the caller spools what must not be lost), a
        refused input is the domain error's code. Any other exception propagates."""
        method = INVOKE_OPS.get(op)
        if method is None:
            return False, {"error": "unknown_op"}
        first = org_id if op in ORG_OPS else call_id
        if first is None:
            return False, {"error": "db_down" if op not in ORG_OPS else "no_org"}
        try:
            data = getattr(self, method)(first, **dict(args))
        except sa.exc.DBAPIError as exc:
            if exc.connection_invalidated or isinstance(exc, (sa.exc.OperationalError, sa.exc.InterfaceError)):
                return False, {"error": "db_down"}
            raise
        except DomainError as exc:
            return False, {"error": exc.code, "message": str(exc)}
        if data is None or data == []:
            return False, {"error": "not_found"}
        return True, {"items": data} if isinstance(data, list) else dict(data)

    # -- recordings ------------------------------------------------------------------------------------------------
    def attach_recording(self, *, call_id: int, kind: str, path: str | Path, request_id: int | None = None) -> int:
        """Store a WAV in the BlobStore with its checksum, duration and format, linked to the call and its request;
        emits "recording.stored". Storing the same audio again returns the first recording."""
        if kind not in d.RECORDING_KINDS:
            raise ValidationError(f"'{kind}' is not a recording kind; use one of: {', '.join(d.RECORDING_KINDS)}",
                                  field="kind")
        duration, rate, fmt = _wav_facts(Path(path))
        with open(path, "rb") as fh:
            blob = self.blobs.put(fh, max_bytes=MAX_RECORDING_BYTES)
        with self.uow() as uow:
            call = _call(uow, call_id)
            request_id = request_id or call.request_id
            r = tc.recordings.c
            found = uow.session.scalar(sa.select(r.id).where(r.call_id == call_id, r.kind == kind,
                                                             r.sha256 == blob.sha256))
            if found is not None:
                return found
            rec_id = uow.session.execute(sa.insert(tc.recordings).values(
                org_id=call.org_id, call_id=call_id, request_id=request_id, kind=kind, blob_key=blob.key,
                sha256=blob.sha256, size=blob.size, duration_s=duration, format=fmt, sample_rate=rate,
                created_at=uow.clock()).returning(r.id)).scalar_one()
            uow.emit(DomainEvent("recording.stored", call.org_id, request_id,
                                 {"recording_id": rec_id, "call_id": call_id, "request_id": request_id,
                                  "kind": kind}))
            uow.commit()
            return rec_id

    # -- helpers ---------------------------------------------------------------------------------------------------
    def _set_callback(self, uow: UnitOfWork, call, reason: str, at: datetime) -> datetime | None:
        if call.callback_reason is not None:
            return call.callback_due_at
        if _phone_or_none(call.from_number) is None:  # anonymous: nobody to call back
            return None
        due = d.callback_due(at)
        uow.session.execute(sa.update(tc.calls).where(tc.calls.c.id == call.id)
                            .values(callback_reason=reason, callback_due_at=due))
        uow.emit(DomainEvent("call.callback_requested", call.org_id, call.request_id,
                             {"call_id": call.id, "reason": reason, "due_at": due,
                              "from_number": call.from_number}))
        return due

    def _registered(self, org_id: int, request_id: int) -> dict:
        q = t.requests.c
        with self.uow() as uow:
            row = uow.session.execute(sa.select(q.number, q.status, q.due_at, t.organisations.c.timezone)
                                      .join(t.organisations, t.organisations.c.id == q.org_id)
                                      .where(q.id == request_id)).one()
        return {"request_id": request_id, "number": row.number, "status": row.status, "due_at": row.due_at,
                "due_local": _local(row.due_at, row.timezone)}


def _call(uow: UnitOfWork, call_id: int, *, for_update: bool = False, org_id: int | None = None):
    stmt = sa.select(tc.calls).where(tc.calls.c.id == call_id)
    if org_id is not None:
        stmt = stmt.where(tc.calls.c.org_id == org_id)
    if for_update:
        stmt = stmt.with_for_update()
    row = uow.session.execute(stmt).one_or_none()
    if row is None:
        raise NotFound(f"Call {call_id} does not exist.")
    return row


def _settings(value) -> dict:
    if isinstance(value, str):
        value = json.loads(value)
    return value if isinstance(value, dict) else {}


def _local(at: datetime | None, tz: str) -> datetime | None:
    return at.astimezone(ZoneInfo(tz)) if at is not None else None


def _clip(value: str | None, length: int) -> str | None:
    return value[:length] if isinstance(value, str) else value


def _phone_or_none(raw: str | None) -> str | None:
    try:
        return maybe_phone(raw)
    except ValidationError:
        return None


def _wav_facts(path: Path) -> tuple[float, int, str]:
    """(duration_s, sample_rate, format) of a WAV; a header left unfinished by a dropped call is read from the size
    of the data that follows it (8 kHz 16-bit mono assumed, as the workers write)."""
    try:
        with wave.open(str(path), "rb") as w:
            rate, frames, width, channels = w.getframerate(), w.getnframes(), w.getsampwidth(), w.getnchannels()
        if frames > 0:
            return frames / float(rate), rate, f"wav/pcm_s{8 * width}le" + ("" if channels == 1 else f"x{channels}")
    except (wave.Error, EOFError):
        pass
    size = max(0, path.stat().st_size - 44)
    return size / 16000.0, 8000, "wav/pcm_s16le"
