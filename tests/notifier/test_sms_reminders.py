"""Reminders and escalations leave on time from the ladder of issue 3: scheduled per request in the database,
recomputed when the request changes, cancelled when it closes, never sent twice (the one scheduler's tests:
test_scheduler_cron.py)."""
from __future__ import annotations

import time
from datetime import timedelta

import pytest
import sqlalchemy as sa

from journal_api.domain.events import Actor
from journal_api.service.escalation import EscalationService
from journal_api.storage.tables_messages import sms_wakeups
from notifier.scheduler import Scheduler

from sms_support import DISPATCHER, SYSTEM, all_messages, pump

FAST = {"statuses": ["assigned"], "until": "accepted", "emergency": [],
        "normal": [{"at": "assigned+2s", "remind": "assignee"},
                   {"at": "assigned+3s", "escalate": "dispatcher_on_duty"}]}


@pytest.fixture
def scheduler(container, notifier):
    return Scheduler(notifier, EscalationService(container.uow))


def _wakeup(container, request_id):
    with container.engine.connect() as conn:
        return conn.execute(sa.select(sms_wakeups.c.due_at).where(sms_wakeups.c.request_id == request_id)).scalar()


def _run_until(container, notifier, scheduler, moment):
    while container.clock() < moment:
        scheduler.tick()
        pump(container, notifier)
        time.sleep(0.05)
    scheduler.tick()
    pump(container, notifier)


def test_a_reminder_and_an_escalation_leave_on_time_once_and_stop_on_acceptance(
        container, org, notifier, scheduler, make_request, technician, dispatcher):
    EscalationService(container.uow).set_track(org.id, SYSTEM, "acceptance", FAST)
    request = make_request()
    request = container.requests.assign(org.id, request.number, DISPATCHER, "dispatcher", technician.id)
    pump(container, notifier)
    scheduler.tick()
    assert _wakeup(container, request.id) == request.assigned_at + timedelta(seconds=2)
    _run_until(container, notifier, scheduler, request.assigned_at + timedelta(seconds=3.3))
    reminder = all_messages(container, template="reminder_acceptance")
    escalation = all_messages(container, template="escalation_acceptance")
    assert [m.recipient for m in reminder] == ["+79123456789"]
    assert [m.recipient for m in escalation] == ["+79031112233"]
    lateness = reminder[0].sent_at - (request.assigned_at + timedelta(seconds=2))
    assert timedelta(0) <= lateness < timedelta(seconds=3)  # the figure under load is bench/sms.py's
    for _ in range(3):  # ticking on changes nothing: each action once
        scheduler.tick()
        pump(container, notifier)
    assert len(all_messages(container, template="reminder_acceptance")) == 1


def test_acceptance_before_the_moment_cancels_the_reminder(container, org, notifier, scheduler, make_request,
                                                           technician):
    EscalationService(container.uow).set_track(org.id, SYSTEM, "acceptance", FAST)
    request = make_request()
    request = container.requests.assign(org.id, request.number, DISPATCHER, "dispatcher", technician.id)
    tech = Actor(kind="staff", role="technician", id=technician.id, name="И")
    container.requests.transition(org.id, request.number, tech, "sms", "accepted")
    assert container.clock() < request.assigned_at + timedelta(seconds=2)  # accepted before the reminder's moment
    _run_until(container, notifier, scheduler, request.assigned_at + timedelta(seconds=3.2))
    assert all_messages(container, template="reminder_acceptance") == []
    assert all_messages(container, template="escalation_acceptance") == []


def test_a_closed_request_has_no_wakeup_left(container, org, notifier, scheduler, assigned):
    pump(container, notifier)
    scheduler.tick()
    assert _wakeup(container, assigned.id) is not None  # the deadlines' reminders lie ahead
    container.requests.transition(org.id, assigned.number, DISPATCHER, "dispatcher", "cancelled", reason="дубль")
    pump(container, notifier)
    scheduler.tick()
    assert _wakeup(container, assigned.id) is None


def test_a_reminder_queued_before_the_request_was_done_is_not_sent(container, org, notifier, scheduler, assigned,
                                                                   technician):
    EscalationService(container.uow).set_track(org.id, SYSTEM, "acceptance", FAST)
    pump(container, notifier)
    scheduler.tick()
    time.sleep(2.1)
    scheduler.tick()
    pump(container, notifier, send=False)
    queued = all_messages(container, template="reminder_acceptance")
    assert len(queued) == 1 and queued[0].status == "queued"
    container.requests.transition(org.id, assigned.number, DISPATCHER, "dispatcher", "cancelled", reason="дубль")
    assert notifier.send(queued[0].id) == "suppressed"
    assert notifier.outbox.get(queued[0].id).status == "suppressed"
