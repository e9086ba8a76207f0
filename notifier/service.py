"""The notifier: domain events -> messages in the outbox -> sent once; failures raised to the dispatcher on duty.

Built once per process (the worker hook, the web hook, or lazily by a job) around the journal's container.
"""
from __future__ import annotations

import hmac
import logging
import secrets
import time
from datetime import timedelta
from typing import Callable, Protocol

import sqlalchemy as sa

from journal_api.domain.events import Actor
from journal_api.domain.schedule import on_shift
from journal_api.domain.status import FINAL_STATUSES
from journal_api.storage import tables as t

from . import compose, shorten
from .outbox import NewMessage, Outbox, backoff_for
from .providers import Provider, make_provider
from .ratelimit import RateLimiter
from .settings import SmsSettings, for_org, load_sms_settings
from .templates import load_catalogue

log = logging.getLogger(__name__)
SETTLED = ("done", "closed", "cancelled")  # a reminder about such a request is no longer sent
SETTINGS_TTL = 10.0  # seconds a process trusts an organisation's SMS settings
SMS = Actor(kind="system", role="system", name="SMS")
LADDER_EVENTS = ("request.reminder_due", "request.escalation_due")
MESSAGE_EVENTS = ("request.registered", "request.assigned", "request.status_changed",
                  "request.resident_messaged", "request.link_sent") + LADDER_EVENTS
FINAL_TARGETS = frozenset(s.value for s in FINAL_STATUSES)  # closed, cancelled: the technician's links are revoked
RESIDENT_TEMPLATES = {"accepted": "resident_accepted", "postponed": "resident_postponed", "done": "resident_done",
                      "closed": "resident_rating_request"}


class Enqueuer(Protocol):
    def enqueue(self, message_ids: list[int]) -> None: ...


class RQEnqueuer:
    """One rq job per message. Job ids carry a random part: a re-enqueued message gets a second job, and the claim
    in the database makes the second one a no-op."""

    def __init__(self, queue):
        self.queue = queue

    def enqueue(self, message_ids: list[int]) -> None:
        if not message_ids:
            return
        with self.queue.connection.pipeline() as pipe:
            for mid in message_ids:
                self.queue.enqueue_call("notifier.jobs.send_sms", args=(mid,), pipeline=pipe, result_ttl=600,
                                        failure_ttl=7 * 24 * 3600,
                                        job_id=f"{self.queue.name}-sms-{mid}-{secrets.token_hex(4)}")
            pipe.execute()


class Notifier:
    def __init__(self, container, *, settings: SmsSettings | None = None, enqueuer: Enqueuer | None = None,
                 redis=None, lease: timedelta | None = None, providers: dict | None = None):
        self.c = container
        self.base = settings or load_sms_settings()
        self.catalogue = load_catalogue()
        self.outbox = Outbox(container.engine, container.clock,
                             lease=lease or timedelta(seconds=self.base.lease_seconds))
        if redis is None:
            from redis import Redis

            redis = Redis.from_url(container.settings.redis_url)
        self.redis = redis
        if enqueuer is None:
            from rq import Queue

            enqueuer = RQEnqueuer(Queue(container.settings.queue_name, connection=redis))
        self.enqueuer = enqueuer
        self.limiter = RateLimiter(redis)
        self._providers: dict = dict(providers or {})
        self._settings: dict[int, tuple[float, SmsSettings]] = {}

    # -- settings and providers ----------------------------------------------------------------------------------
    @property
    def public_url(self) -> str:
        return self.c.settings.effective_public_url

    def settings_for(self, org_id: int) -> SmsSettings:
        """The organisation's SMS settings, read at most every SETTINGS_TTL seconds per process."""
        cached = self._settings.get(org_id)
        if cached is not None and cached[0] > time.monotonic():
            return cached[1]
        with self.c.engine.connect() as conn:
            own = conn.execute(sa.select(t.organisations.c.settings).where(t.organisations.c.id == org_id)).scalar()
        settings = for_org(self.base, own)
        self._settings[org_id] = (time.monotonic() + SETTINGS_TTL, settings)
        return settings

    def settings_for_account(self, account_sid: str) -> SmsSettings:
        """The settings of the organisation with this Twilio account (its auth token signs the webhooks)."""
        with self.c.engine.connect() as conn:
            for own in conn.execute(sa.select(t.organisations.c.settings)).scalars():
                sms = for_org(self.base, own)
                if account_sid and sms.twilio_account_sid == account_sid:
                    return sms
        return self.base

    def kannel_secret_owner(self, secret: str) -> tuple[int | None, SmsSettings | None]:
        """Whose Kannel webhook secret this is: the deployment's -> (None, base settings); an organisation's own ->
        (its id, its settings); nobody's -> (None, None)."""
        if self.base.kannel_secret and hmac.compare_digest(secret, self.base.kannel_secret):
            return None, self.base
        with self.c.engine.connect() as conn:
            orgs = conn.execute(sa.select(t.organisations.c.id, t.organisations.c.settings)).all()
        for org in orgs:
            own = ((org.settings or {}).get("sms") or {}).get("kannel_secret")
            if own and hmac.compare_digest(secret, str(own)):
                return org.id, for_org(self.base, org.settings)
        return None, None

    def provider(self, settings: SmsSettings) -> Provider:
        key = (settings.provider, settings.kannel_sendsms_url, settings.twilio_account_sid, settings.sender,
               settings.twilio_base_url)
        if key not in self._providers:
            self._providers[key] = make_provider(settings, settings.callback_url or self.public_url)
        return self._providers[key]

    # -- composing -----------------------------------------------------------------------------------------------
    def _staff(self, conn, org_id: int, ids: list[int]) -> list:
        if not ids:
            return []
        st = t.staff.c
        return conn.execute(sa.select(st.id, st.role, st.phone).where(st.org_id == org_id, st.id.in_(ids),
                                                                      st.active.is_(True))).all()

    def queue(self, items: list[NewMessage]) -> list[int]:
        """Store messages (each once per dedupe key) and enqueue their sending after commit."""
        with self.c.engine.begin() as conn:
            ids = [mid for mid in (self.outbox.add(conn, item) for item in items) if mid is not None]
        self.enqueuer.enqueue(ids)
        return ids

    def message(self, f: compose.Facts, *, recipient: str, audience: str, staff_id: int | None, template: str,
                dedupe_key: str, fallback: str | None = None, provider: str | None = None, **extra) -> NewMessage:
        values = compose.fields(f, self.catalogue, **shorten.fields(f, self.catalogue))
        values.update(extra)
        rendered = self.catalogue.render(template, values, fallback=fallback)
        return NewMessage(f.org_id, f.request_id, recipient, audience, staff_id, rendered,
                          provider or for_org(self.base, f.org_settings).provider, dedupe_key)

    def to_staff(self, conn, f: compose.Facts, staff_ids: list[int], template: str, key: str, *,
                 fallback: str | None = None, link: bool = False, **extra) -> list[Callable[[], NewMessage]]:
        """Messages to staff, as builders to call once ``conn`` is closed: a link is issued in a transaction of
        its own (SQLite allows one writer, so no connection may be held meanwhile)."""
        out = []
        for person in self._staff(conn, f.org_id, staff_ids):
            dedupe = f"{key}:{person.id}"
            if link and self.outbox.exists(conn, f.org_id, dedupe):  # no second link for a message made already
                continue

            def build(person=person, dedupe=dedupe) -> NewMessage:
                sms = for_org(self.base, f.org_settings)
                url = compose.issue_link(self.c, f, person.id, self.public_url, sms.link_ttl_hours) if link else ""
                return self.message(f, recipient=person.phone, audience=person.role, staff_id=person.id,
                                    template=template, dedupe_key=dedupe, fallback=fallback, link=url, **extra)

            out.append(build)
        return out

    def to_resident(self, conn, f: compose.Facts, template: str, key: str,
                    **extra) -> list[Callable[[], NewMessage]]:
        """A message to the request's caller, with a link to his page (issued when the message is built, once per
        message: none for a message made already)."""
        if not f.caller_phone or self.outbox.exists(conn, f.org_id, key):
            return []

        def build() -> NewMessage:
            sms = for_org(self.base, f.org_settings)
            url = compose.issue_link(self.c, f, None, self.public_url, sms.resident_link_ttl_hours, "resident")
            return self.message(f, recipient=f.caller_phone, audience="resident", staff_id=None, template=template,
                                dedupe_key=key, link=url, **extra)

        return [build]

    def link_by_sms(self, conn, f: compose.Facts, data: dict, key: str) -> list[Callable[[], NewMessage]]:
        """A link sent from the console: to the technician, a fresh link in the assignment's wording (none when
        the request was reassigned since the click: the new assignee got his own); to the resident, his page."""
        if data.get("audience") == "technician":
            staff_id = data.get("staff_id")
            return self.to_staff(conn, f, [staff_id], "assignment", key, link=True) \
                if staff_id and staff_id == f.assignee_id else []
        return self.to_resident(conn, f, "resident_link", key) if data.get("audience") == "resident" else []

    # -- domain events -------------------------------------------------------------------------------------------
    def handle(self, row) -> None:
        """One outbox event: its messages, then (for a change of the request) its next reminder moment."""
        if row.name in MESSAGE_EVENTS:
            self.on_event(row)
        if row.request_id is not None and row.name.startswith("request.") and row.name not in LADDER_EVENTS:
            from .scheduler import Wakeups

            Wakeups(self.c.engine, self.c.clock).touch(row.org_id, row.request_id)

    def on_event(self, row) -> list[int]:
        """Messages for one outbox event (idempotent: the dedupe keys hold the event's id)."""
        if row.request_id is None:
            return []
        data, key = row.payload or {}, f"ev{row.id}"
        with self.c.engine.connect() as conn:
            f = compose.load_facts(conn, row.request_id)
            if f is None:
                return []
            items: list[Callable[[], NewMessage]] = []
            revoke = False
            if row.name == "request.registered" and data.get("channel") != "sms":
                items += self.to_resident(conn, f, "resident_registered", key)
            elif row.name == "request.assigned":
                fresh = self.to_staff(conn, f, [data["staff_id"]], "assignment", key, link=True) \
                    if data.get("staff_id") else []
                items += fresh
                if data.get("previous_staff_id") and data.get("previous_staff_id") != data.get("staff_id"):
                    items += self.to_staff(conn, f, [data["previous_staff_id"]], "reassignment", key)
                    # the previous technician's page closes; not when this event was handled before (the new
                    # assignee's link went out then and must live)
                    revoke = bool(fresh) or not data.get("staff_id")
            elif row.name == "request.status_changed" and data.get("target") in RESIDENT_TEMPLATES:
                items += self.to_resident(conn, f, RESIDENT_TEMPLATES[data["target"]], key)
            elif row.name == "request.resident_messaged" and data.get("text"):
                items += self.to_resident(conn, f, "resident_message", key, text=data["text"])
            elif row.name == "request.link_sent" and f.status not in FINAL_TARGETS:
                items += self.link_by_sms(conn, f, data, key)
            elif row.name in ("request.reminder_due", "request.escalation_due"):
                fallback = "reminder" if data.get("kind") == "reminder" else "escalation"
                deadline = compose.local_time(_parse(data.get("deadline_at")), f.tz)
                extra = {"deadline": deadline} if deadline else {}
                items += self.to_staff(conn, f, list(data.get("recipients") or []), data.get("template", fallback),
                                       key, fallback=fallback, **extra)
            if row.name == "request.status_changed" and data.get("target") in FINAL_TARGETS:
                revoke = True  # closed or cancelled: the technician's page must no longer change it
        if revoke and hasattr(getattr(self.c, "links", None), "revoke_request"):
            self.c.links.revoke_request(f.org_id, f.request_id, audience="technician")
        return self.queue([build() for build in items])

    # -- sending -------------------------------------------------------------------------------------------------
    def send(self, message_id: int) -> str:
        """Claim the message, wait for the provider's rate, send, record. A crash after the claim leaves it
        'sending': reaped as failed (outcome unknown), never sent again."""
        row = self.outbox.claim(message_id)
        if row is None:
            return "not queued"
        if row.template.startswith(("reminder", "escalation")) and row.request_status in SETTLED:
            self.outbox.suppress(row.id, self.catalogue.value("stale_reminder"))
            return "suppressed"
        try:
            settings = self.settings_for(row.org_id)
            if settings.provider != row.provider:
                settings = for_org(settings, {"sms": {"provider": row.provider}})
            provider = self.provider(settings)
            self.limiter.acquire(f"{provider.name}:{settings.sender}", settings.rate_per_second)
        except BaseException:  # Redis or the database went away before the provider was called: not sent, give back
            self.outbox.release(row.id)
            raise
        return self.outbox.deliver(row, provider, key_prefix=self.c.settings.queue_name,
                                   max_attempts=settings.max_attempts,
                                   backoff=backoff_for(settings.backoff_seconds, settings.backoff_max_seconds),
                                   on_failed=self.alert_failed)

    def receipt(self, *, status: str, **where) -> int | None:
        """A delivery receipt (Kannel DLR, Twilio status): the message moves forward only; the one receipt that
        moves it to undelivered or failed alerts the dispatcher on duty, so a message is alerted once."""
        moved = self.outbox.receipt(status=status, **where)
        if moved is not None and status in ("undelivered", "failed"):
            self.alert_failed(moved)
        return moved

    def alert_failed(self, message_id: int) -> None:
        """A message that finally failed: a line in the request's history and an SMS to the dispatcher on duty
        (not when the failed one was itself for a dispatcher or a manager: no alert loops)."""
        row = self.outbox.get(message_id)
        if row is None or row.request_id is None:
            log.error("SMS %s failed and belongs to no request: %s", message_id, row.last_error if row else "")
            return
        with self.c.engine.connect() as conn:
            f = compose.load_facts(conn, row.request_id)
            extra = {"phone": row.recipient, "error": (row.last_error or "")[:120]}
            note = self.catalogue.render("alert_sms_failed", compose.fields(f, self.catalogue, **extra),
                                         max_segments=5).text
            items = [] if row.audience in ("dispatcher", "manager") else \
                self.to_staff(conn, f, on_duty(conn, f.org_id, self.c.clock()), "alert_sms_failed",
                              f"alert:{message_id}", **extra)
        self.c.requests.comment(f.org_id, f.number, SMS, "sms", note)
        self.queue([build() for build in items])


def on_duty(conn, org_id: int, now) -> list[int]:
    """The dispatchers on shift now; nobody on shift: every active dispatcher."""
    st, sh, ab = t.staff.c, t.shifts.c, t.absences.c
    dispatchers = list(conn.execute(sa.select(st.id).where(st.org_id == org_id, st.active.is_(True),
                                                           st.role == "dispatcher")).scalars())
    if not dispatchers:
        return []
    shifts = conn.execute(sa.select(sh.staff_id, sh.starts_at, sh.ends_at, sh.kind)
                          .where(sh.org_id == org_id, sh.starts_at <= now, sh.ends_at > now,
                                 sh.staff_id.in_(dispatchers))).all()
    absences = conn.execute(sa.select(ab.staff_id, ab.starts_at, ab.ends_at)
                            .where(ab.org_id == org_id, ab.starts_at <= now, ab.ends_at > now)).all()
    return sorted(on_shift(shifts, absences, now)) or dispatchers


def _parse(value):
    from datetime import datetime

    return datetime.fromisoformat(value) if isinstance(value, str) else value
