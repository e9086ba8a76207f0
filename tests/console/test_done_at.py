""""Resolved on time" is measured by the moment the work was done (``done_at``), not by the dispatcher's closing
time nor by the last update (a rating, a comment). The analytics and the printed paper journal both use it."""
from __future__ import annotations

import csv
import io
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from console_support import DISPATCHER

from journal_api.bootstrap import bootstrap
from journal_api.domain.events import Actor
from journal_api.service import console_analytics
from journal_api.service.requests import NewRequest
from journal_api.service.uow import MemoryPublisher

RESIDENT = Actor(kind="resident", role="resident", name="Житель (по ссылке)")


class Clock:
    def __init__(self, at: datetime):
        self.at = at

    def __call__(self) -> datetime:
        return self.at


@pytest.fixture
def clock():
    return Clock((datetime.now(timezone.utc) - timedelta(days=6)).replace(microsecond=0))


@pytest.fixture
def clocked(container, settings, pg_engine, clock):
    """The same wiring and database as ``container``, on a clock the test moves."""
    return bootstrap(settings, publisher=MemoryPublisher(), engine=pg_engine, clock=clock)


def _done(clocked, clock, org, building, technician, *, done_after: timedelta | None = None):
    """An emergency registered now, accepted by the technician and done ``done_after`` later (None: 10 minutes
    before its repair deadline)."""
    request = clocked.requests.register(org.id, DISPATCHER, NewRequest(
        description="Прорвало трубу", work_type="water", urgency="emergency", building_id=building.id,
        apartment=12, caller_phone="+79035551001", channel="phone"))
    assert request.repair_due_at is not None
    tech = Actor(kind="staff", role="technician", id=technician.id, name=technician.short_name)
    clocked.requests.assign(org.id, request.number, DISPATCHER, "dispatcher", technician.id)
    clock.at += timedelta(minutes=5)
    clocked.requests.transition(org.id, request.number, tech, "sms", "accepted")
    clock.at = request.repair_due_at - timedelta(minutes=10) if done_after is None \
        else request.registered_at + done_after
    clocked.requests.transition(org.id, request.number, tech, "sms", "done", report="Заменили участок трубы")
    return request


def _deadlines(clocked, org, registered_at):
    tz = ZoneInfo(org.timezone)
    first, last = registered_at.astimezone(tz).date(), clocked.clock().astimezone(tz).date()
    return console_analytics.analytics(clocked.engine, org.id, org.timezone, first, last,
                                       clocked.clock())["deadlines"]["emergency"]


def test_done_within_the_deadline_counts_on_time_though_closed_late_and_rated_two_days_later(
        clocked, clock, org, building, technician, manager_console):
    request = _done(clocked, clock, org, building, technician)
    done_at = clock.at
    clock.at = request.repair_due_at + timedelta(days=1)  # the next dispatcher closes it, after the deadline
    clocked.requests.transition(org.id, request.number, DISPATCHER, "dispatcher", "closed")
    clock.at += timedelta(days=2)
    clocked.requests.rate(org.id, request.number, RESIDENT, "web", 5, "Спасибо")
    saved = clocked.requests.get(org.id, request.number, DISPATCHER)
    assert (saved.done_at, saved.status) == (done_at, "closed")
    assert saved.closed_at > saved.due_at and saved.updated_at > saved.closed_at
    figures = _deadlines(clocked, org, request.registered_at)
    assert (figures["total"], figures["on_time"], figures["late"]) == (1, 1, 0)
    day = request.registered_at.astimezone(ZoneInfo(org.timezone)).date()
    page = manager_console.get(f"/journal/print?from={day}&to={day}").get_data(as_text=True)
    done_text = done_at.astimezone(ZoneInfo(org.timezone)).strftime("%d.%m.%Y %H:%M")
    closed_text = saved.closed_at.astimezone(ZoneInfo(org.timezone)).strftime("%d.%m.%Y %H:%M")
    assert f"{done_text}: Заменили участок трубы" in page
    assert closed_text not in page
    rows = list(csv.reader(io.StringIO(manager_console.get("/journal/export.csv").get_data(as_text=True)
                                       .lstrip("\ufeff")), delimiter=";"))
    row = dict(zip(rows[0], next(r for r in rows[1:] if r[0] == str(request.number))))
    assert (row["Выполнена"], row["Закрыта"]) == (done_text, closed_text)  # the export tells both apart


def test_done_after_the_deadline_counts_late_even_if_closed_at_once(clocked, clock, org, building, technician):
    request = _done(clocked, clock, org, building, technician, done_after=timedelta(days=30))
    assert clock.at > request.repair_due_at
    clocked.requests.transition(org.id, request.number, DISPATCHER, "dispatcher", "closed")
    figures = _deadlines(clocked, org, request.registered_at)
    assert (figures["total"], figures["on_time"], figures["late"]) == (1, 0, 1)


def test_a_done_request_not_yet_closed_is_measured_by_its_done_time_not_by_a_later_rating(
        clocked, clock, org, building, technician):
    request = _done(clocked, clock, org, building, technician)
    clock.at = request.repair_due_at + timedelta(days=2)
    clocked.requests.rate(org.id, request.number, RESIDENT, "web", 4, None)
    figures = _deadlines(clocked, org, request.registered_at)
    assert (figures["on_time"], figures["late"]) == (1, 0)


def test_the_api_shows_when_the_work_was_done(clocked, clock, org, building, technician, client, make_token):
    request = _done(clocked, clock, org, building, technician)
    body = client.get(f"/api/v1/requests/{request.number}", headers=make_token()).get_json()
    assert datetime.fromisoformat(body["done_at"].replace("Z", "+00:00")) == clock.at
