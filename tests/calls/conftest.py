"""Fixtures of the calls tests: the same scenarios on PostgreSQL and on SQLite."""
from __future__ import annotations


import pytest

from journal_api.domain.events import Actor

SYSTEM = Actor.system("test")


@pytest.fixture(params=["postgresql", "sqlite"])
def any_container(request):
    """A container on PostgreSQL (the shared fixture) or on SQLite through the same migrations."""
    return request.getfixturevalue("container" if request.param == "postgresql" else "sqlite_container")


@pytest.fixture
def place(any_container):
    """An organisation with two buildings that both have an apartment 45 (houses 10 and 12к1), and a resident."""
    c = any_container
    org = c.registry.create_organisation("demo", "УК Демо", "Europe/Moscow")
    b1 = c.registry.upsert_building(org.id, SYSTEM, {
        "building_id": "B-1", "city": "Москва", "street": "ул. Ленина", "house": "10", "entrances": 4,
        "floors": 9, "apartments": 144})
    b2 = c.registry.upsert_building(org.id, SYSTEM, {
        "building_id": "B-2", "city": "Москва", "street": "ул. Мира", "house": "12к1", "entrances": 2,
        "floors": 5, "apartments": 60})
    c.registry.add_resident(org.id, SYSTEM, "+7 903 555-10-01", name="Петрова", building_id=b1.id, apartment=45)
    return {"c": c, "org": org, "b1": b1, "b2": b2}


@pytest.fixture(scope="session")
def _sqlite_template(tmp_path_factory):
    """One SQLite database migrated to head per session; each test gets a copy (migrating costs ~0.5 s a test)."""
    import sqlite3

    from journal_api.storage.migrate import upgrade

    path = tmp_path_factory.mktemp("calls-sqlite-template") / "hotline.db"
    upgrade(f"sqlite:///{path}")
    with sqlite3.connect(path) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return path


@pytest.fixture
def sqlite_container(tmp_path, _sqlite_template):
    """The shared fixture's SQLite container (same settings, same migrations), from the migrated template."""
    import shutil

    from journal_api.bootstrap import bootstrap
    from journal_api.config import load_settings
    from journal_api.service.uow import MemoryPublisher

    s = load_settings(environ={}, data_dir=str(tmp_path), env="test")
    shutil.copyfile(_sqlite_template, tmp_path / "hotline.db")
    c = bootstrap(s, publisher=MemoryPublisher())
    yield c
    c.dispose()
