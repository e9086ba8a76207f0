"""Pooled PostgreSQL connections: pinged only after sitting idle, and replaced when the server has closed them."""
from __future__ import annotations

import pytest
import sqlalchemy as sa

from journal_api.storage.db import make_engine


def _backend_pid(engine) -> int:
    with engine.connect() as conn:
        return conn.exec_driver_sql("SELECT pg_backend_pid()").scalar_one()


def _terminate(admin, pid: int) -> None:
    with admin.connect() as conn:
        assert conn.exec_driver_sql(f"SELECT pg_terminate_backend({pid}, 5000)").scalar_one()


def test_a_connection_that_sat_idle_and_was_closed_by_the_server_is_replaced_at_checkout(pg_url, pg_engine):
    engine = make_engine(pg_url, pool_size=1, max_overflow=0, ping_idle_seconds=0)
    try:
        pid = _backend_pid(engine)
        _terminate(pg_engine, pid)
        assert _backend_pid(engine) != pid
    finally:
        engine.dispose()


def test_a_connection_in_steady_use_is_not_pinged_and_a_break_fails_one_statement_then_reconnects(pg_url, pg_engine):
    engine = make_engine(pg_url, pool_size=1, max_overflow=0, ping_idle_seconds=3600)
    try:
        pid = _backend_pid(engine)
        _terminate(pg_engine, pid)
        with pytest.raises(sa.exc.OperationalError):
            _backend_pid(engine)
        assert _backend_pid(engine) != pid
    finally:
        engine.dispose()
