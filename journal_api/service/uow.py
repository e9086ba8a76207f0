"""Unit of work: one transaction per service call; domain events go to the outbox in that transaction and are
published only after it commits."""
from __future__ import annotations

import functools
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

    def insert_new(self, request: Request) -> Request:
        """Insert a request that was just built (not added to the session) with one INSERT ... RETURNING, and track
        it. Registration's fast path: the ORM's flush machinery costs more CPU than the statement. The object stays
        transient; it carries every column the row got, so the caller can dump it."""
        row = {name: getattr(request, name) for name in _REQUEST_FIELDS}
        row["building_id"] = request.building.id if request.building is not None else None
        row["assignee_id"] = request.assignee.id if request.assignee is not None else None
        row["version"] = 1
        request.id = self.session.connection().execute(_insert_request(), row).scalar_one()
        request.building_id, request.assignee_id, request.version = row["building_id"], row["assignee_id"], 1
        return self.track(request)

    def commit(self) -> None:
        session = self.session
        try:
            session.flush()  # requests changed through the ORM: their UPDATE, checked against the version
            history, outbox = [], []
            for request in self._seen:
                for entry in request.pending_history:
                    entry.request_id = request.id
                    history.append({name: getattr(entry, name) for name in _HISTORY_FIELDS})
                for ev in request.pending_events:
                    outbox.append(self._outbox(ev.name, ev.org_id, request.id, ev.data))
                request._init_pending()
            for ev in self._events:
                outbox.append(self._outbox(ev.name, ev.org_id, ev.request_id, ev.data))
            self._events = []
            conn = session.connection() if history or outbox else None
            if history:  # history and outbox rows through Core: one statement each, several rows in one
                conn.execute(_insert_history(), history)
            ids = list(conn.execute(_insert_outbox(), outbox).scalars()) if outbox else []
            session.commit()
        except sa.orm.exc.StaleDataError as exc:
            session.rollback()
            raise Conflict("The request was changed by someone else at the same time; reload it and try again.") \
                from exc
        self._committed = True
        if self._on_commit is not None and outbox:
            self._on_commit({row["name"] for row in outbox})
        if ids:
            try:
                self.publisher.publish(ids)
            except Exception:  # the rows are committed; the outbox relay publishes them later
                log.exception("publishing outbox %s failed; the relay will retry", ids)

    def _outbox(self, name: str, org_id: int, request_id: int | None, data: dict) -> dict:
        return {"org_id": org_id, "name": name, "request_id": request_id, "payload": _jsonable(data),
                "created_at": self.clock(), "attempts": 0}


# The write path's statements, built once. The outbox insert returns the ids in the order of its rows (several rows
# go in one INSERT ... VALUES ... RETURNING on PostgreSQL and SQLite).
_HISTORY_FIELDS = ("org_id", "request_id", "at", "actor_kind", "actor_role", "actor_id", "actor_name", "channel",
                   "kind", "field", "old_value", "new_value", "note")
_REQUEST_FIELDS = tuple(c.name for c in t.requests.columns if c.name not in ("id", "building_id", "assignee_id",
                                                                             "version"))


@functools.lru_cache(maxsize=1)
def _insert_request() -> sa.Insert:
    return sa.insert(t.requests).returning(t.requests.c.id)


@functools.lru_cache(maxsize=1)
def _insert_history() -> sa.Insert:
    return sa.insert(t.request_events)


@functools.lru_cache(maxsize=1)
def _insert_outbox() -> sa.Insert:
    return sa.insert(t.outbox).returning(t.outbox.c.id, sort_by_parameter_order=True)


def _jsonable(value):
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, datetime):
        return value.isoformat()
    return value
