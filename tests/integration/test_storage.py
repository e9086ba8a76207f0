"""Storage: the one set of migrations serves PostgreSQL and SQLite, goes down and up again, builds exactly the
schema that tables.py describes, and keeps the request history append-only in the database itself."""
from __future__ import annotations

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory

from journal_api.domain.events import Actor
from journal_api.service.requests import NewRequest
from journal_api.storage import tables as t
from journal_api.storage.db import make_engine
from journal_api.storage.migrate import POSTGRESQL_ONLY_INDEXES, alembic_config, downgrade, include_object, upgrade

DISPATCHER = Actor(kind="staff", role="dispatcher", name="Петрова А.С.")


@pytest.fixture(params=["postgresql", "sqlite"])
def empty_url(request, tmp_path):
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'hotline.db'}"
    return request.getfixturevalue("fresh_pg_url")


def _inspect(url: str, what):
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            return what(conn)
    finally:
        engine.dispose()


def _tables(url: str) -> set[str]:
    return _inspect(url, lambda conn: set(sa.inspect(conn).get_table_names()))


def _revision(url: str) -> str | None:
    return _inspect(url, lambda conn: MigrationContext.configure(conn).get_current_revision())


def _drift(url: str) -> list:
    def compare(conn):
        context = MigrationContext.configure(conn, opts={"compare_type": True, "compare_server_default": True,
                                                         "include_object": include_object})
        return compare_metadata(context, t.metadata)

    return _inspect(url, compare)


def test_migrations_go_up_down_to_base_and_up_again(empty_url):
    head = ScriptDirectory.from_config(alembic_config(empty_url)).get_current_head()
    upgrade(empty_url)
    assert _tables(empty_url) >= set(t.metadata.tables)
    assert _revision(empty_url) == head
    downgrade(empty_url, "base")
    assert _tables(empty_url) - {"alembic_version"} == set()
    assert _revision(empty_url) is None
    upgrade(empty_url)
    assert _tables(empty_url) >= set(t.metadata.tables)
    assert _revision(empty_url) == head


def test_the_migrated_schema_matches_the_metadata(empty_url):
    upgrade(empty_url)
    downgrade(empty_url, "base")
    upgrade(empty_url)
    assert _drift(empty_url) == []


def test_the_schema_comparison_notices_a_missing_index(empty_url):
    upgrade(empty_url)
    engine = make_engine(empty_url)
    with engine.begin() as conn:
        conn.exec_driver_sql("DROP INDEX ix_requests_org_caller")
    engine.dispose()
    assert [(d[0], d[1].name) for d in _drift(empty_url)] == [("add_index", "ix_requests_org_caller")]


def test_the_postgresql_only_indexes_exist_there_and_only_they_are_left_out_of_the_comparison(fresh_pg_url):
    upgrade(fresh_pg_url)
    names = _inspect(fresh_pg_url, lambda conn: {ix["name"] for ix in sa.inspect(conn).get_indexes("requests")})
    assert POSTGRESQL_ONLY_INDEXES <= names
    index = sa.Index("ix_requests_org_caller", t.requests.c.org_id)
    assert include_object(index, "ix_requests_open_due", "index", True, None) is False
    assert include_object(index, "ix_requests_org_caller", "index", True, None) is True
    assert include_object(index, "ix_requests_open_due", "index", False, index) is True


# -- the history is append-only in the database -------------------------------------------------------------------
def _history_rows(engine, request_id) -> list:
    with engine.connect() as conn:
        return conn.execute(sa.select(t.request_events).where(t.request_events.c.request_id == request_id)).all()


@pytest.fixture(params=["postgresql", "sqlite"])
def registered(request):
    """A container on either database, and a request registered in it."""
    c = request.getfixturevalue("container" if request.param == "postgresql" else "sqlite_container")
    org = c.registry.create_organisation("journal", "УК Журнал", "Europe/Moscow")
    req = c.requests.register(org.id, DISPATCHER, NewRequest(description="Нет света", work_type="electricity"))
    c.requests.comment(org.id, req.number, DISPATCHER, "dispatcher", "Позвонили в сети")
    return c, req


@pytest.mark.parametrize("statement", [
    sa.update(t.request_events).values(new_value="переписано"),
    sa.delete(t.request_events),
], ids=["update", "delete"])
def test_the_request_history_cannot_be_changed_or_deleted_with_raw_sql(registered, statement):
    c, request = registered
    before = _history_rows(c.engine, request.id)
    assert len(before) == 2
    with pytest.raises(sa.exc.DBAPIError, match="append-only"):
        with c.engine.begin() as conn:
            conn.execute(statement.where(t.request_events.c.request_id == request.id))
    assert _history_rows(c.engine, request.id) == before


def test_the_request_history_still_takes_new_entries(registered):
    c, request = registered
    org_id = request.org_id
    c.requests.comment(org_id, request.number, DISPATCHER, "dispatcher", "Ещё один комментарий")
    assert len(_history_rows(c.engine, request.id)) == 3
