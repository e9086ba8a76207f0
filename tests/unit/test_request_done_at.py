"""``done_at``: the moment the work was done. Set when the request enters 'done', kept when it is closed, cleared
when it is reopened, set again when it is done again. Nothing else (a rating, a comment) moves it."""
from __future__ import annotations

from datetime import timedelta

from journal_api.domain.events import Actor
from journal_api.domain.request import Rating

from domain_objects import NOW


def _tech(staff):
    return Actor(kind="staff", role="technician", id=staff.id, name=staff.short_name)


def _accepted(make_request, technician, dispatcher_actor):
    request = make_request()
    request.assign(technician, dispatcher_actor, "dispatcher", NOW)
    request.transition("accepted", _tech(technician), "sms", NOW)
    return request


def test_a_new_request_has_no_done_time(make_request):
    assert make_request().done_at is None


def test_done_stamps_the_moment_and_closing_later_keeps_it(make_request, technician, dispatcher_actor):
    request = _accepted(make_request, technician, dispatcher_actor)
    done, closed = NOW + timedelta(hours=2), NOW + timedelta(days=1)
    request.transition("done", _tech(technician), "sms", done, report="Заменили кран")
    assert request.done_at == done and request.closed_at is None
    request.transition("closed", dispatcher_actor, "dispatcher", closed)
    assert (request.done_at, request.closed_at) == (done, closed)
    request.rate(Rating(org_id=request.org_id, request_id=42, score=5, comment=None, created_at=closed),
                 Actor(kind="resident", role="resident", name="Житель"), "web", closed + timedelta(days=2))
    request.comment("Житель доволен", dispatcher_actor, "dispatcher", closed + timedelta(days=3))
    assert request.done_at == done and request.updated_at == closed + timedelta(days=3)


def test_reopening_a_done_request_clears_the_done_time_and_doing_it_again_sets_the_new_one(
        make_request, technician, dispatcher_actor):
    request = _accepted(make_request, technician, dispatcher_actor)
    request.transition("done", _tech(technician), "sms", NOW + timedelta(hours=1), report="Сделано")
    request.transition("accepted", dispatcher_actor, "dispatcher", NOW + timedelta(hours=3), reason="Снова течёт")
    assert request.done_at is None
    again = NOW + timedelta(hours=5)
    request.transition("done", _tech(technician), "sms", again, report="Заменили стояк")
    assert request.done_at == again


def test_a_cancelled_request_was_never_done(make_request, dispatcher_actor):
    request = make_request()
    request.transition("cancelled", dispatcher_actor, "dispatcher", NOW + timedelta(hours=1), reason="Ошибка")
    assert request.done_at is None and request.closed_at == NOW + timedelta(hours=1)
