"""Fixtures of the incident tests: the journal on PostgreSQL with a clock the test moves, its API, a second
building, and a Notifier with the log provider whose queued messages stay in the outbox table."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from redis import Redis

from journal_api.bootstrap import bootstrap
from journal_api.domain.events import Actor
from journal_api.service.uow import MemoryPublisher

SYSTEM = Actor.system("test")


class Clock:
    def __init__(self, start: datetime):
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@pytest.fixture
def clock():
    return Clock(datetime.now(timezone.utc).replace(microsecond=0))


@pytest.fixture
def journal(container, settings, pg_engine, clock):
    """The same database as ``container`` (already emptied by it), with the test's clock."""
    return bootstrap(settings, publisher=MemoryPublisher(), engine=pg_engine, clock=clock)


@pytest.fixture
def journal_client(journal):
    from journal_api.app import create_app

    app = create_app(journal)
    app.config.update(TESTING=True)
    return app.test_client()


@pytest.fixture
def far_building(container, org):
    return container.registry.upsert_building(org.id, SYSTEM, {
        "building_id": "B-2", "city": "Москва", "street": "ул. Гагарина", "house": "3", "entrances": 2,
        "floors": 5, "apartments": 40})


class ListEnqueuer:
    def __init__(self):
        self.ids: list[int] = []

    def enqueue(self, message_ids):
        self.ids.extend(message_ids)


@pytest.fixture
def notifier(journal, redis_url):
    from notifier.service import Notifier
    from notifier.settings import SmsSettings

    conn = Redis.from_url(redis_url)
    yield Notifier(journal, settings=SmsSettings(provider="log"), enqueuer=ListEnqueuer(), redis=conn)
    conn.close()
