"""Fixtures of the notifier's tests: a Notifier on the test database and Redis, with an in-memory enqueuer port
(tests send the queued messages themselves) unless a test runs real rq workers."""
from __future__ import annotations

import pytest
import sqlalchemy as sa
from redis import Redis

from journal_api.domain.events import Actor
from journal_api.service.requests import NewRequest
from journal_api.storage import tables as t
from journal_api.storage.tables_messages import messages
from notifier.service import Notifier
from notifier.settings import SmsSettings

SYSTEM = Actor.system("test")
DISPATCHER = Actor(kind="staff", role="dispatcher", name="Петрова А.С.")
RESIDENT_PHONE = "+79161234567"


class ListEnqueuer:
    """The enqueue port in memory: ids wait here until the test sends them."""

    def __init__(self):
        self.ids: list[int] = []

    def enqueue(self, message_ids):
        self.ids.extend(message_ids)


@pytest.fixture
def redis_conn(redis_url):
    conn = Redis.from_url(redis_url)
    yield conn
    conn.close()


@pytest.fixture
def sms_settings():
    return SmsSettings(provider="log", rate_per_second=1000, backoff_seconds=0.01, backoff_max_seconds=0.05,
                       max_attempts=3, kannel_secret="s3cret", twilio_account_sid="AC" + "1" * 32,
                       twilio_auth_token="tok" * 8)


@pytest.fixture
def enqueued():
    return ListEnqueuer()


@pytest.fixture
def notifier(container, sms_settings, enqueued, redis_conn):
    return Notifier(container, settings=sms_settings, enqueuer=enqueued, redis=redis_conn)


def pump(container, notifier, *, send: bool = True) -> list[str]:
    """Handle every unhandled outbox event as the worker would (then mark it handled), and send what got queued."""
    with container.engine.begin() as conn:
        rows = conn.execute(sa.select(t.outbox).where(t.outbox.c.handled_at.is_(None)).order_by(t.outbox.c.id)).all()
    for row in rows:
        notifier.handle(row)
        with container.engine.begin() as conn:
            conn.execute(sa.update(t.outbox).where(t.outbox.c.id == row.id).values(handled_at=t.utcnow()))
    results = []
    if send:
        while notifier.enqueuer.ids:
            results.append(notifier.send(notifier.enqueuer.ids.pop(0)))
    return results


def all_messages(container, **where) -> list:
    with container.engine.connect() as conn:
        query = sa.select(messages).order_by(messages.c.id)
        for key, value in where.items():
            query = query.where(messages.c[key] == value)
        return conn.execute(query).all()


@pytest.fixture
def dispatcher(container, org):
    return container.registry.upsert_staff(org.id, SYSTEM, {
        "full_name": "Петрова Анна Сергеевна", "role": "dispatcher", "phone": "+7 903 111-22-33"})


@pytest.fixture
def make_request(container, org, building):
    def make(description: str = "Течёт кран на кухне", **over):
        data = dict(description=description, work_type="water", channel="phone", caller_phone=RESIDENT_PHONE,
                    building_id=building.id, apartment=45, entrance=3, floor=5)
        data.update(over)
        return container.requests.register(org.id, DISPATCHER, NewRequest(**data))

    return make


@pytest.fixture
def assigned(container, org, make_request, technician):
    request = make_request()
    return container.requests.assign(org.id, request.number, DISPATCHER, "dispatcher", technician.id)
