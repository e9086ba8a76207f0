"""Fixtures of the notifier's tests: a Notifier on the test database and Redis, with an in-memory enqueuer port
(tests send the queued messages themselves) unless a test runs real rq workers."""
from __future__ import annotations

import pytest
from redis import Redis

from journal_api.service.requests import NewRequest
from notifier.service import Notifier
from notifier.settings import SmsSettings
from sms_support import DISPATCHER, RESIDENT_PHONE, SYSTEM, ListEnqueuer


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
