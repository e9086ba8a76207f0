"""After a request is closed or cancelled the technician's link no longer works (the notifier revokes it when it
handles the status change), and no message can reach the resident about it any more. The resident's own link
stays: he still rates the work."""
from __future__ import annotations

import pytest
import sqlalchemy as sa

from journal_api.domain.errors import DomainError, ValidationError
from journal_api.domain.events import Actor
from journal_api.storage import tables as t

from sms_support import DISPATCHER, all_messages, pump


def _tech(technician):
    return Actor(kind="staff", role="technician", id=technician.id, name=technician.full_name)


def _token(container, audience):
    marker = "/t/" if audience == "technician" else "/r/"
    return all_messages(container, audience=audience)[0].body.rsplit(marker, 1)[1]


def _done(container, org, request, technician):
    container.requests.transition(org.id, request.number, _tech(technician), "sms", "accepted")
    container.requests.transition(org.id, request.number, _tech(technician), "sms", "done", report="заменил кран")


def test_closing_a_request_revokes_the_technicians_link_but_not_the_residents(container, org, notifier, assigned,
                                                                             technician):
    pump(container, notifier)
    tech_token, resident_token = _token(container, "technician"), _token(container, "resident")
    _done(container, org, assigned, technician)
    pump(container, notifier)
    assert container.links.verify(tech_token, "technician").request_id == assigned.id  # done: still his
    container.requests.transition(org.id, assigned.number, DISPATCHER, "dispatcher", "closed")
    pump(container, notifier)
    with pytest.raises(DomainError):
        container.links.verify(tech_token, "technician")
    assert container.links.verify(resident_token, "resident").request_id == assigned.id


def test_cancelling_a_request_revokes_the_technicians_link(container, org, notifier, assigned, technician):
    pump(container, notifier)
    tech_token = _token(container, "technician")
    container.requests.transition(org.id, assigned.number, DISPATCHER, "dispatcher", "cancelled",
                                  reason="Житель отказался")
    pump(container, notifier)
    with pytest.raises(DomainError):
        container.links.verify(tech_token, "technician")
    revoked = [row["revoked_at"] is not None for row in container.links.of_request(org.id, assigned.id)
               if row["audience"] == "technician"]
    assert revoked == [True]


@pytest.mark.parametrize("final", ["closed", "cancelled"])
def test_no_message_reaches_the_resident_about_a_closed_or_cancelled_request(container, org, notifier, assigned,
                                                                            technician, final):
    if final == "closed":
        _done(container, org, assigned, technician)
        container.requests.transition(org.id, assigned.number, DISPATCHER, "dispatcher", "closed")
    else:
        container.requests.transition(org.id, assigned.number, DISPATCHER, "dispatcher", "cancelled",
                                      reason="Дубль")
    pump(container, notifier)
    with container.engine.connect() as conn:
        events_before = conn.execute(sa.select(sa.func.count()).select_from(t.outbox)).scalar_one()
    with pytest.raises(ValidationError) as refused:
        container.requests.message_resident(org.id, assigned.number, _tech(technician), "web", "Приду завтра")
    assert refused.value.field == "status" and final in str(refused.value)
    with container.engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(t.outbox)).scalar_one() == events_before
    assert all_messages(container, template="resident_message") == []
    assert not [e for e in container.requests.history(org.id, assigned.number, DISPATCHER)
                if e.kind == "comment" and "Приду завтра" in (e.new_value or "")]


def test_a_done_request_can_still_carry_a_message_to_the_resident(container, org, notifier, assigned, technician):
    _done(container, org, assigned, technician)
    container.requests.message_resident(org.id, assigned.number, _tech(technician), "web", "Проверьте кран")
    pump(container, notifier)
    assert len(all_messages(container, template="resident_message")) == 1
