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
