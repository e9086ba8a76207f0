"""Background jobs (rq). A job gets ids, never objects, and can run twice without harm.

The outbox: each committed domain event is a row. :class:`RQPublisher` enqueues one job per row after commit, with
the job id ``<queue>-outbox-<row id>``, and writes nothing back to the database. A row published twice is queued
once (the same job id); a job that runs twice finds the row handled the second time and does nothing.

:func:`relay_outbox` (the worker runs it every ~15 s) finds unhandled rows older than a grace period whose job no
longer exists in Redis: Redis was down at commit time, or lost its data. It re-enqueues only those. A job that
failed still exists (rq keeps it in the failed job registry for ``FAILURE_TTL``), so the relay does not hammer a
failing handler: retry it with ``rq requeue`` once the cause is fixed; when rq has dropped the failed job after
``FAILURE_TTL``, the relay enqueues the row again. Later issues subscribe handlers with :func:`subscribe`.
"""
from __future__ import annotations

import logging
from datetime import timedelta
from typing import Callable

import sqlalchemy as sa
from rq import Queue
from rq.job import Job, JobStatus
from rq.utils import now as rq_now

from .storage import tables as t

log = logging.getLogger(__name__)

# event name -> handlers; each handler takes (container, outbox_row) and must be idempotent.
_HANDLERS: dict[str, list[Callable]] = {}
_container = None


def subscribe(event_name: str, handler: Callable) -> None:
    _HANDLERS.setdefault(event_name, [])
    if handler not in _HANDLERS[event_name]:
        _HANDLERS[event_name].append(handler)


def handlers_for(event_name: str) -> list[Callable]:
    return list(_HANDLERS.get(event_name, ())) + list(_HANDLERS.get("*", ()))


def set_container(container) -> None:
    """The worker process wires its container once at start (bootstrap), never at import."""
    global _container
    _container = container


def _get_container():
    global _container
    if _container is None:
        from .bootstrap import bootstrap

        _container = bootstrap()
    return _container


RESULT_TTL = 3600  # seconds rq keeps a finished job
FAILURE_TTL = 7 * 24 * 3600  # seconds rq keeps a failed job (in its failed registry) before it drops it


def job_id(queue_name: str, outbox_id: int) -> str:
    """Job ids are global in a Redis db; the queue name keeps two deployments (or two test runs) sharing one Redis
    from taking each other's jobs, since outbox ids restart in every database."""
    return f"{queue_name}-outbox-{outbox_id}"


class RQPublisher:
    """Enqueues with rq's own job record (``Job.create`` and ``Job.to_dict``, so any rq worker reads it), written
    the lean way on the API's hot path: one MULTI/EXEC of SADD (the queue set), then per row one HSET of the job's
    non-empty fields and one RPUSH. ``Queue.enqueue_call`` wrote the same keys with a separate status HSET, a dozen
    empty fields, and a dependency check; a create spent ~10 % of its server CPU there. A synchronous queue
    (``is_async=False``) still goes through rq, which runs the job at once."""

    def __init__(self, queue: Queue):
        self.queue = queue

    def publish(self, outbox_ids: list[int]) -> None:
        q = self.queue
        with q.connection.pipeline() as pipe:  # MULTI/EXEC: a job record is never left outside its queue
            if not q.is_async:
                for oid in outbox_ids:
                    q.enqueue_call(handle_outbox, args=(oid,), job_id=job_id(q.name, oid), pipeline=pipe,
                                   result_ttl=RESULT_TTL, failure_ttl=FAILURE_TTL)
            else:
                pipe.sadd(q.redis_queues_keys, q.key)
                for oid in outbox_ids:
                    job = Job.create(handle_outbox, args=(oid,), id=job_id(q.name, oid), connection=q.connection,
                                     result_ttl=RESULT_TTL, failure_ttl=FAILURE_TTL, origin=q.name,
                                     timeout=getattr(q, "_default_timeout", None), status=JobStatus.QUEUED)
                    job.enqueued_at = rq_now()
                    pipe.hset(job.key, mapping={k: v for k, v in job.to_dict().items() if v != ""})
                    pipe.rpush(q.key, job.id)
            pipe.execute()

    def unqueued(self, outbox_ids: list[int]) -> list[int]:
        """The ids whose job does not exist on this queue (queued, running, finished or failed), in one round trip.
        A job id of another queue on the same Redis db does not count."""
        with self.queue.connection.pipeline(transaction=False) as pipe:
            for oid in outbox_ids:
                pipe.hget(Job.key_for(job_id(self.queue.name, oid)), "origin")
            origins = pipe.execute()
        mine = self.queue.name.encode()
        return [oid for oid, origin in zip(outbox_ids, origins) if origin != mine]


def handle_outbox(outbox_id: int) -> str:
    """Run the handlers of one outbox event. Already handled: nothing to do. A handler's error propagates, so rq
    records the failure and the row stays unhandled for a retry."""
    c = _get_container()
    with c.engine.begin() as conn:
        row = conn.execute(sa.select(t.outbox).where(t.outbox.c.id == outbox_id)).one_or_none()
        if row is None:
            raise LookupError(f"outbox row {outbox_id} does not exist")
        if row.handled_at is not None:
            return "already handled"
        conn.execute(sa.update(t.outbox).where(t.outbox.c.id == outbox_id)
                     .values(attempts=t.outbox.c.attempts + 1))
    try:
        for handler in handlers_for(row.name):
            handler(c, row)
    except Exception as exc:
        with c.engine.begin() as conn:
            conn.execute(sa.update(t.outbox).where(t.outbox.c.id == outbox_id).values(last_error=repr(exc)[:2000]))
        raise
    with c.engine.begin() as conn:
        conn.execute(sa.update(t.outbox).where(t.outbox.c.id == outbox_id, t.outbox.c.handled_at.is_(None))
                     .values(handled_at=t.utcnow(), last_error=None))
    return "handled"


def relay_outbox(engine: sa.Engine, publisher, *, older_than: timedelta = timedelta(seconds=30),
                 batch: int = 500) -> int:
    """Re-enqueue the unhandled rows older than ``older_than`` whose job does not exist any more. Reads the unhandled
    rows in pages of ``batch`` (normally few: the worker's backlog and failed jobs). Returns how many it sent."""
    cutoff, after, sent = t.utcnow() - older_than, 0, 0
    o = t.outbox.c
    while True:
        with engine.connect() as conn:
            ids = list(conn.execute(sa.select(o.id).where(o.handled_at.is_(None), o.created_at < cutoff, o.id > after)
                                    .order_by(o.id).limit(batch)).scalars())
        if not ids:
            return sent
        missing = publisher.unqueued(ids)
        if missing:
            publisher.publish(missing)
            sent += len(missing)
        if len(ids) < batch:
            return sent
        after = ids[-1]
