"""Reminders and escalations on time, and retries of messages: one scheduler, its schedule in the database.

Issue 3 computes what is due when (the escalation ladder) and logs each action once (escalation_log, unique per
request and key); the journal's worker runs that tick every minute. For reminders to leave within seconds of their
moment, every change of a request sets its row in ``sms_wakeups`` to "now"; the scheduler runs the ladder for the
requests whose wake-up has come, which emits the due actions (the log keeps each one to once, whoever runs the
tick), and stores the request's next moment (``next_due_at``) or deletes the row when nothing is left (a closed
request). The schedule lives in the database, so neither a Redis restart nor a worker restart loses or repeats a
reminder.

Every worker starts a scheduler thread; a Redis lock (SET NX PX, renewed while held) lets exactly one of them run
at a time. If Redis is away, nobody holds the lock and the wake-ups simply wait in the database.
"""
from __future__ import annotations

import logging
import secrets
import threading
import time
from datetime import datetime

import sqlalchemy as sa

from journal_api.domain.escalation import RequestSnapshot, next_due_at
from journal_api.domain.status import OPEN_STATUSES
from journal_api.storage import tables as t
from journal_api.storage.tables_messages import sms_wakeups

log = logging.getLogger(__name__)
W, R, E = sms_wakeups.c, t.requests.c, t.request_events.c
_COLUMNS = (R.id, R.org_id, R.number, R.status, R.urgency, R.registered_at, R.assignee_id, R.assigned_at,
            R.accepted_at, R.localised_at, R.localisation_due_at, R.repair_due_at, R.closed_at, R.updated_at)
_OPEN = sorted(s.value for s in OPEN_STATUSES)


class Wakeups:
    def __init__(self, engine: sa.Engine, clock):
        self.engine = engine
        self.clock = clock

    def touch(self, org_id: int, request_id: int) -> None:
        """The request changed: look at it now (the scheduler recomputes its next moment)."""
        now = self.clock()
        with self.engine.begin() as conn:
            if conn.dialect.name == "postgresql":
                from sqlalchemy.dialects.postgresql import insert
            else:
                from sqlalchemy.dialects.sqlite import insert
            conn.execute(insert(sms_wakeups).values(request_id=request_id, org_id=org_id, due_at=now)
                         .on_conflict_do_update(index_elements=["request_id"], set_={"due_at": now}))

    def due(self, now: datetime, limit: int) -> list:
        with self.engine.connect() as conn:
            return conn.execute(sa.select(W.request_id, W.org_id, W.due_at).where(W.due_at <= now)
                                .order_by(W.due_at).limit(limit)).all()


class Scheduler:
    def __init__(self, notifier, escalation, *, redis=None, lock_key: str | None = None, batch: int = 1000):
        self.n = notifier
        self.escalation = escalation  # journal_api.service.escalation.EscalationService
        self.engine = notifier.c.engine
        self.clock = notifier.c.clock
        self.wakeups = Wakeups(self.engine, self.clock)
        self.redis = redis if redis is not None else notifier.redis
        self.lock_key = lock_key or f"hotline:sms:scheduler:{notifier.c.settings.queue_name}"
        self.owner = secrets.token_hex(8)
        self.batch = batch

    # -- one round -----------------------------------------------------------------------------------------------
    def tick(self) -> dict:
        now = self.clock()
        woken = self.run_wakeups(now)
        retry = self.n.outbox.due()
        self.n.enqueuer.enqueue(retry)
        reaped = self.n.outbox.reap()
        for message_id in reaped:
            self.n.alert_failed(message_id)
        return {"woken": woken, "enqueued": len(retry), "reaped": len(reaped)}

    def run_wakeups(self, now: datetime) -> int:
        due = self.wakeups.due(now, self.batch)
        if not due:
            return 0
        ids = [w.request_id for w in due]
        with self.engine.connect() as conn:
            rows = {r.id: r for r in conn.execute(sa.select(*_COLUMNS).where(R.id.in_(ids)))}
            since = dict(conn.execute(sa.select(E.request_id, sa.func.max(E.at))
                                      .where(E.request_id.in_(ids), E.kind == "status").group_by(E.request_id)).all())
        by_org: dict[int, list] = {}
        for row in rows.values():
            if row.status in _OPEN:
                by_org.setdefault(row.org_id, []).append(row)
        ladders = {}
        for org_id, org_rows in by_org.items():
            ladders[org_id] = self.escalation.effective(org_id)[0]
            # The journal's own per-organisation tick, for just these requests (issue 3 owns the ladder's logic).
            self.escalation._tick_org(org_id, org_rows, now)
        moves, gone = [], []
        for w in due:
            row = rows.get(w.request_id)
            following = None
            if row is not None and row.status in _OPEN:
                following = next_due_at(_snapshot(row, since.get(row.id)), ladders[row.org_id], now)
            if following is None:
                gone.append({"rid": w.request_id, "seen": w.due_at})
            else:
                moves.append({"rid": w.request_id, "seen": w.due_at, "next": following})
        where = (W.request_id == sa.bindparam("rid"), W.due_at == sa.bindparam("seen"))  # a newer touch wins
        with self.engine.begin() as conn:  # one batch each (executemany), not a round trip per request
            if moves:
                conn.execute(sa.update(sms_wakeups).where(*where).values(due_at=sa.bindparam("next")), moves)
            if gone:
                conn.execute(sa.delete(sms_wakeups).where(*where), gone)
        return len(due)

    # -- the loop ------------------------------------------------------------------------------------------------
    def holds_lock(self, ttl_ms: int) -> bool:
        if self.redis.set(self.lock_key, self.owner, nx=True, px=ttl_ms):
            return True
        if self.redis.get(self.lock_key) == self.owner.encode():
            self.redis.pexpire(self.lock_key, ttl_ms)
            return True
        return False

    def release(self) -> None:
        try:
            if self.redis.get(self.lock_key) == self.owner.encode():
                self.redis.delete(self.lock_key)
        except Exception:
            pass

    def run(self, stop: threading.Event, interval: float = 0.25) -> None:
        while not stop.is_set():
            try:
                if self.holds_lock(int(max(interval * 12, 3) * 1000)):
                    self.tick()
            except Exception:  # Redis or the database away for a moment: the next round tries again
                log.exception("SMS scheduler round failed; retrying")
                stop.wait(1.0)
            stop.wait(interval)
        self.release()

    def start(self, interval: float = 0.25) -> tuple[threading.Thread, threading.Event]:
        stop = threading.Event()
        thread = threading.Thread(target=self.run, args=(stop, interval), name="sms-scheduler", daemon=True)
        thread.start()
        return thread, stop


def _snapshot(row, status_since) -> RequestSnapshot:
    return RequestSnapshot(status=row.status, urgency=row.urgency, registered_at=row.registered_at,
                           assignee_id=row.assignee_id, assigned_at=row.assigned_at, accepted_at=row.accepted_at,
                           localised_at=row.localised_at, status_since=status_since,
                           localisation_due_at=row.localisation_due_at, repair_due_at=row.repair_due_at,
                           closed_at=row.closed_at)
