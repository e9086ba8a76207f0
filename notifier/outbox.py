"""The SMS outbox: every message is a row before it is sent, and the row decides whether it may be sent.

Sending one message (:meth:`Outbox.send`, the rq job's body) claims the row first: ``queued -> sending`` in one
UPDATE that only one caller can win. Only the winner calls the provider, so a job that runs twice, a job that was
enqueued twice, or two workers racing send the message once. A worker that dies between the claim and the result
leaves the row ``sending``: its outcome is unknown, so it is never sent again; :meth:`Outbox.reap` marks it failed
after ``claim_timeout`` and a dispatcher is alerted (a duplicate SMS to a technician is better avoided than risked).

Transient errors put the row back to ``queued`` with ``next_attempt_at`` (exponential backoff with jitter); the
scheduler re-enqueues rows that fall due. Permanent errors, and the last transient one, end in ``failed``, and the
dispatcher on duty hears of it (see :mod:`notifier.alerts`). Receipts only move a message forward.
"""
from __future__ import annotations

import logging
import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Callable

import sqlalchemy as sa

from journal_api.storage import tables as t
from journal_api.storage.tables_messages import messages, sms_opt_outs

from .providers import Outgoing, PermanentError, Provider, TransientError
from .templates import Rendered

log = logging.getLogger(__name__)
M = messages.c

# A message only moves forward: a late "sent" receipt does not undo "delivered".
RANK = {"queued": 0, "sending": 1, "sent": 2, "delivered": 3, "undelivered": 3, "failed": 3, "suppressed": 3}
FINAL = frozenset(s for s, rank in RANK.items() if rank == 3)
LEASE = timedelta(seconds=60)  # a queued row whose job has not run by then is enqueued again


@dataclass(frozen=True)
class NewMessage:
    org_id: int
    request_id: int | None
    recipient: str
    audience: str  # technician | resident | dispatcher | manager
    staff_id: int | None
    rendered: Rendered
    provider: str
    dedupe_key: str  # unique per organisation: the same key never makes a second message


def _insert(conn):
    if conn.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    return insert(messages)


class Outbox:
    def __init__(self, engine: sa.Engine, clock: Callable[[], datetime], *, lease: timedelta = LEASE,
                 claim_timeout: timedelta = timedelta(minutes=10)):
        self.engine = engine
        self.clock = clock
        self.lease = lease
        self.claim_timeout = claim_timeout

    # -- writing messages ----------------------------------------------------------------------------------------
    def add(self, conn, new: NewMessage) -> int | None:
        """Store a message in the caller's transaction; returns its id, or None when its dedupe key exists."""
        now = self.clock()
        opted_out = new.audience == "resident" and conn.execute(
            sa.select(sms_opt_outs.c.id).where(sms_opt_outs.c.org_id == new.org_id,
                                               sms_opt_outs.c.phone == new.recipient)).first() is not None
        r = new.rendered
        values = dict(org_id=new.org_id, request_id=new.request_id, recipient=new.recipient, audience=new.audience,
                      staff_id=new.staff_id, template=r.template, body=r.text, segments=r.segments,
                      encoding=r.encoding, provider=new.provider, status="suppressed" if opted_out else "queued",
                      attempts=0, dedupe_key=new.dedupe_key[:200], created_at=now,
                      next_attempt_at=None if opted_out else now + self.lease,
                      last_error="получатель отписался (СТОП)" if opted_out else None)
        stmt = _insert(conn).values(**values).on_conflict_do_nothing(index_elements=["org_id", "dedupe_key"]) \
            .returning(M.id, M.status)
        row = conn.execute(stmt).first()
        if row is None or row.status != "queued":
            return None
        return row.id

    def exists(self, conn, org_id: int, dedupe_key: str) -> bool:
        return conn.execute(sa.select(M.id).where(M.org_id == org_id, M.dedupe_key == dedupe_key[:200])) \
            .first() is not None

    # -- sending -------------------------------------------------------------------------------------------------
    def claim(self, message_id: int):
        """queued -> sending, once. Returns the row, or None when someone else has it, it is done, or it waits for
        its retry time: a queued row that keeps the ``claimed_at`` of its failed attempt is not claimed before its
        ``next_attempt_at`` (a stray second job must not retry at once); :meth:`due` clears that mark when the time
        has come."""
        now = self.clock()
        request_status = sa.select(t.requests.c.status).where(t.requests.c.id == M.request_id) \
            .scalar_subquery().label("request_status")
        retry_due = sa.or_(M.claimed_at.is_(None), M.next_attempt_at.is_(None), M.next_attempt_at <= now)
        with self.engine.begin() as conn:
            row = conn.execute(sa.update(messages).where(M.id == message_id, M.status == "queued", retry_due)
                               .values(status="sending", claimed_at=now, attempts=M.attempts + 1)
                               .returning(M.id, M.org_id, M.request_id, M.recipient, M.body, M.encoding,
                                          M.provider, M.attempts, M.audience, M.template, request_status)).first()
        return row

    def suppress(self, message_id: int, reason: str) -> None:
        """A claimed message that must not go out any more (a reminder of a request closed meanwhile)."""
        with self.engine.begin() as conn:
            conn.execute(sa.update(messages).where(M.id == message_id, M.status == "sending")
                         .values(status="suppressed", last_error=reason, next_attempt_at=None))

    def release(self, message_id: int) -> None:
        """Give a claim back (sending -> queued) when nothing was handed to the provider; the scheduler re-enqueues
        it after the lease."""
        with self.engine.begin() as conn:
            conn.execute(sa.update(messages).where(M.id == message_id, M.status == "sending")
                         .values(status="queued", attempts=M.attempts - 1, claimed_at=None,
                                 next_attempt_at=self.clock() + self.lease))

    def send(self, message_id: int, provider: Provider, *, key_prefix: str, max_attempts: int,
             backoff: Callable[[int], float], on_failed: Callable[[int], None]) -> str:
        row = self.claim(message_id)
        if row is None:
            return "not queued"
        return self.deliver(row, provider, key_prefix=key_prefix, max_attempts=max_attempts, backoff=backoff,
                            on_failed=on_failed)

    def deliver(self, row, provider: Provider, *, key_prefix: str, max_attempts: int,
                backoff: Callable[[int], float], on_failed: Callable[[int], None]) -> str:
        """Hand a claimed row to the provider and record the outcome."""
        outgoing = Outgoing(row.id, row.recipient, row.body, row.encoding, f"{key_prefix}-sms-{row.id}")
        try:
            provider_id = provider.send(outgoing)
        except TransientError as exc:
            if row.attempts >= max_attempts:
                self._fail(row.id, f"{exc} (попыток: {row.attempts})")
                on_failed(row.id)
                return "failed"
            delay = backoff(row.attempts)
            self._requeue(row.id, str(exc), delay)
            log.warning("SMS %s: transient error (%s); retry in %.1f s", row.id, exc, delay)
            return "retry"
        except PermanentError as exc:
            self._fail(row.id, str(exc))
            on_failed(row.id)
            return "failed"
        with self.engine.begin() as conn:
            conn.execute(sa.update(messages).where(M.id == row.id, M.status == "sending")
                         .values(status="sent", sent_at=self.clock(), provider_message_id=provider_id,
                                 last_error=None, next_attempt_at=None))
        return "sent"

    def _requeue(self, message_id: int, error: str, delay: float) -> None:
        """Back to queued until ``delay`` has passed; ``claimed_at`` (the failed attempt's) stays as the mark that
        the row waits for its retry time."""
        with self.engine.begin() as conn:
            conn.execute(sa.update(messages).where(M.id == message_id, M.status == "sending")
                         .values(status="queued", last_error=error[:2000],
                                 next_attempt_at=self.clock() + timedelta(seconds=delay)))

    def _fail(self, message_id: int, error: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(sa.update(messages).where(M.id == message_id, M.status.in_(("sending", "queued")))
                         .values(status="failed", last_error=error[:2000], failed_at=self.clock(),
                                 next_attempt_at=None))

    # -- the scheduler's part ------------------------------------------------------------------------------------
    def due(self, limit: int = 500) -> list[int]:
        """Queued rows whose retry time or lease has come; their lease is renewed, so each is enqueued once per
        lease even with several schedulers."""
        now = self.clock()
        with self.engine.begin() as conn:
            query = sa.select(M.id).where(M.status == "queued", M.next_attempt_at <= now) \
                .order_by(M.next_attempt_at).limit(limit)
            if conn.dialect.name == "postgresql":
                query = query.with_for_update(skip_locked=True)
            ids = list(conn.execute(query).scalars())
            if ids:
                conn.execute(sa.update(messages).where(M.id.in_(ids), M.status == "queued")
                             .values(next_attempt_at=now + self.lease, claimed_at=None))  # its retry time has come
        return ids

    def reap(self) -> list[int]:
        """Claims older than ``claim_timeout``: the worker died mid-send, the outcome is unknown. Failed, not resent."""
        cutoff = self.clock() - self.claim_timeout
        with self.engine.begin() as conn:
            ids = list(conn.execute(sa.update(messages).where(M.status == "sending", M.claimed_at < cutoff)
                                    .values(status="failed", failed_at=self.clock(),
                                            last_error="исход отправки неизвестен (отправитель прервался)")
                                    .returning(M.id)).scalars())
        return ids

    # -- receipts ------------------------------------------------------------------------------------------------
    def receipt(self, *, status: str, message_id: int | None = None, provider: str | None = None,
                provider_message_id: str | None = None, error: str | None = None,
                org_id: int | None = None) -> int | None:
        """Move a message forward to ``status`` (sent | delivered | undelivered | failed); an older or equal status
        changes nothing. Returns the id of the message it moved (one UPDATE: only one of two racing receipts wins),
        None when nothing changed."""
        lower = [s for s, rank in RANK.items() if rank < RANK[status]]
        values = {"status": status}
        if status == "delivered":
            values["delivered_at"] = self.clock()
        if status in ("undelivered", "failed"):
            values["failed_at"] = self.clock()
            values["last_error"] = (error or status)[:2000]
        if status == "sent":
            values["sent_at"] = sa.func.coalesce(M.sent_at, self.clock())
        where = [M.status.in_(lower)]
        if org_id is not None:  # the receipt came with an organisation's own secret
            where.append(M.org_id == org_id)
        if message_id is not None:
            where.append(M.id == message_id)
        else:
            where += [M.provider == provider, M.provider_message_id == provider_message_id]
        with self.engine.begin() as conn:
            return conn.execute(sa.update(messages).where(*where).values(**values).returning(M.id)).scalar()

    def get(self, message_id: int):
        with self.engine.connect() as conn:
            return conn.execute(sa.select(messages).where(M.id == message_id)).first()


def backoff_for(base: float, cap: float) -> Callable[[int], float]:
    """Exponential backoff with full jitter in the upper half: attempt 1 waits ~base, then 2x, 4x ... up to cap."""
    def delay(attempt: int) -> float:
        ceiling = min(cap, base * (2 ** max(attempt - 1, 0)))
        return ceiling / 2 + random.random() * ceiling / 2

    return delay


def request_number(conn, request_id: int | None) -> int | None:
    if request_id is None:
        return None
    return conn.execute(sa.select(t.requests.c.number).where(t.requests.c.id == request_id)).scalar()
