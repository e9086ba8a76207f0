"""Inbound SMS: who sent it, what it asks, and the reply. State changes go through the journal's RequestService
with channel "sms"; every inbound message is stored (inbound_messages) with its outcome, and every refusal gets a
short helpful reply and changes nothing.

Senders are matched by their E.164 number: an active staff member first, then a resident (the residents registry
or the caller of an earlier request), else unknown. A phone known in several organisations is matched to the one
whose SMS sender is the number the message was sent to, else the first.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from importlib.metadata import entry_points
from typing import Protocol

import sqlalchemy as sa

from journal_api.domain.errors import DomainError, InvalidPhone, NotFound
from journal_api.domain.events import Actor
from journal_api.domain.phones import normalize_phone
from journal_api.domain.status import OPEN_STATUSES
from journal_api.service.requests import NewRequest
from journal_api.storage import tables as t
from journal_api.storage.tables_messages import inbound_messages, sms_opt_outs

from . import compose
from .outbox import NewMessage
from .parse import Command, When, parse, resolve
from .settings import for_org

log = logging.getLogger(__name__)
_R, _S, _O = t.requests.c, t.staff.c, t.organisations.c
I = inbound_messages.c
TARGETS = {"accept": "accepted", "postpone": "postponed", "impossible": "impossible", "done": "done"}
_OPEN = sorted(s.value for s in OPEN_STATUSES)


class Extractor(Protocol):
    """Facts from a resident's free text (issue 5's extractor): {"work_type", "urgency", "apartment", ...}."""

    def __call__(self, text: str) -> dict: ...


def find_extractor() -> Extractor | None:
    """The text extractor another package offers (the notifier may not import the transcription package): a
    plugin's ``text_extractor()`` hook (journal_api.plugins), or an entry point of the group ``hotline.extractors``.
    None: new requests from SMS get work type "other" for the dispatcher to sort."""
    from journal_api.plugins import plugins

    try:
        for plugin in plugins():
            hook = getattr(plugin, "text_extractor", None)
            if hook is not None:
                return hook()
        for ep in sorted(entry_points(group="hotline.extractors"), key=lambda e: e.name):
            return ep.load()
    except Exception:
        log.exception("the text extractor cannot be loaded; SMS requests are registered without extraction")
    return None


LINKED_REPLIES = ("reply_resident_registered", "reply_resident_open")  # they carry the resident's page link
CONFIDENT = 0.5  # an extracted place field below this confidence is left for the dispatcher
# inbound_messages.outcome while a message is handled, and after its handling failed (a retry handles it again)
PROCESSING, FAILED = "received", "failed"
RECLAIM_AFTER = timedelta(minutes=2)  # a message "received" this long ago: its process died, a retry takes it


@dataclass(frozen=True)
class Sender:
    kind: str  # staff | resident | unknown
    org_id: int | None
    phone: str | None
    staff_id: int | None = None
    role: str | None = None
    name: str | None = None


@dataclass(frozen=True)
class Outcome:
    inbound_id: int | None
    outcome: str  # applied | refused | registered | commented | duplicate
    command: str | None
    reply_ids: tuple[int, ...] = ()


class InboundService:
    def __init__(self, notifier, extractor: Extractor | None = None):
        self.n = notifier
        self.c = notifier.c
        self.catalogue = notifier.catalogue
        self.extractor = extractor

    # -- entry -----------------------------------------------------------------------------------------------------
    def receive(self, *, provider: str, provider_message_id: str, sender: str, body: str,
                recipient: str | None = None, org_id: int | None = None) -> Outcome:
        """``org_id``: the organisation the webhook's own secret named (its staff and residents come first)."""
        now = self.c.clock()
        who = self.identify(sender, recipient, org_id)
        command = parse(body)
        with self.c.engine.begin() as conn:
            inbound_id = _insert_once(conn, dict(
                org_id=who.org_id, provider=provider, provider_message_id=provider_message_id[:80],
                sender=(who.phone or sender)[:32], recipient=(recipient or "")[:32] or None, body=body[:2000],
                received_at=now, sender_kind=who.kind, sender_id=who.staff_id, command=command.kind,
                outcome=PROCESSING)) or _reclaim(conn, provider, provider_message_id[:80], now)
        if inbound_id is None:
            return Outcome(None, "duplicate", command.kind)
        try:
            return self._handle(inbound_id, who, command, body, now)
        except BaseException:
            # Not handled: the provider's retry of this message (or a later one) handles it, it is no replay.
            with self.c.engine.begin() as conn:
                conn.execute(sa.update(inbound_messages).where(I.id == inbound_id, I.outcome == PROCESSING)
                             .values(outcome=FAILED))
            raise

    def _handle(self, inbound_id: int, who: Sender, command: Command, body: str, now: datetime) -> Outcome:
        outcome, template, fields, request_id = self.apply(who, command, body, now)
        if who.kind == "resident" and template in LINKED_REPLIES and request_id is not None:
            fields = dict(fields, link=self._resident_link(request_id))
        reply_ids: tuple[int, ...] = ()
        with self.c.engine.connect() as conn:
            item = self._reply(conn, who, template, fields, request_id, f"in{inbound_id}:reply") \
                if template and who.org_id is not None and who.phone else None
        if item is not None:  # before an opt-out: "стоп" is confirmed once
            reply_ids = tuple(self.n.queue([item]))
        with self.c.engine.begin() as conn:
            if command.kind == "stop" and who.kind == "resident":
                _opt_out(conn, who.org_id, who.phone, now)
            conn.execute(sa.update(inbound_messages).where(I.id == inbound_id)
                         .values(outcome=outcome, request_id=request_id, detail=template,
                                 reply_message_id=reply_ids[0] if reply_ids else None))
        return Outcome(inbound_id, outcome, command.kind, reply_ids)

    def identify(self, raw: str, recipient: str | None, org_id: int | None = None) -> Sender:
        try:
            phone = normalize_phone(raw)
        except InvalidPhone:
            return Sender("unknown", org_id or self._org_for(recipient), None)
        with self.c.engine.connect() as conn:
            staff = conn.execute(sa.select(_S.id, _S.org_id, _S.role, _S.full_name)
                                 .where(_S.phone == phone, _S.active.is_(True)).order_by(_S.id)).all()
            if org_id is not None:
                staff = [row for row in staff if row.org_id == org_id]
            if staff:
                chosen = self._prefer(conn, staff, recipient)
                return Sender("staff", chosen.org_id, phone, chosen.id, chosen.role, chosen.full_name)
            residents = conn.execute(sa.select(t.residents.c.org_id).where(t.residents.c.phone == phone)).all() \
                or conn.execute(sa.select(_R.org_id).where(_R.caller_phone == phone)
                                .order_by(_R.registered_at.desc()).limit(1)).all()
            if org_id is not None:
                residents = [row for row in residents if row.org_id == org_id]
            if residents:
                return Sender("resident", self._prefer(conn, residents, recipient).org_id, phone)
        return Sender("unknown", org_id or self._org_for(recipient), phone)

    def _prefer(self, conn, rows, recipient):
        if len(rows) > 1 and recipient:
            for row in rows:
                own = conn.execute(sa.select(_O.settings).where(_O.id == row.org_id)).scalar() or {}
                if (own.get("sms") or {}).get("sender") == recipient:
                    return row
        return rows[0]

    def _org_for(self, recipient: str | None) -> int | None:
        """The organisation an unknown sender wrote to (by its SMS sender), else the first one."""
        with self.c.engine.connect() as conn:
            orgs = conn.execute(sa.select(_O.id, _O.settings).order_by(_O.id)).all()
        for org in orgs:
            if recipient and ((org.settings or {}).get("sms") or {}).get("sender") == recipient:
                return org.id
        return orgs[0].id if orgs else None

    # -- what it does ------------------------------------------------------------------------------------------------
    def apply(self, who: Sender, cmd: Command, body: str, now: datetime):
        """-> (outcome, reply template, reply fields, request id)."""
        if who.kind == "unknown":
            return "refused", "reply_unknown_sender", {}, None
        if who.kind == "staff":
            return self._staff(who, cmd, now)
        return self._resident(who, cmd, body)

    def _staff(self, who: Sender, cmd: Command, now: datetime):
        if cmd.kind == "mine":
            return self._mine(who)
        if cmd.kind not in TARGETS:
            return "refused", "reply_malformed", {}, None
        with self.c.engine.connect() as conn:
            req = conn.execute(sa.select(_R.id, _R.assignee_id, _R.status)
                               .where(_R.org_id == who.org_id, _R.number == cmd.number)).first()
        if req is None:
            return "refused", "reply_unknown_request", {"number": cmd.number}, None
        if who.role == "technician" and req.assignee_id != who.staff_id:
            return "refused", "reply_foreign_request", {"number": cmd.number}, None
        actor = Actor(kind="staff", role=who.role, id=who.staff_id, name=who.name or "")
        kwargs: dict = {}
        if cmd.kind == "impossible":
            if not cmd.text:
                return "refused", "reply_impossible_needs_reason", {"number": cmd.number}, req.id
            kwargs["reason"] = cmd.text
        elif cmd.kind == "postpone":
            tz = compose.ZoneInfo(self._timezone(who.org_id))
            kwargs["until"] = resolve(cmd.when or When(relative_days=1), now.astimezone(tz))
            kwargs["reason"] = cmd.text or self.catalogue.value("postpone_reason")
        elif cmd.kind == "done":
            kwargs["report"] = cmd.text or self.catalogue.value("done_report")
        try:
            request = self.c.requests.transition(who.org_id, cmd.number, actor, "sms", TARGETS[cmd.kind], **kwargs)
        except NotFound:
            return "refused", "reply_unknown_request", {"number": cmd.number}, req.id
        except DomainError as exc:
            detail = self.catalogue.value("refused_transition", status=self.catalogue.status_text(req.status))
            log.info("SMS command refused for request %s: %s", cmd.number, exc)
            return "refused", "reply_refused", {"number": cmd.number, "detail": detail}, req.id
        text_key = {"accept": "status_accepted", "postpone": "status_postponed", "impossible": "status_impossible",
                    "done": "status_done"}[cmd.kind]
        until = compose.local_time(request.postponed_until, compose.ZoneInfo(self._timezone(who.org_id))) or ""
        return "applied", "reply_applied", {"number": cmd.number,
                                            "status_text": self.catalogue.value(text_key, until=until)}, req.id

    def _mine(self, who: Sender):
        with self.c.engine.connect() as conn:
            ids = list(conn.execute(sa.select(_R.id).where(_R.org_id == who.org_id, _R.assignee_id == who.staff_id,
                                                           _R.status.in_(_OPEN)).order_by(_R.due_at, _R.number)
                                    .limit(10)).scalars())
            facts = [compose.load_facts(conn, i) for i in ids]
        if not facts:
            return "applied", "reply_no_requests", {}, None
        items = "; ".join(self.catalogue.value("item", number=f.number, address=compose.address(f)) for f in facts)
        return "applied", "reply_my_requests", {"items": items}, None

    def _resident(self, who: Sender, cmd: Command, body: str):
        if cmd.kind == "stop":
            return "applied", "reply_stop", {}, None
        with self.c.engine.connect() as conn:
            latest = conn.execute(sa.select(_R.id, _R.number, _R.status)
                                  .where(_R.org_id == who.org_id, _R.caller_phone == who.phone)
                                  .order_by(_R.registered_at.desc()).limit(20)).all()
            rated = set(conn.execute(sa.select(t.ratings.c.request_id)
                                     .where(t.ratings.c.request_id.in_([r.id for r in latest]))).scalars()) \
                if latest else set()
        actor = Actor(kind="resident", role="resident", name=who.phone)
        if cmd.rating_like:  # "6", "0", "оценка 7": told how to rate, nothing changes
            return "refused", "reply_rating_invalid", {}, None
        if cmd.kind == "rating":
            target = next((r for r in latest if r.status in ("done", "closed") and r.id not in rated), None)
            if target is None:
                return "refused", "reply_rating_nothing", {}, None
            try:
                self.c.requests.rate(who.org_id, target.number, actor, "sms", cmd.score, phone=who.phone)
            except DomainError:
                return "refused", "reply_rating_nothing", {}, target.id
            return "applied", "reply_rating_thanks", {"number": target.number, "score": cmd.score}, target.id
        open_ = next((r for r in latest if r.status in _OPEN), None)
        if open_ is not None:  # the text goes to his open request's history for the dispatcher
            self.c.requests.comment(who.org_id, open_.number, actor, "sms", body.strip()[:2000])
            return "commented", "reply_resident_open", {"number": open_.number}, open_.id
        return self._register(who, actor, body)

    def _register(self, who: Sender, actor: Actor, body: str):
        facts = {}
        if self.extractor is not None:
            try:
                facts = self.extractor(body) or {}
            except Exception:
                log.exception("the extractor failed; the request is registered without its facts")
        confidence = facts.get("confidence") or {}
        place = {key: facts.get(key) for key in ("apartment", "entrance", "floor")
                 if facts.get(key) is not None and confidence.get(key, 1.0) >= CONFIDENT}
        urgency = facts.get("urgency") or ({True: "emergency", False: "normal"}.get(facts.get("emergency"))
                                           if confidence.get("emergency", 1.0) >= CONFIDENT else None)
        base = dict(description=body.strip()[:2000] or "—", channel="sms", caller_phone=who.phone)
        facts_only = dict(base, work_type=facts.get("work_type") or "other", urgency=urgency)
        # An apartment needs a building (the caller's, from the residents registry); a work type the organisation
        # lacks is refused: each attempt drops what may be wrong, the last one is the text alone.
        for attempt in (dict(facts_only, **place), facts_only, base):
            try:
                request = self.c.requests.register(who.org_id, actor, NewRequest(**attempt))
                break
            except DomainError as exc:
                if attempt is base:
                    raise
                log.info("SMS request registered with fewer extracted facts: %s", exc)
        return "registered", "reply_resident_registered", {"number": request.number}, request.id

    def _timezone(self, org_id: int) -> str:
        with self.c.engine.connect() as conn:
            return conn.execute(sa.select(_O.timezone).where(_O.id == org_id)).scalar()

    def _resident_link(self, request_id: int) -> str:
        """The resident's page of his request, for the replies that name it (issued with no connection held)."""
        with self.c.engine.connect() as conn:
            f = compose.load_facts(conn, request_id)
        sms = for_org(self.n.base, f.org_settings)
        return compose.issue_link(self.c, f, None, self.n.public_url, sms.resident_link_ttl_hours, "resident")

    def _reply(self, conn, who: Sender, template: str, fields: dict, request_id: int | None,
               key: str) -> NewMessage | None:
        base = {"number": "", "deadline": self.catalogue.value("no_deadline")}
        if request_id is not None:
            f = compose.load_facts(conn, request_id)
            base = compose.fields(f, self.catalogue)
        base.update(fields)
        org_settings = conn.execute(sa.select(_O.settings).where(_O.id == who.org_id)).scalar()
        rendered = self.catalogue.render(template, base)
        audience = who.role if who.kind == "staff" else "resident"
        return NewMessage(who.org_id, request_id, who.phone, audience, who.staff_id, rendered,
                          for_org(self.n.base, org_settings).provider, key)


def _reclaim(conn, provider: str, provider_message_id: str, now: datetime) -> int | None:
    """A message stored before but never handled (its handling failed, or its process died mid-way): the provider's
    retry takes it over. A message handled, or being handled right now, is a replay: None."""
    stale = now - RECLAIM_AFTER
    return conn.execute(
        sa.update(inbound_messages)
        .where(I.provider == provider, I.provider_message_id == provider_message_id,
               sa.or_(I.outcome == FAILED, sa.and_(I.outcome == PROCESSING, I.received_at < stale)))
        .values(outcome=PROCESSING, received_at=now).returning(I.id)).scalar()


def _insert_once(conn, values: dict) -> int | None:
    if conn.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    stmt = insert(inbound_messages).values(**values) \
        .on_conflict_do_nothing(index_elements=["provider", "provider_message_id"]).returning(I.id)
    return conn.execute(stmt).scalar()


def _opt_out(conn, org_id: int, phone: str, now) -> None:
    if conn.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    conn.execute(insert(sms_opt_outs).values(org_id=org_id, phone=phone, created_at=now)
                 .on_conflict_do_nothing(index_elements=["org_id", "phone"]))
