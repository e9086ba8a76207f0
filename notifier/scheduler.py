"""Reminders and escalations on time, and retries of messages: their schedule in the database, one scheduler.

Issue 3 computes what is due when (the escalation ladder) and logs each action once (escalation_log, unique per
request and key); `hotline cron` has the full tick run every minute. For reminders to leave within a second of their
moment, every change of a request sets its row in ``sms_wakeups`` to "now"; :meth:`Scheduler.wake` (the notifier's
periodic task, which `hotline cron` enqueues every 0.25 s and a worker runs) runs the ladder for the requests whose
wake-up has come, which emits the due actions (the log keeps each one to once, whoever runs the tick; their events
are composed into messages in batches on every worker), and stores the request's next moment (``next_due_at``) or
deletes the row when nothing is left (a closed request). The schedule lives in the database, so neither a Redis
restart nor a worker or scheduler restart loses or repeats a reminder.

Exactly one scheduler (see journal_api/cron.py); two ticks at once are harmless: a wake-up row moves only if
nobody moved it meanwhile, and the escalation log and the messages' dedupe keys keep every action to once.
"""
from __future__ import annotations

import logging
import secrets
import threading
from contextlib import contextmanager, nullcontext
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
    def __init__(self, notifier, escalation, *, batch: int = 1000, escalation_publisher=None, events=None):
        self.n = notifier
        self.escalation_publisher = escalation_publisher  # a CollectingPublisher, or None: the uow's own publishes
        self.events = events  # BatchedEvents
        self.escalation = escalation  # journal_api.service.escalation.EscalationService (see ladder_escalation)
        self.engine = notifier.c.engine
        self.clock = notifier.c.clock
        self.wakeups = Wakeups(self.engine, self.clock)
        self.batch = batch

    # -- one round -----------------------------------------------------------------------------------------------
    def tick(self) -> dict:
        """Everything at once (tests, one-off runs); `hotline cron` runs :meth:`wake` and :meth:`upkeep` apart."""
        return {**self.wake(), **self.upkeep()}

    def wake(self) -> dict:
        """The requests whose wake-up has come (every 0.25 s: one indexed query when nothing is due)."""
        woken = self.run_wakeups(self.clock())
        self.hand_over()
        return {"woken": woken}

    def upkeep(self) -> dict:
        """Messages whose retry time or lease has come are enqueued again; stale claims are reaped (every 5 s)."""
        retry = self.n.outbox.due()
        self.n.enqueuer.enqueue(retry)
        reaped = self.n.outbox.reap()
        for message_id in reaped:
            self.n.alert_failed(message_id)
        return {"enqueued": len(retry), "reaped": len(reaped)}

    def hand_over(self) -> None:
        """Events collected by a CollectingPublisher (production wiring, see notifier.plugin) go to their jobs."""
        collected = getattr(self.escalation_publisher, "ids", None)
        if collected:
            ids = list(collected)
            self.events.publish(ids)  # Redis away: they wait here for the next wake-up (or the relay, 30 s on)
            del collected[:len(ids)]

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

# -- the production wiring: the ladder's events handled in a few jobs, not one job each -------------------------------
EVENTS_PER_JOB = 20


class CollectingPublisher:
    """The wake-up's unit of work publishes here instead of one rq job per event; :func:`ladder_escalation` hands
    the ids over to :class:`BatchedEvents` once the tick is done."""

    def __init__(self):
        self.ids: list[int] = []

    def publish(self, outbox_ids: list[int]) -> None:
        self.ids.extend(outbox_ids)

    def unqueued(self, outbox_ids: list[int]) -> list[int]:
        return list(outbox_ids)


class BatchedEvents:
    """The reminders' and escalations' outbox events of one wake-up, as rq jobs of EVENTS_PER_JOB events each on the
    main queue (not the scheduler's: the next wake-up must not wait behind them), so their messages are composed on
    all workers at once and a reminder costs a fraction of a job, not two jobs. An event whose batch job Redis lost
    stays unhandled and the outbox relay publishes it again, alone, after its grace period."""

    def __init__(self, container, per_job: int = EVENTS_PER_JOB):
        from rq import Queue

        from .runtime import get_notifier

        self.queue = Queue(container.settings.queue_name, connection=get_notifier().redis)
        self.per_job = per_job

    def publish(self, outbox_ids: list[int]) -> None:
        _enqueue_in_parts(self.queue, handle_events, outbox_ids, self.per_job,
                          lambda part: f"{self.queue.name}-events-{part[0]}-{part[-1]}")


def _enqueue_in_parts(queue, func, ids: list[int], per_job: int, job_id) -> None:
    """Enqueue ``func(part)`` for every ``per_job`` ids of ``ids``, in one Redis pipeline; ``job_id(part)`` names the
    job (a deterministic id makes a second enqueue of the same part replace the first)."""
    with queue.connection.pipeline() as pipe:
        for start in range(0, len(ids), per_job):
            part = ids[start:start + per_job]
            queue.enqueue_call(func, args=(part,), pipeline=pipe, result_ttl=0, failure_ttl=7 * 24 * 3600,
                               job_id=job_id(part))
        pipe.execute()


SENDS_PER_JOB = 5


class BatchingEnqueuer:
    """The worker's notifier's enqueue port: one send job per message (``inner``, an RQEnqueuer), except inside
    :meth:`collecting` (a ladder batch): its messages go out in send jobs of SENDS_PER_JOB on ``queue``.
    A batch job Redis lost leaves its messages queued; the scheduler enqueues them again after their lease."""

    def __init__(self, inner, queue, per_job: int = SENDS_PER_JOB):
        self.inner = inner
        self.queue = queue
        self.per_job = per_job
        self._local = threading.local()

    def enqueue(self, message_ids: list[int]) -> None:
        collected = getattr(self._local, "ids", None)
        if collected is None:
            self.inner.enqueue(message_ids)
        else:
            collected.extend(message_ids)

    @contextmanager
    def collecting(self):
        self._local.ids = []
        try:
            yield
        finally:
            ids, self._local.ids = self._local.ids, None
            if ids:
                _enqueue_in_parts(self.queue, send_messages, ids, self.per_job,
                                  lambda part: f"{self.queue.name}-sms-{part[0]}-{secrets.token_hex(4)}")


def send_messages(message_ids: list[int]) -> list[str]:
    """rq job: send each message (a no-op for one not queued any more: the claim decides); an error propagates to
    rq after the others were tried."""
    from .runtime import get_notifier

    return _each(message_ids, get_notifier().send)


def _each(ids: list[int], run) -> list:
    results, errors = [], []
    for one in ids:
        try:
            results.append(run(one))
        except Exception as exc:  # the next ones still go out; rq records the failure below
            errors.append((one, exc))
    if errors:
        raise RuntimeError(f"{len(errors)} of {len(ids)} failed: "
                           f"{', '.join(f'{one}: {exc!r}' for one, exc in errors)}") from errors[0][1]
    return results


def ladder_escalation(container, publisher):
    """The journal's EscalationService on units of work that publish to ``publisher`` (a CollectingPublisher)."""
    from journal_api.service.escalation import EscalationService

    def uow():
        unit = container.uow()
        unit.publisher = publisher
        return unit

    return EscalationService(uow)


def handle_events(outbox_ids: list[int]) -> int:
    """rq job: the outbox events of a wake-up, as the journal's ``handle_outbox`` handles one (attempts counted, the
    subscribed handlers run, the row marked handled, or its error kept and raised), with one read and one write for
    the batch instead of three transactions an event. Their messages leave in batches. An event that fails does not
    stop the others; rq records the failure and the relay retries the event."""
    from journal_api import jobs

    from .runtime import get_notifier

    c, o = jobs._get_container(), t.outbox.c
    with c.engine.begin() as conn:
        rows = conn.execute(sa.select(t.outbox).where(o.id.in_(outbox_ids), o.handled_at.is_(None))
                            .order_by(o.id)).all()
        if rows:
            conn.execute(sa.update(t.outbox).where(o.id.in_([r.id for r in rows])).values(attempts=o.attempts + 1))
    done, errors = [], []
    collecting = getattr(get_notifier().enqueuer, "collecting", None)
    with collecting() if collecting else nullcontext():
        for row in rows:
            try:
                for handler in jobs.handlers_for(row.name):
                    handler(c, row)
                done.append(row.id)
            except Exception as exc:  # the next events still go out; rq records the failure below
                errors.append((row.id, exc))
    with c.engine.begin() as conn:
        if done:
            conn.execute(sa.update(t.outbox).where(o.id.in_(done), o.handled_at.is_(None))
                         .values(handled_at=t.utcnow(), last_error=None))
        for oid, exc in errors:
            conn.execute(sa.update(t.outbox).where(o.id == oid).values(last_error=repr(exc)[:2000]))
    if errors:
        raise RuntimeError(f"{len(errors)} of {len(rows)} event(s) failed: "
                           f"{', '.join(f'{oid}: {exc!r}' for oid, exc in errors)}") from errors[0][1]
    return len(done)


def _snapshot(row, status_since) -> RequestSnapshot:
    return RequestSnapshot(status=row.status, urgency=row.urgency, registered_at=row.registered_at,
                           assignee_id=row.assignee_id, assigned_at=row.assigned_at, accepted_at=row.accepted_at,
                           localised_at=row.localised_at, status_since=status_since,
                           localisation_due_at=row.localisation_due_at, repair_due_at=row.repair_due_at,
                           closed_at=row.closed_at)
