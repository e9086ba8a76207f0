"""The SMS outbox: messages for the journal's events, sent once, retried or failed honestly, receipts forward only."""
from __future__ import annotations

import sqlalchemy as sa

from journal_api.storage import tables as t
from notifier.providers import PermanentError, TransientError

from sms_support import DISPATCHER, RESIDENT_PHONE, all_messages, pump


class Recording:
    """A provider port that records calls and fails as told (the real providers have their own tests)."""

    name = "log"

    def __init__(self, failures=()):
        self.failures = list(failures)
        self.sent = []

    def send(self, message):
        if self.failures:
            raise self.failures.pop(0)
        self.sent.append(message)
        return f"rec-{message.message_id}"


def _use(notifier, provider):
    notifier._providers = {key: provider for key in [("log", notifier.base.kannel_sendsms_url,
                                                       notifier.base.twilio_account_sid, notifier.base.sender,
                                                       notifier.base.twilio_base_url)]}


def test_an_assignment_sends_the_technician_his_request_with_a_link_to_his_page(container, notifier, assigned,
                                                                                technician):
    pump(container, notifier)
    sms = all_messages(container, audience="technician")
    assert len(sms) == 1
    body = sms[0].body
    assert f"№{assigned.number}" in body and "ул. Ленина 10к2" in body and "п3 эт5 кв45" in body
    assert RESIDENT_PHONE in body and "/t/" in body and sms[0].segments <= 2
    assert sms[0].status == "sent" and sms[0].recipient == "+79123456789" and sms[0].staff_id == technician.id
    token = body.rsplit("/t/", 1)[1]
    grant = container.links.verify(token, "technician")
    assert (grant.request_id, grant.subject_id) == (assigned.id, technician.id)


def test_a_reassignment_tells_the_previous_technician_and_closes_his_page(container, org, notifier, assigned,
                                                                          technician):
    from sms_support import SYSTEM

    pump(container, notifier)
    old_token = all_messages(container, template="assignment")[0].body.rsplit("/t/", 1)[1]
    other = container.registry.upsert_staff(org.id, SYSTEM, {"full_name": "Сидоров Пётр", "role": "technician",
                                                             "phone": "+79125550000"})
    container.requests.assign(org.id, assigned.number, DISPATCHER, "dispatcher", other.id, reason="отпуск")
    pump(container, notifier)
    assert [m.recipient for m in all_messages(container, template="reassignment")] == ["+79123456789"]
    new = all_messages(container, template="assignment")[-1]
    assert new.recipient == "+79125550000"
    import pytest
    from journal_api.domain.errors import DomainError

    with pytest.raises(DomainError):
        container.links.verify(old_token, "technician")
    assert container.links.verify(new.body.rsplit("/t/", 1)[1], "technician").subject_id == other.id


def test_the_resident_hears_of_registration_acceptance_postponement_and_the_rating_request(
        container, org, notifier, assigned, technician):
    from datetime import timedelta

    from journal_api.domain.events import Actor

    tech = Actor(kind="staff", role="technician", id=technician.id, name=technician.full_name)
    container.requests.transition(org.id, assigned.number, tech, "sms", "accepted")
    container.requests.transition(org.id, assigned.number, tech, "sms", "postponed", reason="нет запчасти",
                                  until=container.clock() + timedelta(days=1))
    container.requests.transition(org.id, assigned.number, tech, "sms", "done", report="заменил кран")
    container.requests.transition(org.id, assigned.number, DISPATCHER, "dispatcher", "closed")
    pump(container, notifier)
    texts = [m.template for m in all_messages(container, audience="resident")]
    assert texts == ["resident_registered", "resident_accepted", "resident_postponed", "resident_done",
                     "resident_rating_request"]
    done = all_messages(container, template="resident_done")[0]
    assert "заменил кран" in done.body
    for sms in all_messages(container, audience="resident"):  # each carries a live link to the resident's page
        assert "/r/" in sms.body and sms.segments <= 2, sms.body
        grant = container.links.verify(sms.body.rsplit("/r/", 1)[1], "resident")
        assert (grant.request_id, grant.audience, grant.subject_id) == (assigned.id, "resident", None)


def _links(container, audience):
    from journal_api.storage.tables_console import console_links

    with container.engine.connect() as conn:
        return conn.execute(sa.select(sa.func.count()).select_from(console_links)
                            .where(console_links.c.audience == audience)).scalar()


def test_an_event_handled_again_issues_no_second_resident_link(container, notifier, assigned):
    with container.engine.connect() as conn:
        rows = conn.execute(sa.select(t.outbox).order_by(t.outbox.c.id)).all()
    for row in rows + rows:
        notifier.handle(row)
    assert _links(container, "resident") == 1 and _links(container, "technician") == 1


def test_the_technicians_message_goes_to_the_resident_by_sms_with_his_link(container, org, notifier, assigned,
                                                                            technician):
    from journal_api.domain.events import Actor

    pump(container, notifier)
    tech = Actor(kind="staff", role="technician", id=technician.id, name=technician.full_name)
    container.requests.message_resident(org.id, assigned.number, tech, "web", "Буду завтра в 10:00, откройте подвал")
    assert pump(container, notifier) == ["sent"]
    sms = all_messages(container, template="resident_message")
    assert len(sms) == 1 and sms[0].recipient == RESIDENT_PHONE and sms[0].status == "sent"
    assert sms[0].body.startswith(f"Мастер по заявке №{assigned.number}: Буду завтра в 10:00, откройте подвал")
    assert container.links.verify(sms[0].body.rsplit("/r/", 1)[1], "resident").request_id == assigned.id
    notes = [e.new_value for e in container.requests.history(org.id, assigned.number, DISPATCHER)
             if e.kind == "comment"]
    assert notes == ["Сообщение жителю: Буду завтра в 10:00, откройте подвал"]


def test_the_technicians_longest_message_is_sent_whole(container, org, notifier, assigned, technician):
    from journal_api.domain.events import Actor
    from journal_api.domain.request import MAX_RESIDENT_MESSAGE

    text = ("Приду завтра утром, перекрою стояк. " * 20)[:MAX_RESIDENT_MESSAGE].strip()
    tech = Actor(kind="staff", role="technician", id=technician.id, name=technician.full_name)
    container.requests.message_resident(org.id, assigned.number, tech, "web", text)
    pump(container, notifier)
    sms = all_messages(container, template="resident_message")[0]
    assert text in sms.body and "…" not in sms.body


def test_the_technicians_message_to_a_resident_who_said_stop_is_not_sent(container, org, notifier, assigned,
                                                                          technician):
    from journal_api.domain.events import Actor
    from journal_api.storage.tables_messages import sms_opt_outs

    with container.engine.begin() as conn:
        conn.execute(sa.insert(sms_opt_outs).values(org_id=org.id, phone=RESIDENT_PHONE, created_at=t.utcnow()))
    tech = Actor(kind="staff", role="technician", id=technician.id, name=technician.full_name)
    container.requests.message_resident(org.id, assigned.number, tech, "web", "Буду в 10")
    pump(container, notifier)
    assert [m.status for m in all_messages(container, template="resident_message")] == ["suppressed"]


def test_a_message_to_a_request_without_a_residents_phone_is_refused(container, org, make_request, technician):
    import pytest

    from journal_api.domain.errors import ValidationError
    from journal_api.domain.events import Actor

    request = make_request(caller_phone=None)
    tech = Actor(kind="staff", role="dispatcher", name="Д")
    with pytest.raises(ValidationError) as raised:
        container.requests.message_resident(org.id, request.number, tech, "web", "Буду в 10")
    assert raised.value.field == "caller_phone"


def test_an_event_handled_twice_makes_its_messages_once(container, notifier, assigned):
    with container.engine.connect() as conn:
        rows = conn.execute(sa.select(t.outbox).order_by(t.outbox.c.id)).all()
    for row in rows + rows:
        notifier.handle(row)
    assert len(all_messages(container)) == 2  # the resident's registration and the technician's assignment


def test_a_message_is_sent_once_however_often_its_job_runs(container, notifier, assigned):
    provider = Recording()
    _use(notifier, provider)
    pump(container, notifier, send=False)
    ids = list(notifier.enqueuer.ids)
    results = [notifier.send(i) for i in ids + ids + ids]
    assert results.count("sent") == len(ids) and len(provider.sent) == len(ids)
    assert {m.attempts for m in all_messages(container)} == {1}


def _when_due(notifier, message_id, timeout=5.0):
    """Send the message as the scheduler's re-enqueued job would: once Outbox.due hands it out."""
    import time

    deadline = time.monotonic() + timeout
    while message_id not in notifier.outbox.due():
        assert time.monotonic() < deadline, f"message {message_id} never fell due"
        time.sleep(0.01)
    return notifier.send(message_id)


def test_transient_errors_are_retried_with_backoff_then_sent(container, notifier, assigned):
    provider = Recording([TransientError("Kannel 503", "503"), TransientError("timeout", "timeout")])
    _use(notifier, provider)
    pump(container, notifier, send=False)
    first = all_messages(container, audience="resident")[0].id
    assert notifier.send(first) == "retry"
    row = notifier.outbox.get(first)
    assert row.status == "queued" and row.next_attempt_at > row.created_at and "503" in row.last_error
    assert _when_due(notifier, first) == "retry"
    assert _when_due(notifier, first) == "sent"
    row = notifier.outbox.get(first)
    assert (row.status, row.attempts, row.last_error) == ("sent", 3, None)


def test_a_stray_second_job_does_not_retry_before_the_retry_time(container, notifier, assigned):
    import dataclasses
    from datetime import timedelta

    notifier.base = dataclasses.replace(notifier.base, backoff_seconds=30, backoff_max_seconds=60)
    provider = Recording([TransientError("Kannel 503", "503")])
    _use(notifier, provider)
    pump(container, notifier, send=False)
    first = all_messages(container, audience="resident")[0].id
    assert notifier.send(first) == "retry"
    assert notifier.send(first) == "not queued"  # a duplicate job right after the failure: no retry at once
    assert notifier.outbox.due() == [] and notifier.outbox.get(first).attempts == 1 and provider.sent == []
    later = container.clock() + timedelta(seconds=61)
    notifier.outbox.clock = lambda: later  # the retry time has come: the scheduler re-enqueues it
    assert first in notifier.outbox.due()
    assert first not in notifier.outbox.due()  # handed out once per lease
    assert notifier.send(first) == "sent" and len(provider.sent) == 1
    assert notifier.outbox.get(first).attempts == 2


def test_a_fresh_message_is_claimed_at_once_and_a_released_one_again(container, notifier, assigned):
    pump(container, notifier, send=False)
    first = all_messages(container, audience="resident")[0].id
    assert notifier.outbox.claim(first) is not None
    notifier.outbox.release(first)  # nothing reached the provider
    assert notifier.send(first) == "sent"


def test_a_permanent_error_is_not_retried_and_the_dispatcher_on_duty_is_alerted(container, org, notifier,
                                                                                 assigned, dispatcher):
    provider = Recording([PermanentError("Twilio 21211: invalid 'To'", "invalid_number")])
    _use(notifier, provider)
    pump(container, notifier, send=False)
    first = all_messages(container, audience="resident")[0].id
    assert notifier.send(first) == "failed"
    assert notifier.send(first) == "not queued"
    row = notifier.outbox.get(first)
    assert row.status == "failed" and row.attempts == 1 and "21211" in row.last_error
    alert = all_messages(container, template="alert_sms_failed")
    assert len(alert) == 1 and alert[0].recipient == "+79031112233" and alert[0].request_id == assigned.id
    history = container.requests.history(org.id, assigned.number, DISPATCHER)
    assert any(e.kind == "comment" and e.channel == "sms" and "не доставлено" in (e.new_value or "")
               for e in history)


def test_the_last_transient_failure_fails_the_message_and_alerts(container, notifier, assigned, dispatcher):
    provider = Recording([TransientError("timeout", "timeout")] * 3)
    _use(notifier, provider)
    pump(container, notifier, send=False)
    first = all_messages(container, audience="resident")[0].id
    assert [notifier.send(first), _when_due(notifier, first), _when_due(notifier, first)] == \
        ["retry", "retry", "failed"]
    assert notifier.outbox.get(first).status == "failed"
    assert len(all_messages(container, template="alert_sms_failed")) == 1


def test_receipts_move_a_message_forward_only(container, notifier, assigned):
    pump(container, notifier)
    mid = all_messages(container)[0].id
    assert notifier.outbox.receipt(status="delivered", message_id=mid)
    assert not notifier.outbox.receipt(status="sent", message_id=mid)  # a late "accepted by the SMSC"
    assert not notifier.outbox.receipt(status="undelivered", message_id=mid)
    row = notifier.outbox.get(mid)
    assert row.status == "delivered" and row.delivered_at is not None


def test_a_resident_who_said_stop_gets_nothing_more(container, org, notifier, make_request):
    from journal_api.storage.tables_messages import sms_opt_outs

    with container.engine.begin() as conn:
        conn.execute(sa.insert(sms_opt_outs).values(org_id=org.id, phone=RESIDENT_PHONE, created_at=t.utcnow()))
    make_request()
    assert pump(container, notifier) == []
    assert [m.status for m in all_messages(container, audience="resident")] == ["suppressed"]


def test_a_claim_left_by_a_dead_worker_is_failed_not_resent(container, notifier, assigned, dispatcher):
    from datetime import timedelta

    pump(container, notifier, send=False)
    mid = notifier.enqueuer.ids[0]
    assert notifier.outbox.claim(mid) is not None  # the worker dies right after its claim
    notifier.outbox.claim_timeout = timedelta(0)
    assert notifier.outbox.reap() == [mid]
    assert notifier.send(mid) == "not queued" and notifier.outbox.get(mid).status == "failed"


def test_the_embedded_default_on_sqlite_stores_and_sends_through_the_log_provider(sqlite_container, sms_settings,
                                                                                  redis_conn):
    from journal_api.service.requests import NewRequest
    from notifier.service import Notifier
    from sms_support import ListEnqueuer, SYSTEM

    c = sqlite_container
    org = c.registry.create_organisation("lite", "УК Лайт", "Europe/Moscow")
    tech = c.registry.upsert_staff(org.id, SYSTEM, {"full_name": "Иванов Иван", "role": "technician",
                                                    "phone": "+79123456789"})
    request = c.requests.register(org.id, DISPATCHER, NewRequest(description="Нет света", work_type="electricity",
                                                                 caller_phone=RESIDENT_PHONE))
    c.requests.assign(org.id, request.number, DISPATCHER, "dispatcher", tech.id)
    notifier = Notifier(c, settings=sms_settings, enqueuer=ListEnqueuer(), redis=redis_conn)
    assert pump(c, notifier) == ["sent", "sent"]
    assert pump(c, notifier) == []  # handled once
    assert sorted(m.template for m in all_messages(c)) == ["assignment", "resident_registered"]


def test_a_claim_is_given_back_when_redis_fails_before_the_provider_is_called(container, notifier, assigned):
    import redis as redis_lib
    from notifier.ratelimit import RateLimiter

    pump(container, notifier, send=False)
    mid = notifier.enqueuer.ids[0]
    notifier.limiter = RateLimiter(redis_lib.Redis(port=1, socket_connect_timeout=0.2))  # nothing listens there
    provider = Recording()
    _use(notifier, provider)
    try:
        notifier.send(mid)
    except redis_lib.ConnectionError:
        pass
    else:
        raise AssertionError("the rate limiter's Redis error must propagate (rq records the failure)")
    row = notifier.outbox.get(mid)
    assert (row.status, row.attempts, provider.sent) == ("queued", 0, [])
