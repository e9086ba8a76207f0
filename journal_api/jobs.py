"""Background jobs (rq). A job gets ids, never objects, and can run twice without harm.

The outbox: each committed domain event is a row. :class:`RQPublisher` enqueues one job per row after commit, with
the row id as the job id. A row published twice is queued twice; the second run finds it handled and does nothing.
:func:`relay_outbox` republishes rows that were never published (Redis was down at commit time). Later issues
subscribe handlers with :func:`subscribe`.
"""
from __future__ import annotations

import logging
from datetime import timedelta
from typing import Callable

import sqlalchemy as sa
from rq import Queue

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


class RQPublisher:
    def __init__(self, queue: Queue, engine: sa.Engine):
        self.queue = queue
        self.engine = engine

    def publish(self, outbox_ids: list[int]) -> None:
        with self.queue.connection.pipeline() as pipe:
            for oid in outbox_ids:
                self.queue.enqueue_call(handle_outbox, args=(oid,), job_id=f"outbox-{oid}", pipeline=pipe,
                                        result_ttl=3600, failure_ttl=7 * 24 * 3600)
            pipe.execute()
        _mark_published(self.engine, outbox_ids)


def _mark_published(engine: sa.Engine, ids: list[int]) -> None:
    with engine.begin() as conn:
        conn.execute(sa.update(t.outbox).where(t.outbox.c.id.in_(ids), t.outbox.c.published_at.is_(None))
                     .values(published_at=t.utcnow()))


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
    """Publish rows that were committed but never published. Returns how many were sent."""
    cutoff = t.utcnow() - older_than
    with engine.connect() as conn:
        ids = list(conn.execute(sa.select(t.outbox.c.id).where(t.outbox.c.published_at.is_(None),
                                                               t.outbox.c.created_at < cutoff)
                                .order_by(t.outbox.c.id).limit(batch)).scalars())
    if ids:
        publisher.publish(ids)
    return len(ids)
