"""Shared fixtures and helpers of the request API tests: a clock the test controls, staff, tokens, row counts.

Import the fixtures you use into the test module; ``container`` here overrides the conftest one, so every service
and the API's "now" read the test's clock.
"""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
import sqlalchemy as sa

from journal_api.bootstrap import bootstrap
from journal_api.domain.events import Actor
from journal_api.storage import tables as t

SYSTEM = Actor.system("test")
START = datetime(2026, 3, 2, 9, 0, tzinfo=timezone.utc)
WRITTEN_TABLES = ("requests", "request_events", "outbox", "attachments", "ratings")


class Clock:
    """A clock that moves only when the test moves it."""

    def __init__(self, now: datetime):
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta) -> datetime:
        self.now += timedelta(**delta)
        return self.now


@pytest.fixture
def clock():
    return Clock(START)


@pytest.fixture
def container(container, clock):  # noqa: F811 - wraps the conftest container (which empties the database)
    return bootstrap(container.settings, publisher=container.publisher, engine=container.engine, clock=clock)


@pytest.fixture
def disp(org, make_token):
    return make_token("demo", "dispatcher")


@pytest.fixture
def manager(org, make_token):
    return make_token("demo", "manager")


@pytest.fixture
def petrov(container, org):
    """A second technician of the same organisation."""
    return container.registry.upsert_staff(org.id, SYSTEM, {
        "full_name": "Петров Пётр Сергеевич", "role": "technician", "phone": "+7 912 111-22-33"})


@pytest.fixture
def tech(technician, make_token):
    return make_token("demo", "technician", technician.id)


def row_counts(engine) -> dict[str, int]:
    with engine.connect() as conn:
        return {name: conn.scalar(sa.select(sa.func.count()).select_from(t.metadata.tables[name]))
                for name in WRITTEN_TABLES}


def create(client, headers, **fields) -> dict:
    body = {"description": "Течёт кран на кухне", **fields}
    r = client.post("/api/v1/requests", json=body, headers=headers)
    assert r.status_code == 201, r.get_json()
    return r.get_json()


def assert_error(response, status: int, code: str | None = None, field: str | None = None) -> dict:
    """The one JSON error shape, with a message that says something."""
    assert response.status_code == status, (response.status_code, response.get_data(as_text=True))
    error = response.get_json()["error"]
    assert set(error) <= {"code", "message", "field", "details"}
    assert isinstance(error["message"], str) and len(error["message"]) > 10
    if code is not None:
        assert error["code"] == code, error
    if field is not None:
        assert error.get("field") == field, error
    return error


def transition(client, headers, number: int, to: str, **extra):
    return client.post(f"/api/v1/requests/{number}/transitions", json={"to": to, **extra}, headers=headers)


def assign(client, headers, number: int, staff_id: int | None):
    return client.post(f"/api/v1/requests/{number}/assignment", json={"staff_id": staff_id}, headers=headers)


def history(client, headers, number: int) -> list[dict]:
    r = client.get(f"/api/v1/requests/{number}/history", headers=headers)
    assert r.status_code == 200, r.get_json()
    return r.get_json()
