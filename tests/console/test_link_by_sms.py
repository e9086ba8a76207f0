"""A link sent by SMS from a request's page: one click records the event, the notifier makes a fresh link and queues
one SMS through its outbox to the assignee's or the caller's phone; the link opens the request. Refusals say why
and queue nothing; the route is CSRF-protected, staff-only and organisation-bound."""
from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa
from console_support import DISPATCHER, SYSTEM
from redis import Redis

from journal_api.service.requests import NewRequest
from journal_api.storage import tables as t
from journal_api.storage.tables_messages import sms_opt_outs
from notifier.service import Notifier
from notifier.settings import SmsSettings

from sms_support import ListEnqueuer, all_messages, end_request, pump

QUEUED = "SMS со ссылкой поставлено в очередь"


@pytest.fixture
def notifier(container, redis_url):
    redis = Redis.from_url(redis_url)
    yield Notifier(container, settings=SmsSettings(provider="log", rate_per_second=1000), enqueuer=ListEnqueuer(),
                   redis=redis)
    redis.close()


def link_events(container) -> list[dict]:
    with container.engine.connect() as conn:
        return [row.payload for row in conn.execute(sa.select(t.outbox).where(t.outbox.c.name == "request.link_sent"))]


def click(console, number: int, audience: str, **over):
    data = {"csrf_token": console.csrf, "audience": audience, **over}
    return console.post(f"/requests/{number}/links/sms", data=data, follow_redirects=True)


@pytest.fixture
def assigned(container, org, make_request, technician, notifier):
    """An assigned request whose registration and assignment SMS went out already."""
    r = make_request()
    container.requests.assign(org.id, r.number, DISPATCHER, "dispatcher", technician.id)
    pump(container, notifier)
    return r


def test_sending_the_technician_his_link_queues_one_sms_to_his_phone_whose_link_opens_the_request(
        console, client, container, org, technician, notifier, assigned):
    before = len(all_messages(container))
    page = click(console, assigned.number, "technician")
    assert page.status_code == 200 and QUEUED in page.get_data(as_text=True)
    assert pump(container, notifier) == ["sent"]
    new = all_messages(container)[before:]
    assert len(new) == 1
    (message,) = new
    assert (message.recipient, message.audience, message.staff_id, message.template, message.status) == \
        (technician.phone, "technician", technician.id, "assignment", "sent")
    assert message.body.startswith(f"№{assigned.number}") and message.segments <= 2
    token = message.body.rsplit("/t/", 1)[1]
    opened = client.get(f"/t/{token}")
    assert opened.status_code == 200 and f"Заявка № {assigned.number}" in opened.get_data(as_text=True)
    shown = console.get(f"/requests/{assigned.number}").get_data(as_text=True)
    assert "ссылка отправлена технику по SMS" in shown and message.body in shown and "отправлено" in shown
    lines = [h for h in container.requests.history(org.id, assigned.number, SYSTEM) if h.kind == "link_sms_tech"]
    assert [(h.note, h.actor_name, h.channel) for h in lines] == [(technician.phone, "Петрова Анна Сергеевна",
                                                                   "dispatcher")]


def test_sending_the_resident_his_link_queues_one_sms_to_the_callers_phone_whose_link_opens_his_page(
        console, client, container, org, notifier, assigned):
    before = len(all_messages(container))
    assert QUEUED in click(console, assigned.number, "resident").get_data(as_text=True)
    assert pump(container, notifier) == ["sent"]
    (message,) = all_messages(container)[before:]
    assert (message.recipient, message.audience, message.template) == ("+79035551001", "resident", "resident_link")
    token = message.body.rsplit("/r/", 1)[1]
    opened = client.get(f"/r/{token}")
    assert opened.status_code == 200 and f"№ {assigned.number}" in opened.get_data(as_text=True)
    assert "ссылка отправлена жителю по SMS" in console.get(f"/requests/{assigned.number}").get_data(as_text=True)


def test_the_sms_list_shows_the_links_delivery_report(console, container, notifier, assigned):
    click(console, assigned.number, "technician")
    pump(container, notifier)
    message = all_messages(container, template="assignment")[-1]
    assert notifier.receipt(status="delivered", message_id=message.id) == message.id
    shown = console.get(f"/requests/{assigned.number}").get_data(as_text=True)
    assert "доставлено" in shown


def test_the_event_handled_again_sends_no_second_sms_and_makes_no_second_link(console, container, org, notifier,
                                                                              assigned):
    click(console, assigned.number, "technician")
    with container.engine.connect() as conn:
        (row,) = conn.execute(sa.select(t.outbox).where(t.outbox.c.name == "request.link_sent")).all()
    links_before = len(container.links.of_request(org.id, assigned.id))
    for _ in range(3):
        notifier.handle(row)
    assert len(notifier.enqueuer.ids) == 1
    assert len(container.links.of_request(org.id, assigned.id)) == links_before + 1
    assert [notifier.send(mid) for mid in notifier.enqueuer.ids] == ["sent"]
    assert len(all_messages(container, template="assignment")) == 2  # the assignment's and the click's


def test_a_request_without_an_assignee_is_refused_and_nothing_is_queued(console, container, make_request, notifier):
    r = make_request()
    pump(container, notifier)
    page = click(console, r.number, "technician").get_data(as_text=True)
    assert "Исполнитель не назначен" in page and QUEUED not in page
    assert link_events(container) == [] and pump(container, notifier) == []


def test_a_request_without_the_callers_phone_is_refused_and_nothing_is_queued(console, container, org, make_request,
                                                                             notifier):
    r = make_request(caller_phone=None)
    page = click(console, r.number, "resident").get_data(as_text=True)
    assert "У заявки нет телефона жителя" in page and QUEUED not in page
    assert link_events(container) == [] and all_messages(container, audience="resident") == []
    assert [h for h in container.requests.history(org.id, r.number, SYSTEM) if h.kind.startswith("link_sms")] == []


def test_a_resident_who_said_stop_is_refused_and_nothing_is_queued(console, container, org, notifier, assigned):
    with container.engine.begin() as conn:
        conn.execute(sa.insert(sms_opt_outs).values(org_id=org.id, phone="+79035551001", created_at=t.utcnow()))
    page = click(console, assigned.number, "resident").get_data(as_text=True)
    assert "Житель отказался от SMS (СТОП)" in page and link_events(container) == []


@pytest.mark.parametrize("final", ["cancelled", "closed"])
def test_a_cancelled_or_closed_request_is_refused_and_its_page_offers_no_sms_buttons(console, container, org,
                                                                                    technician, notifier, assigned,
                                                                                    final):
    end_request(container, org.id, assigned.number, technician, final)
    pump(container, notifier)
    page = click(console, assigned.number, "technician").get_data(as_text=True)
    assert "Заявка закрыта или отменена" in page and QUEUED not in page
    assert "Отправить технику по SMS" not in page
    assert link_events(container) == [] and pump(container, notifier) == []


def test_the_page_offers_both_buttons(console, assigned):
    page = console.get(f"/requests/{assigned.number}").get_data(as_text=True)
    assert "Отправить технику по SMS" in page and "Отправить жителю по SMS" in page
    assert f"/requests/{assigned.number}/links/sms" in page


def test_a_post_without_the_csrf_token_is_refused(console, container, assigned):
    response = console.post(f"/requests/{assigned.number}/links/sms", data={"audience": "technician"})
    assert response.status_code == 400 and link_events(container) == []


def test_a_technician_cannot_use_the_route(client, container, org, technician, assigned):
    """His link's page gives him a CSRF token but no console session: the post leads to the sign-in form."""
    path = container.links.issue(org.id, assigned.id, audience="technician", subject_id=technician.id,
                                 ttl=timedelta(days=1))
    assert client.get(path).status_code == 200
    with client.session_transaction() as session:
        token = session["csrf"]
    response = client.post(f"/requests/{assigned.number}/links/sms", data={"csrf_token": token,
                                                                          "audience": "technician"})
    assert response.status_code == 302 and "/login" in response.headers["Location"]
    assert link_events(container) == []


def test_a_dispatcher_moved_to_technician_loses_the_route(console, container, dispatcher, assigned):
    with container.engine.begin() as conn:
        conn.execute(sa.update(t.staff).where(t.staff.c.id == dispatcher.id).values(role="technician"))
    response = click(console, assigned.number, "technician")
    assert "Отправить технику по SMS" not in response.get_data(as_text=True)
    assert link_events(container) == []


def test_another_organisations_request_is_not_found(console, container, other_org):
    theirs = container.requests.register(other_org.id, DISPATCHER, NewRequest(
        description="Чужая течь", work_type="water", channel="phone", caller_phone="+7 903 555-99-99"))
    response = console.post(f"/requests/{theirs.number}/links/sms",
                            data={"csrf_token": console.csrf, "audience": "resident"})
    assert response.status_code == 404 and link_events(container) == []
