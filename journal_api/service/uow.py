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
from ..storage.fast import Prepared

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
        row = _request_row(request)
        request.id = self.session.connection().execute(_insert_request(), row).scalar_one()
        return self.track(_inserted(request, row))

    def commit_new(self, request: Request) -> None:
        """Insert a request that was just built, with its history and outbox rows, and commit. On PostgreSQL one
        statement writes all three (data-modifying CTEs: two round trips fewer); elsewhere, or when this unit of
        work holds more than the new request, insert_new() and commit()."""
        session = self.session
        conn = session.connection()
        if conn.dialect.name != "postgresql" or self._events or any(r is not request for r in self._seen):
            self.insert_new(request)
            return self.commit()
        try:
            session.flush()  # what the assignment changed (the chosen person's last assignment)
            row = _request_row(request)
            params = {"r_" + name: value for name, value in row.items()}
            for i, entry in enumerate(request.pending_history):
                params.update((f"h{i}_{name}", getattr(entry, name)) for name in _HISTORY_FIELDS[2:])
                params[f"h{i}_org_id"] = entry.org_id
            outbox = [self._outbox(ev.name, ev.org_id, None, ev.data) for ev in request.pending_events]
            for i, msg in enumerate(outbox):
                params.update((f"o{i}_{name}", msg[name]) for name in _OUTBOX_FIELDS)
            rows = _chained(len(request.pending_history), len(outbox), conn.dialect).rows(conn, params)
            request.id = rows[0][0]
            for entry in request.pending_history:
                entry.request_id = request.id
            request._init_pending()
            session.commit()
        except sa.orm.exc.StaleDataError as exc:
            session.rollback()
            raise Conflict("The request was changed by someone else at the same time; reload it and try again.") \
                from exc
        self.track(_inserted(request, row))
        self._after_commit({msg["name"] for msg in outbox}, [r[1] for r in rows])

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
        self._after_commit({row["name"] for row in outbox}, ids)

    def _after_commit(self, event_names: set[str], ids: list[int]) -> None:
        self._committed = True
        if self._on_commit is not None and event_names:
            self._on_commit(event_names)
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


_OUTBOX_FIELDS = ("org_id", "name", "payload", "created_at", "attempts")


def _request_row(request: Request) -> dict:
    row = {name: getattr(request, name) for name in _REQUEST_FIELDS}
    row["building_id"] = request.building.id if request.building is not None else None
    row["assignee_id"] = request.assignee.id if request.assignee is not None else None
    row["version"] = 1
    return row


def _inserted(request: Request, row: dict) -> Request:
    request.building_id, request.assignee_id, request.version = row["building_id"], row["assignee_id"], 1
    return request


@functools.lru_cache(maxsize=32)
def _insert_chained(n_history: int, n_outbox: int) -> sa.Select:
    """PostgreSQL: the request, its n history rows and its n outbox rows in one statement. Each row's values are
    typed parameters (``r_<column>``, ``h<i>_<column>``, ``o<i>_<column>``); the history and outbox rows take the
    new request's id from the first CTE. Returns one row per outbox row: (request id, outbox id), in id order.
    The rows of a UNION ALL are inserted in their order (PostgreSQL's Append reads its inputs one after the other),
    so the history's ids keep the order in which the entity recorded its entries."""
    def param(prefix: str, column: sa.Column):
        return sa.bindparam(prefix + column.name, type_=column.type)

    new = sa.insert(t.requests).values({c.name: param("r_", c) for c in t.requests.columns if c.name != "id"}) \
        .returning(t.requests.c.id).cte("new_request")

    def rows(table: sa.Table, fields: tuple[str, ...], count: int, prefix: str) -> sa.CompoundSelect | sa.Select:
        selects = [sa.select(new.c.id.label("request_id"), *[param(f"{prefix}{i}_", table.c[name]).label(name)
                                                             for name in fields]) for i in range(count)]
        return selects[0] if count == 1 else sa.union_all(*selects)

    history_fields = ("org_id",) + _HISTORY_FIELDS[2:]
    history = sa.insert(t.request_events).from_select(
        ("request_id",) + history_fields, rows(t.request_events, history_fields, n_history, "h")) \
        .returning(t.request_events.c.id).cte("history_rows")
    outbox = sa.insert(t.outbox).from_select(
        ("request_id",) + _OUTBOX_FIELDS, rows(t.outbox, _OUTBOX_FIELDS, n_outbox, "o")) \
        .returning(t.outbox.c.id).cte("outbox_rows")
    return sa.select(new.c.id, outbox.c.id.label("outbox_id")) \
        .select_from(new.join(outbox, sa.true())).add_cte(history).order_by(outbox.c.id)


@functools.lru_cache(maxsize=64)
def _chained(n_history: int, n_outbox: int, dialect) -> Prepared:
    """The chained insert on the driver's cursor (storage.fast): SQLAlchemy's execute costs more than the rest."""
    return Prepared(_insert_chained(n_history, n_outbox), dialect)


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
