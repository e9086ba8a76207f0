"""The notifier's side of a link sent by SMS from the console (event "request.link_sent"): a fresh link in the
assignment's wording to the assignee, or the resident's page to the caller, queued once through the outbox (STOP,
retries and delivery reports apply); nothing when the request changed hands or ended before the event was handled."""
from __future__ import annotations

import dataclasses

import pytest
import sqlalchemy as sa

from journal_api.storage import tables as t
from journal_api.storage.tables_messages import sms_opt_outs
from notifier.service import Notifier

from sms_support import DISPATCHER, RESIDENT_PHONE, SYSTEM, all_messages, end_request, pump
from sms_kannel import kannel_serving, wait_for

TECH = "+79123456789"


def _link_events(container) -> list:
    with container.engine.connect() as conn:
        return conn.execute(sa.select(t.outbox).where(t.outbox.c.name == "request.link_sent")).all()


def _technician_links(container, org, request) -> int:
    return len([row for row in container.links.of_request(org.id, request.id) if row["audience"] == "technician"])


def test_the_technicians_link_goes_in_the_assignments_wording_within_two_segments(container, org, notifier,
                                                                                   assigned, technician):
    pump(container, notifier)
    first = all_messages(container, template="assignment")[0]
    container.requests.send_link(org.id, assigned.number, DISPATCHER, "dispatcher", "technician")
    assert pump(container, notifier) == ["sent"]
    again = all_messages(container, template="assignment")[1]
    assert (again.recipient, again.staff_id, again.status) == (TECH, technician.id, "sent")
    assert again.segments <= 2 and again.encoding == "ucs2"
    assert again.body.rsplit(" ", 1)[0] == first.body.rsplit(" ", 1)[0]  # the same words, a new link
    token = again.body.rsplit("/t/", 1)[1]
    assert token != first.body.rsplit("/t/", 1)[1]
    assert container.links.verify(token, "technician").subject_id == technician.id


def test_the_residents_link_goes_to_the_callers_phone(container, org, notifier, assigned):
    pump(container, notifier)
    container.requests.send_link(org.id, assigned.number, DISPATCHER, "dispatcher", "resident")
    assert pump(container, notifier) == ["sent"]
    (sms,) = all_messages(container, template="resident_link")
    assert sms.recipient == RESIDENT_PHONE and sms.body.startswith(f"Заявка №{assigned.number}, срок ")
    assert container.links.verify(sms.body.rsplit("/r/", 1)[1], "resident").request_id == assigned.id


def test_a_replayed_event_queues_nothing_more_and_issues_no_second_link(container, org, notifier, assigned):
    pump(container, notifier)
    container.requests.send_link(org.id, assigned.number, DISPATCHER, "dispatcher", "technician")
    container.requests.send_link(org.id, assigned.number, DISPATCHER, "dispatcher", "resident")
    links = len(container.links.of_request(org.id, assigned.id))
    rows = _link_events(container)
    for row in rows + rows + rows:
        notifier.handle(row)
    assert len(notifier.enqueuer.ids) == 2
    assert len(container.links.of_request(org.id, assigned.id)) == links + 2


def test_a_request_reassigned_before_the_event_is_handled_sends_the_old_technician_nothing(container, org, notifier,
                                                                                          assigned, technician):
    pump(container, notifier)
    container.requests.send_link(org.id, assigned.number, DISPATCHER, "dispatcher", "technician")
    other = container.registry.upsert_staff(org.id, SYSTEM, {"full_name": "Сидоров Пётр", "role": "technician",
                                                             "phone": "+7 912 000-11-22"})
    container.requests.assign(org.id, assigned.number, DISPATCHER, "dispatcher", other.id)
    pump(container, notifier)
    to_old = [m.template for m in all_messages(container, staff_id=technician.id)]
    assert to_old == ["assignment", "reassignment"]  # the first assignment, then "передана другому"
    assert [m.template for m in all_messages(container, staff_id=other.id)] == ["assignment"]
    alive = [row for row in container.links.of_request(org.id, assigned.id)
             if row["subject_id"] == technician.id and row["revoked_at"] is None]
    assert alive == []


@pytest.mark.parametrize("final", ["cancelled", "closed"])
def test_a_request_ended_before_the_event_is_handled_sends_nothing(container, org, notifier, assigned, technician,
                                                                   final):
    pump(container, notifier)
    container.requests.send_link(org.id, assigned.number, DISPATCHER, "dispatcher", "technician")
    end_request(container, org.id, assigned.number, technician, final)
    links = _technician_links(container, org, assigned)
    pump(container, notifier)
    assert len(all_messages(container, template="assignment")) == 1
    assert _technician_links(container, org, assigned) == links


def test_a_resident_who_said_stop_after_the_click_is_not_texted(container, org, notifier, assigned):
    pump(container, notifier)
    container.requests.send_link(org.id, assigned.number, DISPATCHER, "dispatcher", "resident")
    with container.engine.begin() as conn:
        conn.execute(sa.insert(sms_opt_outs).values(org_id=org.id, phone=RESIDENT_PHONE, created_at=t.utcnow()))
    assert pump(container, notifier) == []
    assert [m.status for m in all_messages(container, template="resident_link")] == ["suppressed"]


@pytest.mark.e2e
def test_the_link_leaves_through_kannel_as_ucs2_and_its_delivery_report_comes_back(app, container, org, assigned,
                                                                                  sms_settings, enqueued,
                                                                                  redis_conn, tmp_path):
    def make(settings, kannel, web):
        settings = dataclasses.replace(settings, kannel_sendsms_url=kannel.sendsms_url)
        return Notifier(container, settings=settings, enqueuer=enqueued, redis=redis_conn)

    with kannel_serving(app, sms_settings, tmp_path, make) as (notifier, kannel):
        pump(container, notifier)
        container.requests.send_link(org.id, assigned.number, DISPATCHER, "dispatcher", "technician")
        assert pump(container, notifier) == ["sent"]
        sms = all_messages(container, template="assignment")[-1]
        got = wait_for(lambda: [r for r in kannel.received if r[1] == TECH and r[2] == sms.body])
        assert got and "/t/" in got[0][2]
        assert wait_for(lambda: notifier.outbox.get(sms.id).status == "delivered")
