"""Shared fixtures. Integration tests run against the machine's real PostgreSQL and Redis: each test session
creates its own database (and Redis db number) and removes it at the end."""
from __future__ import annotations

import os
import uuid

import pytest
import sqlalchemy as sa

from journal_api.bootstrap import bootstrap
from journal_api.config import load_settings
from journal_api.domain.events import Actor
from journal_api.service.uow import MemoryPublisher
from journal_api.storage.migrate import upgrade
from journal_api.storage.tables import metadata

PG_ADMIN_URL = os.environ.get("HOTLINE_TEST_PG_ADMIN_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
REDIS_BASE = os.environ.get("HOTLINE_TEST_REDIS_URL", "redis://127.0.0.1:6379")


def _worker_index() -> int:
    name = os.environ.get("PYTEST_XDIST_WORKER", "gw0")
    return int("".join(ch for ch in name if ch.isdigit()) or 0)


@pytest.fixture(scope="session")
def pg_url():
    """A fresh PostgreSQL database for this test session, migrated to head, dropped afterwards."""
    name = f"hotline_test_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    url = PG_ADMIN_URL.rsplit("/", 1)[0] + "/" + name
    upgrade(url)
    yield url
    with admin.connect() as conn:
        conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    admin.dispose()


@pytest.fixture(scope="session")
def redis_url():
    """Redis db 10 + the xdist worker index. Test sessions may run side by side on one machine, so nothing flushes
    the db: each session uses its own queue name (see ``queue_name``) and deletes only its own keys."""
    return f"{REDIS_BASE}/{10 + _worker_index()}"


@pytest.fixture(scope="session")
def queue_name(redis_url):
    import redis
    from rq import Queue

    name = f"hotline-test-{uuid.uuid4().hex[:8]}"
    yield name
    conn = redis.Redis.from_url(redis_url)
    queue = Queue(name, connection=conn)
    for job_id in queue.get_job_ids() + queue.failed_job_registry.get_job_ids() + \
            queue.finished_job_registry.get_job_ids():
        conn.delete(f"rq:job:{job_id}")
    queue.delete(delete_jobs=True)
    conn.close()


@pytest.fixture(scope="session")
def pg_engine(pg_url):
    from journal_api.storage.db import make_engine

    engine = make_engine(pg_url)
    yield engine
    engine.dispose()


def _truncate(engine) -> None:
    names = ", ".join(f'"{t.name}"' for t in metadata.sorted_tables)
    with engine.begin() as conn:
        conn.exec_driver_sql(f"TRUNCATE {names} RESTART IDENTITY CASCADE")


@pytest.fixture
def settings(tmp_path, pg_url, redis_url, queue_name):
    return load_settings(environ={}, database_url=pg_url, redis_url=redis_url, data_dir=str(tmp_path),
                         env="test", max_upload_bytes=256 * 1024, queue_name=queue_name)


@pytest.fixture
def container(settings, pg_engine):
    """The real wiring on real PostgreSQL; events are published to an in-memory port."""
    _truncate(pg_engine)
    c = bootstrap(settings, publisher=MemoryPublisher(), engine=pg_engine)
    yield c


@pytest.fixture
def app(container):
    from journal_api.app import create_app

    app = create_app(container)
    app.config.update(TESTING=True)
    return app


@pytest.fixture
def client(app):
    return app.test_client()


SYSTEM = Actor.system("test")


@pytest.fixture
def org(container):
    return container.registry.create_organisation("demo", "УК Демо", "Europe/Moscow")


@pytest.fixture
def other_org(container):
    return container.registry.create_organisation("other", "УК Другая", "Asia/Yekaterinburg")


@pytest.fixture
def building(container, org):
    return container.registry.upsert_building(org.id, SYSTEM, {
        "building_id": "B-1", "city": "Москва", "complex": "ЖК Солнечный", "street": "ул. Ленина", "house": "10",
        "korpus": "2", "entrances": 4, "floors": 9, "apartments": 144})


@pytest.fixture
def technician(container, org):
    return container.registry.upsert_staff(org.id, SYSTEM, {
        "full_name": "Иванов Иван Петрович", "role": "technician", "phone": "+7 912 345-67-89",
        "sip_account": "ivanov"})


@pytest.fixture
def make_token(container):
    def make(org_code: str = "demo", role: str = "dispatcher", staff_id: int | None = None) -> dict:
        token = container.tokens.create(org_code, role, staff_id)
        return {"Authorization": f"Bearer {token}"}

    return make


@pytest.fixture
def sqlite_container(tmp_path):
    """The embedded default: SQLite through the same migrations."""
    s = load_settings(environ={}, data_dir=str(tmp_path), env="test")
    upgrade(s.effective_database_url)
    c = bootstrap(s, publisher=MemoryPublisher())
    yield c
    c.dispose()


@pytest.fixture
def fresh_pg_url(pg_url):
    """An empty PostgreSQL database of its own on the test server, dropped afterwards."""
    name = f"hotline_fresh_{uuid.uuid4().hex[:10]}"
    server = pg_url.rsplit("/", 1)[0]
    admin = sa.create_engine(server + "/postgres", isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    try:
        yield f"{server}/{name}"
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()
