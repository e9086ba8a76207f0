"""storage.fast.Prepared: a Core statement on the driver's cursor gives what Connection.execute gives, on real
PostgreSQL: the same rows (time stamps in UTC, JSON decoded), parameters through their types' processors, and
SQLAlchemy's exceptions."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
import sqlalchemy as sa

from journal_api.storage import tables as t
from journal_api.storage.db import make_engine
from journal_api.storage.fast import Prepared

MSK = timezone(timedelta(hours=3))


def _insert(table: sa.Table, names: tuple[str, ...]) -> sa.Insert:
    return sa.insert(table).values({n: sa.bindparam(n, type_=table.c[n].type) for n in names}) \
        .returning(*table.c)


def test_rows_parameters_and_types_match_connection_execute(container, org):
    names = ("org_id", "name", "payload", "created_at", "attempts")
    stmt = _insert(t.outbox, names)
    at = datetime(2026, 3, 10, 12, 30, tzinfo=MSK)
    values = {"org_id": org.id, "name": "request.registered", "payload": {"номер": 7, "at": "x", "list": [1, None]},
              "created_at": at, "attempts": 0}
    with container.engine.begin() as conn:
        prepared = Prepared(stmt, conn.dialect)
        [fast] = prepared.rows(conn, values)
        [slow] = conn.execute(stmt, values).all()
        assert fast.id == slow.id - 1
        assert tuple(fast)[1:] == tuple(slow)[1:]
        assert fast.created_at == at and fast.created_at.tzinfo == timezone.utc  # UTCDateTime's result processor
        assert fast.payload == values["payload"]  # JSON in and out
        stored = conn.execute(sa.select(t.outbox.c.payload, t.outbox.c.created_at)
                              .where(t.outbox.c.id == fast.id)).one()
        assert stored == (values["payload"], at)
        conn.rollback()


def test_a_naive_time_stamp_is_refused_as_by_the_orm(container, org):
    stmt = _insert(t.outbox, ("org_id", "name", "payload", "created_at", "attempts"))
    with container.engine.begin() as conn:
        with pytest.raises(ValueError, match="naive datetime"):
            Prepared(stmt, conn.dialect).rows(conn, {"org_id": org.id, "name": "x", "payload": {},
                                                     "created_at": datetime(2026, 3, 10), "attempts": 0})


def test_a_driver_error_is_raised_as_sqlalchemys_and_the_transaction_can_roll_back(container, org):
    stmt = sa.insert(t.counters).values(org_id=sa.bindparam("org"), name="request", value=1)
    with container.engine.connect() as conn:
        with pytest.raises(sa.exc.IntegrityError):  # the organisation already has its request counter
            Prepared(stmt, conn.dialect).rows(conn, {"org": org.id})
        conn.rollback()
        assert conn.execute(sa.select(sa.func.count()).select_from(t.counters)
                            .where(t.counters.c.org_id == org.id, t.counters.c.name == "request")).scalar() == 1


def test_positional_dialects_are_refused(sqlite_container):
    with sqlite_container.engine.connect() as conn:
        with pytest.raises(ValueError):
            Prepared(sa.select(t.organisations.c.id).where(t.organisations.c.id == sa.bindparam("org")),
                     conn.dialect)


def test_a_connection_the_server_closed_fails_one_statement_and_the_pool_reconnects(pg_url, pg_engine):
    engine = make_engine(pg_url, pool_size=1, max_overflow=0, ping_idle_seconds=3600)  # no ping at checkout
    stmt = sa.select(sa.func.pg_backend_pid().label("pid"), sa.bindparam("n", type_=sa.Integer).label("n"))
    try:
        with engine.connect() as conn:
            [row] = Prepared(stmt, conn.dialect).rows(conn, {"n": 1})
            pid = row.pid
        with pg_engine.connect() as admin:
            assert admin.exec_driver_sql(f"SELECT pg_terminate_backend({pid}, 5000)").scalar_one()
        with engine.connect() as conn:
            with pytest.raises(sa.exc.OperationalError):  # SQLAlchemy's exception, the connection invalidated
                Prepared(stmt, conn.dialect).rows(conn, {"n": 2})
            assert conn.invalidated
        with engine.connect() as conn:
            [row] = Prepared(stmt, conn.dialect).rows(conn, {"n": 3})
            assert row.pid != pid and row.n == 3
    finally:
        engine.dispose()
