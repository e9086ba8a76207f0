"""The Kannel webhooks: a shared secret and an address allow-list, replays refused, a per-sender rate limit;
refused requests write nothing."""
from __future__ import annotations

import dataclasses
import uuid

import pytest
import sqlalchemy as sa

from journal_api.storage.tables_messages import inbound_messages
from notifier.inbound import InboundService
from notifier.service import Notifier

from sms_support import DISPATCHER, all_messages, pump

TECH = "+79123456789"


@pytest.fixture
def hooks(app, container, sms_settings, enqueued, redis_conn):
    settings = dataclasses.replace(sms_settings, inbound_per_minute=100, kannel_allow_ips="127.0.0.1, 10.1.0.0/16")
    notifier = Notifier(container, settings=settings, enqueuer=enqueued, redis=redis_conn)
    app.extensions["hotline.notifier"] = notifier
    app.extensions["hotline.sms_inbound"] = InboundService(notifier)
    return notifier


def _mo(client, body, *, sender=TECH, secret="s3cret", ip="127.0.0.1", mid=None):
    return client.get("/sms/kannel/mo", query_string={"secret": secret, "from": sender, "to": "4740", "text": body,
                                                     "id": mid or str(uuid.uuid4()), "charset": "UTF-8"},
                      environ_base={"REMOTE_ADDR": ip})


def _inbound_count(container):
    with container.engine.connect() as conn:
        return conn.execute(sa.select(sa.func.count()).select_from(inbound_messages)).scalar()


def test_a_kannel_mo_from_an_allowed_address_changes_the_request(client, container, org, hooks, assigned):
    assert _mo(client, f"{assigned.number} принято", ip="10.1.2.3").status_code == 200
    assert container.requests.get(org.id, assigned.number, DISPATCHER).status == "accepted"


@pytest.mark.parametrize("secret,ip", [("wrong", "127.0.0.1"), ("", "127.0.0.1"), ("s3cret", "10.2.0.1")])
def test_a_forged_kannel_mo_gets_403_and_writes_nothing(client, container, org, hooks, assigned, secret, ip):
    assert _mo(client, f"{assigned.number} принято", secret=secret, ip=ip).status_code == 403
    assert container.requests.get(org.id, assigned.number, DISPATCHER).status == "assigned"
    assert _inbound_count(container) == 0


def test_a_replayed_kannel_mo_gets_403(client, container, hooks, assigned):
    assert _mo(client, f"{assigned.number} принято", mid="same-id").status_code == 200
    assert _mo(client, f"{assigned.number} принято", mid="same-id").status_code == 403
    assert _inbound_count(container) == 1


def test_a_sender_over_the_rate_limit_gets_429_and_nothing_is_written(client, container, hooks, assigned):
    hooks.base = dataclasses.replace(hooks.base, inbound_per_minute=3)
    sender = "+7912" + uuid.uuid4().hex[:7].translate(str.maketrans("abcdef", "123456"))
    codes = [_mo(client, "мои", sender=sender).status_code for _ in range(5)]
    assert codes == [200, 200, 200, 429, 429]
    assert _inbound_count(container) == 3


def test_a_ucs2_mo_is_decoded_in_the_charset_kannel_names(client, container, org, hooks, assigned):
    from urllib.parse import quote_from_bytes

    text = quote_from_bytes(f"{assigned.number} ПРИНЯТО".encode("utf-16-be"))
    response = client.get(f"/sms/kannel/mo?secret=s3cret&from=%2B79123456789&id=u1&charset=UTF-16BE&text={text}")
    assert response.status_code == 200
    assert container.requests.get(org.id, assigned.number, DISPATCHER).status == "accepted"


def test_kannels_retry_of_a_message_whose_handling_failed_is_handled_not_refused_as_a_replay(
        app, client, container, org, hooks, assigned):
    from sms_support import CrashingOnce

    app.extensions["hotline.sms_inbound"] = CrashingOnce(hooks)
    app.config.update(PROPAGATE_EXCEPTIONS=False)  # as in production: the handler's error is a 500 for Kannel
    body = f"{assigned.number} принято"
    assert _mo(client, body, mid="mo-crash-1").status_code == 500
    assert container.requests.get(org.id, assigned.number, DISPATCHER).status == "assigned"
    assert _mo(client, body, mid="mo-crash-1").status_code == 200  # Kannel's retry (smsbox http-request-retry)
    assert container.requests.get(org.id, assigned.number, DISPATCHER).status == "accepted"
    assert _mo(client, body, mid="mo-crash-1").status_code == 403  # handled now: a replay
    assert _inbound_count(container) == 1


def test_a_dlr_needs_the_secret_and_moves_the_message_forward(client, container, hooks, assigned):
    pump(container, hooks)
    mid = all_messages(container)[0].id
    assert client.get("/sms/kannel/dlr", query_string={"secret": "nope", "id": mid, "type": 1}).status_code == 403
    assert hooks.outbox.get(mid).status == "sent"
    assert client.get("/sms/kannel/dlr", query_string={"secret": "s3cret", "id": mid, "type": 1}).status_code == 200
    assert client.get("/sms/kannel/dlr", query_string={"secret": "s3cret", "id": mid, "type": 8}).status_code == 200
    assert hooks.outbox.get(mid).status == "delivered"


@pytest.mark.parametrize("dlr", [2, 16])
def test_an_undelivered_dlr_alerts_the_dispatcher_on_duty_once(client, container, org, hooks, assigned, dispatcher,
                                                               dlr):
    pump(container, hooks)
    mid = all_messages(container, audience="technician")[0].id
    for kind in (dlr, dlr, 16, 2, 1):  # repeated, a second failure kind, a late "delivered": one alert
        assert client.get("/sms/kannel/dlr", query_string={"secret": "s3cret", "id": mid, "type": kind,
                                                           "answer": "NACK/0x0000000b/Invalid Destination"}) \
            .status_code == 200
    row = hooks.outbox.get(mid)
    assert row.status == "undelivered" and "Invalid Destination" in row.last_error  # forward only
    alerts = all_messages(container, template="alert_sms_failed")
    assert [(a.recipient, a.request_id) for a in alerts] == [("+79031112233", assigned.id)]
    notes = [e for e in container.requests.history(org.id, assigned.number, DISPATCHER)
             if e.kind == "comment" and "не доставлено" in (e.new_value or "")]
    assert len(notes) == 1


def test_a_delivered_dlr_alerts_nobody(client, container, hooks, assigned, dispatcher):
    pump(container, hooks)
    mid = all_messages(container, audience="technician")[0].id
    client.get("/sms/kannel/dlr", query_string={"secret": "s3cret", "id": mid, "type": 1})
    assert all_messages(container, template="alert_sms_failed") == []


def test_the_rate_of_a_provider_is_kept_across_senders(redis_conn, queue_name):
    import time

    from notifier.ratelimit import RateLimiter

    limiters = [RateLimiter(redis_conn, prefix=f"{queue_name}:rate") for _ in range(2)]  # two workers
    name, stamps = uuid.uuid4().hex, []
    for i in range(12):
        limiters[i % 2].acquire(name, 5)
        stamps.append(time.time())
    # any one-second window, wherever it starts, holds at most the rate (a small margin for the clock's reading)
    assert max(sum(1 for s in stamps if start <= s < start + 0.99) for start in stamps) <= 5
    assert stamps[-1] - stamps[0] >= 2.0  # 12 sends at 5/s take more than two seconds


def _acquired_at(redis_conn, queue_name, rate, sends, *, start, work_s=0.0):
    """The fake clock's reading each time one limiter lets a send through at ``rate`` per second, ``work_s`` spent
    after each send; the limiter's waits advance the fake clock."""
    from notifier.ratelimit import RateLimiter

    now = [start]

    def sleep(seconds):
        now[0] += seconds

    limiter, name = RateLimiter(redis_conn, prefix=f"{queue_name}:rate"), uuid.uuid4().hex
    stamps = []
    for _ in range(sends):
        limiter.acquire(name, rate, clock=lambda: now[0], sleep=sleep)
        stamps.append(now[0])
        now[0] += work_s
    return stamps


def test_no_burst_of_twice_the_rate_across_a_seconds_boundary(redis_conn, queue_name):
    """A fixed per-second counter let 5 sends at x.95 and 5 more at (x+1).0: 10 within 0.1 s."""
    stamps = _acquired_at(redis_conn, queue_name, 5, 10, start=1000.95, work_s=0.01)
    assert stamps[5] - stamps[0] >= 0.999  # the sixth waits a whole second after the first
    assert max(sum(1 for s in stamps if start <= s < start + 0.999) for start in stamps) <= 5


def test_a_rate_below_one_per_second_spaces_the_sends(redis_conn, queue_name):
    stamps = _acquired_at(redis_conn, queue_name, 0.5, 3, start=50.0)
    assert stamps[1] - stamps[0] >= 2.0 and stamps[2] - stamps[1] >= 2.0
