"""Engines and sessions."""
from __future__ import annotations

import time

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.orm import Session, sessionmaker


def _lower(value):
    return value.lower() if isinstance(value, str) else value


# Connection checkout. pool_pre_ping would cost a round trip on every checkout, several per API call. Instead a
# connection that sat in the pool longer than this is pinged when it is taken out: the one a server restart or a
# firewall's idle timeout has most likely cut. A connection in steady use is not pinged. If one breaks anyway, the
# statement fails once and SQLAlchemy's disconnect handling invalidates every pooled connection of that moment, so
# the next checkouts connect afresh.
PING_IDLE_SECONDS = 10.0


def _ping_when_idle(engine: sa.Engine, idle_seconds: float) -> None:
    @event.listens_for(engine, "checkin")
    def _idle_from(_dbapi_conn, record):
        record.info["idle_since"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _ping(dbapi_conn, record, _proxy):
        idle_since = record.info.get("idle_since")
        if idle_since is None or time.monotonic() - idle_since < idle_seconds:
            return
        try:
            engine.dialect.do_ping(dbapi_conn)
        except engine.dialect.loaded_dbapi.Error as exc:
            raise sa.exc.DisconnectionError("the pooled connection is gone") from exc  # the pool connects again


def make_engine(url: str, *, ping_idle_seconds: float = PING_IDLE_SECONDS, **kwargs) -> sa.Engine:
    if url.startswith("sqlite"):
        engine = sa.create_engine(url, connect_args={"timeout": 30, "check_same_thread": False}, **kwargs)

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn, _record):
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.close()
            # SQLite's lower() folds ASCII only; Russian text needs Python's, for ILIKE searches.
            dbapi_conn.create_function("lower", 1, _lower, deterministic=True)

        @event.listens_for(engine, "begin")
        def _sqlite_begin(conn):
            # Take the write lock at BEGIN, so two writers serialise instead of failing on upgrade.
            conn.exec_driver_sql("BEGIN IMMEDIATE")

        # Let SQLAlchemy emit BEGIN itself (pysqlite's own transaction handling is turned off).
        @event.listens_for(engine, "connect", insert=True)
        def _autocommit_off(dbapi_conn, _record):
            dbapi_conn.isolation_level = None

        return engine
    kwargs.setdefault("pool_size", 10)
    kwargs.setdefault("max_overflow", 20)
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://"):]
    engine = sa.create_engine(url, **kwargs)
    _ping_when_idle(engine, ping_idle_seconds)
    return engine


def make_session_factory(engine: sa.Engine) -> sessionmaker[Session]:
    return sessionmaker(bind=engine, expire_on_commit=False)
