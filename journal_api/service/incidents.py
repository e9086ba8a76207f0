"""Known incidents (issue 8 §3): detection after each registration, the dispatcher's decisions, what the IVR tells
callers, and the closing SMS (docs/incidents.md).

- :meth:`IncidentService.detect` runs for every ``request.registered`` (the outbox handler :func:`on_registered`,
  subscribed by :func:`subscribe`). On PostgreSQL it takes a transaction-scoped advisory lock per organisation and
  work type, so two registrations detected at the same moment never open two incidents for one place.
- A proposed incident waits for the dispatcher (open/confirm or dismiss); one that reaches ``open_at`` requests opens
  by itself. ``incident.proposed``, ``incident.opened`` and ``incident.closed`` go to the outbox.
- :meth:`IncidentService.for_caller`: the open incident of the caller's building (and work type), for the IVR.
- Closing emits ``incident.closed`` with every resident who called (one entry per phone number); the notifier's
  handler (``notifier/incident_sms.py``) sends each of them one SMS through its outbox.
"""
from __future__ import annotations

import zlib
from dataclasses import dataclass
from datetime import datetime
from typing import Callable
from zoneinfo import ZoneInfo

import sqlalchemy as sa

from ..catalogue import label
from ..domain import incidents as d
from ..domain.calls import address_text
from ..domain.errors import NotFound, ValidationError
from ..domain.events import Actor, DomainEvent
from ..domain.phones import maybe_phone
from ..storage import tables as t
from ..storage.tables_incidents import incident_requests as ir
from ..storage.tables_incidents import incidents as inc
from .uow import UnitOfWork

AUTO = Actor.system("incidents")
I, IR, R, B = inc.c, ir.c, t.requests.c, t.buildings.c


@dataclass
class IncidentSettings:
    """``[incidents]`` in the config file (``HOTLINE_INCIDENTS_*``); an organisation's settings may override them
    with ``{"incidents": {"window_minutes": .., "propose_at": .., "open_at": .., "scopes": {...}}}``."""

    window_minutes: float = 30.0
    propose_at: int = 3
    open_at: int = 8


class IncidentService:
    def __init__(self, uow_factory: Callable[[], UnitOfWork], settings: IncidentSettings | None = None):
        self.uow = uow_factory
        if settings is None:
            from ..config import load_section

            settings = load_section(IncidentSettings, "incidents")
        self.settings = settings

    def rules(self, org_settings: dict | None) -> d.IncidentRules:
        base = {"window_minutes": self.settings.window_minutes, "propose_at": self.settings.propose_at,
                "open_at": self.settings.open_at}
        own = (org_settings or {}).get("incidents") if isinstance(org_settings, dict) else None
        return d.IncidentRules.from_settings({**base, **(own or {})})

    # -- detection -----------------------------------------------------------------------------------------------
    def detect(self, request_id: int) -> dict | None:
        """Group a registered request: join, propose or open an incident. Idempotent (a request joins once)."""
        with self.uow() as uow:
            s = uow.session
            row = s.execute(_sightings().where(R.id == request_id)).one_or_none()
            if row is None or row.building_id is None:
                return None
            org_settings = s.scalar(sa.select(t.organisations.c.settings).where(t.organisations.c.id == row.org_id))
            rules = self.rules(org_settings if isinstance(org_settings, dict) else None)
            if not d.keys(_sighting(row), rules):
                return None
            if s.get_bind().dialect.name == "postgresql":
                s.execute(sa.select(sa.func.pg_advisory_xact_lock(row.org_id, _int32(row.work_type))))
                row = s.execute(_sightings().where(R.id == request_id)).one()
            new = _sighting(row)
            active = [d.Active(a.id, a.work_type, a.scope, a.scope_key, a.status, a.requests_count)
                      for a in s.execute(sa.select(inc).where(I.org_id == row.org_id, I.work_type == row.work_type,
                                                              I.status.in_(d.ACTIVE)))]
            decision = d.decide(new, [], active, rules)  # joining a known incident needs no history
            recent: list = []
            if decision.action == "none":
                recent = [_sighting(r) for r in s.execute(_sightings().where(
                    R.org_id == row.org_id, R.work_type == row.work_type, R.id != request_id,
                    IR.incident_id.is_(None), R.registered_at >= row.registered_at - rules.window,
                    R.registered_at <= row.registered_at))]
                decision = d.decide(new, recent, active, rules)
            if decision.action == "none":
                return None
            now = uow.clock()
            if decision.action == "join":
                incident_id = decision.incident_id
                self._add(uow, row.org_id, incident_id, decision.request_ids, now)
                values = {"requests_count": I.requests_count + 1,
                          "last_at": sa.case((I.last_at < new.at, new.at), else_=I.last_at)}
                if decision.open_now:
                    values.update(status="open", opened_at=now, opened_by=AUTO.name, auto=True)
                s.execute(sa.update(inc).where(I.id == incident_id).values(**values))
                if decision.open_now:
                    uow.emit(DomainEvent("incident.opened", row.org_id, None, {"incident_id": incident_id,
                                                                                "auto": True}))
            else:
                incident_id = self._create(uow, row, decision, recent + [new], now)
            uow.commit()
        return {"incident_id": incident_id, "action": decision.action, "scope": decision.scope}

    def _create(self, uow: UnitOfWork, row, decision: d.Decision, seen: list, now: datetime) -> int:
        s = uow.session
        members = [x for x in seen if x.request_id in decision.request_ids]
        opened = decision.action == "open"
        building_ids, place = self._place(s, row, decision.scope)
        incident_id = s.execute(sa.insert(inc).values(
            org_id=row.org_id, status="open" if opened else "proposed", work_type=row.work_type,
            scope=decision.scope, scope_key=decision.scope_key, building_ids=building_ids,
            title=f"{label('work_types', row.work_type)}: {place}", auto=opened, requests_count=len(members),
            first_at=min(m.at for m in members), last_at=max(m.at for m in members), created_at=now,
            opened_at=now if opened else None, opened_by=AUTO.name if opened else None).returning(I.id)).scalar_one()
        self._add(uow, row.org_id, incident_id, decision.request_ids, now)
        uow.emit(DomainEvent("incident.opened" if opened else "incident.proposed", row.org_id, None,
                             {"incident_id": incident_id, "auto": opened, "requests": len(members)}))
        return incident_id

    @staticmethod
    def _add(uow: UnitOfWork, org_id: int, incident_id: int, request_ids, now: datetime) -> None:
        uow.session.execute(sa.insert(ir), [{"incident_id": incident_id, "request_id": rid, "org_id": org_id,
                                             "added_at": now} for rid in request_ids])

    @staticmethod
    def _place(s, row, scope: str) -> tuple[list[int], str]:
        address = address_text(row.street, row.house, row.korpus)
        if scope == "street":
            key = d.street_key(row.city_id, row.street)
            same = [b.id for b in s.execute(sa.select(B.id, B.city_id, B.street).where(
                B.org_id == row.org_id, B.city_id == row.city_id, B.active.is_(True)))
                if d.street_key(b.city_id, b.street) == key]
            return sorted(set(same) | {row.building_id}), row.street
        if scope == "riser":
            entrance, riser = (part[1:] for part in _riser(row).split(":")[1:])
            return [row.building_id], f"{address}, подъезд {entrance}, стояк {riser}"
        return [row.building_id], address

    # -- the dispatcher's decisions ------------------------------------------------------------------------------
    def open(self, org_id: int, incident_id: int, actor: Actor, *, public_note: str | None = None,
             eta: datetime | None = None) -> dict:
        """Confirm a proposed incident, or change the note and ETA of an open one (what the IVR says)."""
        with self.uow() as uow:
            row = _incident(uow, org_id, incident_id, for_update=True)
            if row.status not in d.ACTIVE:
                raise ValidationError(f"Incident {incident_id} is {row.status}; only a proposed or open one can be "
                                      "opened.", field="status")
            values = {"public_note": public_note if public_note is not None else row.public_note,
                      "eta": eta if eta is not None else row.eta}
            if row.status == "proposed":
                values.update(status="open", opened_at=uow.clock(), opened_by=actor.name or actor.kind)
                uow.emit(DomainEvent("incident.opened", org_id, None, {"incident_id": incident_id, "auto": False}))
            uow.session.execute(sa.update(inc).where(I.id == incident_id).values(**values))
            uow.audit(org_id, actor, "incident", incident_id, "open", values)
            uow.commit()
        return self.get(org_id, incident_id)

    def dismiss(self, org_id: int, incident_id: int, actor: Actor) -> dict:
        """Not an incident: it is never announced; its requests stay grouped so they do not propose it again."""
        return self._finish(org_id, incident_id, actor, "dismissed", ("proposed",), None)

    def close(self, org_id: int, incident_id: int, actor: Actor, *, note: str | None = None) -> dict:
        """Close an open incident: the IVR stops announcing it and every resident who called gets one SMS."""
        return self._finish(org_id, incident_id, actor, "closed", ("open",), note)

    def _finish(self, org_id, incident_id, actor, status, allowed, note) -> dict:
        with self.uow() as uow:
            row = _incident(uow, org_id, incident_id, for_update=True)
            if row.status not in allowed:
                raise ValidationError(f"Incident {incident_id} is {row.status}; it cannot become {status}.",
                                      field="status")
            now = uow.clock()
            uow.session.execute(sa.update(inc).where(I.id == incident_id).values(
                status=status, closed_at=now, closed_by=actor.name or actor.kind, close_note=note))
            uow.audit(org_id, actor, "incident", incident_id, status, {"note": note})
            if status == "closed":
                uow.emit(DomainEvent("incident.closed", org_id, None, {
                    "incident_id": incident_id, "work_type": row.work_type, "title": row.title, "note": note,
                    "residents": self._residents(uow, org_id, incident_id)}))
            uow.commit()
        return self.get(org_id, incident_id)

    @staticmethod
    def _residents(uow: UnitOfWork, org_id: int, incident_id: int) -> list[dict]:
        """One entry per phone number that called about the incident (its first request)."""
        rows = uow.session.execute(sa.select(R.id, R.number, R.caller_phone).join(ir, IR.request_id == R.id).where(
            IR.incident_id == incident_id, R.org_id == org_id, R.caller_phone.is_not(None)).order_by(R.number)).all()
        seen: dict[str, dict] = {}
        for r in rows:
            seen.setdefault(r.caller_phone, {"phone": r.caller_phone, "request_id": r.id, "number": r.number})
        return list(seen.values())

    # -- reading -------------------------------------------------------------------------------------------------
    def find(self, org_id: int, *, status: str | None = None, statuses: tuple[str, ...] = ()) -> list[dict]:
        with self.uow() as uow:
            q = sa.select(inc).where(I.org_id == org_id).order_by(I.id.desc())
            if status:
                q = q.where(I.status == status)
            if statuses:
                q = q.where(I.status.in_(statuses))
            rows = uow.session.execute(q.limit(200)).all()
            numbers = _numbers(uow, [r.id for r in rows])
        return [_dump(r, numbers.get(r.id, [])) for r in rows]

    def active(self, org_id: int) -> list[dict]:
        """Proposed and open incidents, newest first: what the live board shows."""
        return self.find(org_id, statuses=tuple(sorted(d.ACTIVE)))

    def get(self, org_id: int, incident_id: int) -> dict:
        with self.uow() as uow:
            row = _incident(uow, org_id, incident_id)
            return _dump(row, _numbers(uow, [incident_id]).get(incident_id, []))

    def for_caller(self, org_id: int, *, building_id: int | None = None, phone: str | None = None,
                   work_type: str | None = None) -> dict | None:
        """The open incident of the caller's building (by ``building_id``, else the resident's phone), of the
        caller's work type when known. None for any building outside every open incident."""
        with self.uow() as uow:
            s = uow.session
            if building_id is None and phone:
                try:
                    phone = maybe_phone(phone)
                except ValidationError:
                    phone = None
                found = {b for b in s.scalars(sa.select(t.residents.c.building_id).where(
                    t.residents.c.org_id == org_id, t.residents.c.phone == phone)) if b} if phone else set()
                building_id = found.pop() if len(found) == 1 else None
            if building_id is None:
                return None
            q = sa.select(inc).where(I.org_id == org_id, I.status == "open").order_by(I.opened_at.desc())
            if work_type:
                q = q.where(I.work_type == work_type)
            tz = s.scalar(sa.select(t.organisations.c.timezone).where(t.organisations.c.id == org_id))
            for row in s.execute(q):
                if int(building_id) in [int(b) for b in row.building_ids or []]:
                    return {"incident_id": row.id, "incident_work_type": row.work_type,
                            "incident_eta": row.eta.astimezone(ZoneInfo(tz)) if row.eta else None,
                            "building_id": int(building_id)}
        return None


def incident_fields(uow_factory: Callable[[], UnitOfWork], org_id: int, building_ids) -> dict[int, dict]:
    """For the IVR's lookups (CallService.lookup_caller, buildings_for_apartment): ``{building_id:
    {"incident_work_type", "incident_eta"}}`` for the given buildings that an open incident covers (the most
    recently opened one); buildings outside every open incident are absent, so nothing is announced for them."""
    wanted = {int(b) for b in building_ids if b is not None}
    if not wanted:
        return {}
    out: dict[int, dict] = {}
    with uow_factory() as uow:
        s = uow.session
        rows = s.execute(sa.select(I.work_type, I.eta, I.building_ids).where(I.org_id == org_id, I.status == "open")
                         .order_by(I.opened_at.desc(), I.id.desc())).all()
        if not rows:
            return {}
        tz = ZoneInfo(s.scalar(sa.select(t.organisations.c.timezone).where(t.organisations.c.id == org_id)))
    for row in rows:
        for b in wanted & {int(x) for x in row.building_ids or []}:
            out.setdefault(b, {"incident_work_type": row.work_type,
                               "incident_eta": row.eta.astimezone(tz) if row.eta else None})
    return out


# -- the worker's subscription ----------------------------------------------------------------------------------------
def on_registered(container, row) -> None:
    """Outbox handler of ``request.registered`` (idempotent: a request joins at most one incident)."""
    if row.request_id is not None:
        IncidentService(container.uow).detect(row.request_id)


def subscribe() -> None:
    """Called by the journal's worker at start (the lead wires it): detection after every registration."""
    from ..jobs import subscribe as on

    on("request.registered", on_registered)


# -- helpers --------------------------------------------------------------------------------------------------------
def _sightings():
    return (sa.select(R.id, R.org_id, R.registered_at, R.work_type, R.building_id, R.apartment, B.city_id, B.street,
                      B.house, B.korpus, B.entrances, B.floors, B.apartments, IR.incident_id)
            .join(t.buildings, B.id == R.building_id).outerjoin(ir, IR.request_id == R.id))


def _riser(row) -> str | None:
    return d.riser_key(row.building_id, row.apartment, entrances=row.entrances, floors=row.floors,
                       apartments=row.apartments)


def _sighting(row) -> d.Sighting:
    place = d.Place(row.building_id, d.street_key(row.city_id, row.street), _riser(row))
    return d.Sighting(row.id, row.registered_at, row.work_type, place, row.incident_id)


def _int32(text: str) -> int:
    value = zlib.crc32(text.encode())
    return value - 2 ** 32 if value >= 2 ** 31 else value


def _incident(uow: UnitOfWork, org_id: int, incident_id: int, *, for_update: bool = False):
    q = sa.select(inc).where(I.id == incident_id, I.org_id == org_id)
    row = uow.session.execute(q.with_for_update() if for_update else q).one_or_none()
    if row is None:
        raise NotFound(f"Incident {incident_id} does not exist.")
    return row


def _numbers(uow: UnitOfWork, ids: list[int]) -> dict[int, list[int]]:
    out: dict[int, list[int]] = {}
    if ids:
        for r in uow.session.execute(sa.select(IR.incident_id, R.number).join(t.requests, R.id == IR.request_id)
                                     .where(IR.incident_id.in_(ids)).order_by(R.number)):
            out.setdefault(r.incident_id, []).append(r.number)
    return out


def _dump(row, numbers: list[int]) -> dict:
    return {"id": row.id, "status": row.status, "work_type": row.work_type, "scope": row.scope, "title": row.title,
            "building_ids": list(row.building_ids or []), "public_note": row.public_note, "eta": row.eta,
            "auto": row.auto, "requests_count": row.requests_count, "request_numbers": numbers,
            "first_at": row.first_at, "last_at": row.last_at, "created_at": row.created_at,
            "opened_at": row.opened_at, "closed_at": row.closed_at, "close_note": row.close_note}
