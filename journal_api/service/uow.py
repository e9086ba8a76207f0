"""Unit of work: one transaction per service call; domain events go to the outbox in that transaction and are
published only after it commits."""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime
from typing import Callable, Protocol

import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker

from ..domain.errors import Conflict
from ..domain.events import Actor, DomainEvent
from ..domain.request import Request
from ..storage import tables as t
from ..storage.mapping import OutboxMessage

log = logging.getLogger(__name__)


class Publisher(Protocol):
    """Hands committed outbox ids to whoever consumes them (an rq queue in production)."""

    def publish(self, outbox_ids: list[int]) -> None: ...

    def unqueued(self, outbox_ids: list[int]) -> list[int]:
        """The ids that have nothing queued for them (the outbox relay publishes those again)."""


@dataclass
class MemoryPublisher:
    """In-memory port for tests and for code paths that run without Redis."""

    published: list[int] = field(default_factory=list)

    def publish(self, outbox_ids: list[int]) -> None:
        self.published.extend(outbox_ids)

    def unqueued(self, outbox_ids: list[int]) -> list[int]:
        return [oid for oid in outbox_ids if oid not in self.published]


class UnitOfWork:
    def __init__(self, session_factory: sessionmaker[Session], publisher: Publisher, clock: Callable[[], datetime],
                 on_commit: Callable[[set[str]], None] | None = None):
        self._factory = session_factory
        self.publisher = publisher
        self.clock = clock
        self._on_commit = on_commit  # gets the names of the events each commit wrote, in this process
        self.session: Session | None = None
        self._seen: list[Request] = []
        self._events: list[DomainEvent] = []
        self._committed = False

    def __enter__(self) -> "UnitOfWork":
        self.session = self._factory()
        self._seen, self._events, self._committed = [], [], False
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        try:
            if not self._committed:
                # Detach first: a rollback would expire what a read-only call returns to its caller.
                self.session.expunge_all()
                self.session.rollback()
        finally:
            self.session.close()

    def track(self, request: Request) -> Request:
        if request not in self._seen:
            self._seen.append(request)
        return request

    def emit(self, event: DomainEvent) -> None:
        self._events.append(event)

    def audit(self, org_id: int, actor: Actor, entity: str, entity_id: int | None, action: str, changes: dict):
        self.session.execute(sa.insert(t.audit_log).values(
            org_id=org_id, at=self.clock(), actor_kind=actor.kind, actor_id=actor.id, actor_name=actor.name,
            entity=entity, entity_id=entity_id, action=action, changes=_jsonable(changes)))

    def commit(self) -> None:
        session = self.session
        try:
            session.flush()  # requests get their ids
            rows = []
            for request in self._seen:
                for entry in request.pending_history:
                    entry.request_id = request.id
                    session.add(entry)
                for ev in request.pending_events:
                    rows.append(self._outbox(ev.name, ev.org_id, request.id, ev.data))
                request._init_pending()
            for ev in self._events:
                rows.append(self._outbox(ev.name, ev.org_id, ev.request_id, ev.data))
            self._events = []
            session.add_all(rows)
            session.flush()
            session.commit()
        except sa.orm.exc.StaleDataError as exc:
            session.rollback()
            raise Conflict("The request was changed by someone else at the same time; reload it and try again.") \
                from exc
        self._committed = True
        if self._on_commit is not None and rows:
            self._on_commit({row.name for row in rows})
        ids = [row.id for row in rows]
        if ids:
            try:
                self.publisher.publish(ids)
            except Exception:  # the rows are committed; the outbox relay publishes them later
                log.exception("publishing outbox %s failed; the relay will retry", ids)

    def _outbox(self, name: str, org_id: int, request_id: int | None, data: dict) -> OutboxMessage:
        return OutboxMessage(org_id=org_id, name=name, request_id=request_id, payload=_jsonable(data),
                             created_at=self.clock())


def _jsonable(value):
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, datetime):
        return value.isoformat()
    return value
