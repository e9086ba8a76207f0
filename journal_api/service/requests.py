"""Requests: register, read, list, move through the flow, assign, correct, comment, attach, rate."""
from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import datetime
from typing import BinaryIO, Callable

import sqlalchemy as sa
from sqlalchemy.orm import joinedload

from recordings.store import BlobStore, sniff_type

from ..domain.errors import Conflict, CrossOrganisation, Forbidden, NotFound, UnknownReference, ValidationError
from ..domain.events import Actor
from ..domain.phones import DEFAULT_REGION, maybe_phone
from ..domain.registry import Building, Organisation, Resident, Staff
from ..domain.request import Attachment, HistoryEntry, Rating, Request
from ..storage import tables as t
from .assignment import AssignmentService
from .deadlines import DeadlinePolicy
from .registration import references_and_number
from .queries import RequestFilter, build_list_query, building_ids_query, encode_cursor, sort_key
from .uow import UnitOfWork


@dataclass
class NewRequest:
    description: str
    work_type: str = "other"
    urgency: str | None = None  # None: the catalogue reason's urgency, else "normal"
    channel: str = "api"
    caller_phone: str | None = None
    caller_name: str | None = None
    building_id: int | None = None
    building_code: str | None = None
    apartment: int | None = None
    entrance: int | None = None
    floor: int | None = None
    reason: str | None = None
    answered_at: datetime | None = None


@dataclass
class Page:
    items: list[Request]
    next_cursor: str | None


class RequestService:
    def __init__(self, uow_factory: Callable[[], UnitOfWork], deadlines: DeadlinePolicy, blobs: BlobStore,
                 max_upload_bytes: int, assignment: AssignmentService | None = None):
        self.uow = uow_factory
        self.deadlines = deadlines
        self.blobs = blobs
        self.max_upload_bytes = max_upload_bytes
        self.assignment = assignment  # None: requests wait for a dispatcher to assign them

    # -- reading -------------------------------------------------------------------------------------------------
    def get(self, org_id: int, number: int, actor: Actor) -> Request:
        with self.uow() as uow:
            return _load(uow, org_id, number, actor)

    def list(self, org_id: int, actor: Actor, f: RequestFilter, *, cursor: str | None = None,
             limit: int = 50) -> Page:
        with self.uow() as uow:
            only = actor.id if actor.role == "technician" else None
            places = building_ids_query(org_id, f)
            ids = None if places is None else list(uow.session.scalars(places))
            stmt = build_list_query(org_id, f, now=uow.clock(), only_assignee=only, cursor=cursor, limit=limit,
                                    building_ids=ids)
            rows = list(uow.session.scalars(stmt).unique())
        more = len(rows) > limit
        rows = rows[:limit]
        nxt = encode_cursor(sort_key(rows[-1], f.sort), rows[-1].id) if more and rows else None
        return Page(rows, nxt)

    def history(self, org_id: int, number: int, actor: Actor) -> list[HistoryEntry]:
        with self.uow() as uow:
            request = _load(uow, org_id, number, actor)
            stmt = sa.select(HistoryEntry).where(t.request_events.c.request_id == request.id) \
                .order_by(t.request_events.c.id)
            return list(uow.session.scalars(stmt))

    def attachments(self, org_id: int, number: int, actor: Actor) -> list[Attachment]:
        with self.uow() as uow:
            request = _load(uow, org_id, number, actor)
            stmt = sa.select(Attachment).where(t.attachments.c.request_id == request.id) \
                .order_by(t.attachments.c.id)
            return list(uow.session.scalars(stmt))

    def attachment(self, org_id: int, attachment_id: int, actor: Actor) -> tuple[Attachment, Request]:
        with self.uow() as uow:
            att = uow.session.get(Attachment, attachment_id)
            if att is None or att.org_id != org_id:
                raise NotFound(f"Attachment {attachment_id} does not exist in your organisation.")
            request = uow.session.get(Request, att.request_id)
            _check_visible(request, actor)
            return att, request

    def rating(self, org_id: int, number: int, actor: Actor) -> Rating | None:
        with self.uow() as uow:
            request = _load(uow, org_id, number, actor)
            return uow.session.scalar(sa.select(Rating).where(t.ratings.c.request_id == request.id))

    # -- writing -------------------------------------------------------------------------------------------------
    def register(self, org_id: int, actor: Actor, data: NewRequest) -> Request:
        if actor.role == "technician":
            raise CrossOrganisation("A technician cannot register requests through the API.")
        with self.uow() as uow:
            s = uow.session
            refs = references_and_number(uow, org_id, data.work_type, data.building_id, data.building_code,
                                         with_people=self.assignment is not None)
            org, building, people = refs.org, refs.building, refs.people
            phone = maybe_phone(data.caller_phone, region=org.phone_region, field="caller_phone")
            apartment = data.apartment
            if building is None and phone and data.channel in ("phone", "sms"):
                building, apartment = _place_of_caller(uow, org_id, phone, apartment)
                people = None  # the caller's building: the assignment reads its people itself
            reason = self.deadlines.reason(data.work_type, data.reason)  # a code of another work type: refused
            urgency = data.urgency or (reason.urgency if reason else "normal")
            now = uow.clock()
            request = Request(org_id=org_id, number=refs.number, channel=data.channel,
                              description=data.description, work_type=data.work_type, urgency=urgency,
                              registered_at=now, building=building, caller_phone=phone,
                              caller_name=data.caller_name, apartment=apartment, entrance=data.entrance,
                              floor=data.floor, answered_at=data.answered_at, reason=data.reason)
            request.registered(actor, self.deadlines.deadlines_for(request, org_id, now, session=s))
            if self.assignment is not None:  # after the deadlines: they bound the search for someone on shift
                self.assignment.auto_assign(uow, org_id, request, now, people=people)
            uow.commit_new(request)  # inserted once, with its assignee or attention flag, its history and outbox
            return request

    def transition(self, org_id: int, number: int, actor: Actor, channel: str, to: str, *, reason=None,
                   until=None, report=None) -> Request:
        with self.uow() as uow:
            request = _load(uow, org_id, number, actor, for_update=True)
            now = uow.clock()
            request.transition(to, actor, channel, now, reason=reason, until=until, report=report)
            if request.status == "impossible" and self.assignment is not None:  # someone else may be able to
                self.assignment.auto_assign(uow, org_id, request, now, trigger="impossible")
            uow.track(request)
            uow.commit()
            return request

    def assign(self, org_id: int, number: int, actor: Actor, channel: str, staff_id: int | None, *,
               reason: str | None = None) -> Request:
        with self.uow() as uow:
            request = _load(uow, org_id, number, actor, for_update=True)
            staff = None
            if staff_id is not None:
                staff = uow.session.get(Staff, staff_id)
                if staff is None or staff.org_id != org_id:
                    raise UnknownReference(f"Staff member {staff_id} does not exist in your organisation.",
                                           field="staff_id")
            request.assign(staff, actor, channel, uow.clock(), reason=reason)
            uow.track(request)
            uow.commit()
            return request

    def auto_assign(self, org_id: int, number: int, actor: Actor) -> Request:
        """Run the automatic assignment now (a dispatcher's "assign automatically")."""
        if actor.role == "technician" or self.assignment is None:
            raise Forbidden("Automatic assignment is for dispatchers, managers and admins.")
        with self.uow() as uow:
            request = _load(uow, org_id, number, actor, for_update=True)
            if not request.is_open:
                raise Conflict(f"Request {number} is '{request.status}'; only an open request can be assigned.")
            self.assignment.auto_assign(uow, org_id, request, uow.clock())
            uow.commit()
            return request

    def update(self, org_id: int, number: int, actor: Actor, channel: str, changes: dict, *,
               building_id: int | None = None, building_code: str | None = None,
               building_given: bool = False) -> Request:
        with self.uow() as uow:
            request = _load(uow, org_id, number, actor, for_update=True)
            org, building = None, None
            if building_given or "work_type" in changes:
                org, building = _references(uow, org_id, changes.get("work_type"), building_id, building_code)
            if "caller_phone" in changes and org is None:  # read in the organisation's region, as at registration
                org = _org(uow, org_id)
            now = uow.clock()
            changed = request.update(dict(changes), actor, channel, now, building=building,
                                     building_given=building_given,
                                     phone_region=org.phone_region if org is not None else DEFAULT_REGION)
            if {"urgency", "work_type", "reason"} & set(changed):  # what the deadline rules depend on
                request.apply_deadlines(self.deadlines.deadlines_for(request, org_id, now), actor, channel, now)
            uow.track(request)
            uow.commit()
            return request

    def localise(self, org_id: int, number: int, actor: Actor, channel: str, *, note: str | None = None) -> Request:
        with self.uow() as uow:
            request = _load(uow, org_id, number, actor, for_update=True)
            request.localise(actor, channel, uow.clock(), note=note)
            uow.track(request)
            uow.commit()
            return request

    def comment(self, org_id: int, number: int, actor: Actor, channel: str, text: str) -> Request:
        with self.uow() as uow:
            request = _load(uow, org_id, number, actor, for_update=True)
            request.comment(text, actor, channel, uow.clock())
            uow.track(request)
            uow.commit()
            return request

    def message_resident(self, org_id: int, number: int, actor: Actor, channel: str, text: str) -> Request:
        """A message to the resident: in the history, and texted to him after commit (the notifier's part)."""
        with self.uow() as uow:
            request = _load(uow, org_id, number, actor, for_update=True)
            request.message_resident(text, actor, channel, uow.clock())
            uow.track(request)
            uow.commit()
            return request

    def send_link(self, org_id: int, number: int, actor: Actor, channel: str, audience: str) -> Request:
        """A link to the technician's (or the resident's) page, sent by SMS: in the history, and made and texted
        after commit (the notifier's part, event "request.link_sent"). A resident who said СТОП is refused here:
        the notifier would store his SMS unsent."""
        with self.uow() as uow:
            request = _load(uow, org_id, number, actor, for_update=True)
            if audience == "resident" and request.caller_phone and _opted_out(uow, org_id, request.caller_phone):
                raise ValidationError("The resident has opted out of SMS (STOP).", field="sms_opt_out")
            request.link_sent(audience, actor, channel, uow.clock())
            uow.track(request)
            uow.commit()
            return request

    def attach(self, org_id: int, number: int, actor: Actor, channel: str, *, kind: str, filename: str,
               content_type: str, stream: BinaryIO, expected_sha256: str | None = None) -> Attachment:
        with self.uow() as uow:
            request = _load(uow, org_id, number, actor, for_update=True)
            sniff_type(kind, content_type, stream)
            # Checked before the blob is written, so a refused upload leaves no file behind.
            att = Attachment(org_id=org_id, request_id=request.id, kind=kind, filename=filename,
                             content_type=content_type, size=0, sha256="", storage_key="", created_at=uow.clock(),
                             created_by=actor.name)
            stored = self.blobs.put(stream, max_bytes=self.max_upload_bytes, expected_sha256=expected_sha256)
            att.size, att.sha256, att.storage_key = stored.size, stored.sha256, stored.key
            uow.session.add(att)
            request.attached(att, actor, channel, uow.clock())
            uow.track(request)
            uow.commit()
            return att

    def rate(self, org_id: int, number: int, actor: Actor, channel: str, score, comment: str | None = None,
             phone: str | None = None) -> Rating:
        with self.uow() as uow:
            request = _load(uow, org_id, number, actor, for_update=True)
            if uow.session.scalar(sa.select(t.ratings.c.id).where(t.ratings.c.request_id == request.id)):
                raise Conflict(f"Request {number} has already been rated.", field="score")
            phone = maybe_phone(phone, region=_org(uow, org_id).phone_region, field="phone")
            rating = Rating(org_id=org_id, request_id=request.id, score=score, comment=comment,
                            created_at=uow.clock(), phone=phone)
            request.rate(rating, actor, channel, uow.clock())
            uow.session.add(rating)
            uow.track(request)
            uow.commit()
            return rating


# -- helpers shared by the methods above ----------------------------------------------------------------------------
def _org(uow: UnitOfWork, org_id: int) -> Organisation:
    org = uow.session.get(Organisation, org_id)
    if org is None:
        raise NotFound(f"Organisation {org_id} does not exist.")
    return org


def _opted_out(uow: UnitOfWork, org_id: int, phone: str) -> bool:
    from ..storage.tables_messages import sms_opt_outs as o

    return uow.session.scalar(sa.select(o.c.id).where(o.c.org_id == org_id, o.c.phone == phone)) is not None


def _check_visible(request: Request, actor: Actor) -> None:
    if actor.role == "technician" and request.assignee_id != actor.id:
        raise NotFound(f"Request {request.number} is not assigned to you.")


def _load(uow: UnitOfWork, org_id: int, number: int, actor: Actor, *, for_update: bool = False) -> Request:
    stmt = sa.select(Request).where(t.requests.c.org_id == org_id, t.requests.c.number == number)
    if for_update:  # a row lock: concurrent writers of one request queue up, so no history entry is lost
        stmt = stmt.with_for_update(of=t.requests)
    request = uow.session.scalars(stmt).unique().one_or_none()
    if request is None:
        raise NotFound(f"Request {number} does not exist in your organisation.")
    _check_visible(request, actor)
    return request


# The reference check of a correction: its statements are built once (per shape) and run with parameters.
@functools.lru_cache(maxsize=None)
def _references_statement(work_type: bool, by_id: bool, by_code: bool) -> sa.Select:
    o, w, b = t.organisations.c, t.work_types.c, t.buildings.c
    stmt = sa.select(Organisation).where(o.id == sa.bindparam("org_id"))
    if work_type:
        stmt = stmt.add_columns(w.active).outerjoin(
            t.work_types, sa.and_(w.org_id == o.id, w.code == sa.bindparam("work_type")))
    if by_id or by_code:
        place = b.id == sa.bindparam("building_id") if by_id else b.code == sa.bindparam("building_code")
        stmt = stmt.add_columns(Building).outerjoin(Building, sa.and_(b.org_id == o.id, place)) \
            .options(joinedload(Building.city, innerjoin=False))  # an inner join would lose a missing building's row
    return stmt


def _references(uow: UnitOfWork, org_id: int, work_type: str | None, building_id: int | None,
                building_code: str | None) -> tuple[Organisation, Building | None]:
    """Check what a request refers to, in one query: the work type, when given, must be active in the organisation;
    the building, when named by id or code, must be the organisation's. Returns the organisation (now in the
    session, so reading it again costs no query) and the building."""
    by_id, by_code = building_id is not None, building_id is None and bool(building_code)
    stmt = _references_statement(work_type is not None, by_id, by_code)
    row = uow.session.execute(stmt, {"org_id": org_id, "work_type": work_type, "building_id": building_id,
                                     "building_code": building_code}).unique().one_or_none()
    if row is None:
        raise NotFound(f"Organisation {org_id} does not exist.")
    if work_type is not None and not row.active:
        raise UnknownReference(f"Work type '{work_type}' is not active in your organisation.", field="work_type")
    building = row.Building if by_id or by_code else None
    if (by_id or by_code) and building is None:
        what = building_id if by_id else f"'{building_code}'"
        raise UnknownReference(f"Building {what} does not exist in your organisation.", field="building")
    return row.Organisation, building


def _place_of_caller(uow: UnitOfWork, org_id: int, phone: str, apartment: int | None):
    """A known resident's phone gives the building and apartment, when it names exactly one place."""
    rows = list(uow.session.scalars(sa.select(Resident).where(
        t.residents.c.org_id == org_id, t.residents.c.phone == phone, t.residents.c.building_id.is_not(None))))
    if len(rows) != 1:
        return None, apartment
    return uow.session.get(Building, rows[0].building_id), apartment if apartment is not None else rows[0].apartment
