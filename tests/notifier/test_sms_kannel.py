"""Kannel end to end: bearerbox + smsbox + fakesmsc on loopback. An assignment leaves as UCS-2 Cyrillic, its
delivery report comes back to the DLR webhook, and the technician's MO reply "<n> ГОТОВО" changes the request."""
from __future__ import annotations

import dataclasses

import pytest

from notifier.service import Notifier

from sms_support import DISPATCHER, all_messages, pump
from sms_kannel import kannel_serving, wait_for

pytestmark = pytest.mark.e2e
TECH = "+79123456789"


@pytest.fixture
def kannel_world(app, container, sms_settings, enqueued, redis_conn, tmp_path):
    def notifier(settings, kannel, web):
        settings = dataclasses.replace(settings, kannel_sendsms_url=kannel.sendsms_url)
        return Notifier(container, settings=settings, enqueuer=enqueued, redis=redis_conn)

    with kannel_serving(app, sms_settings, tmp_path, notifier) as world:
        yield world


def test_kannel_sends_ucs2_gets_the_receipt_and_applies_the_technicians_reply(container, org, assigned,
                                                                              kannel_world):
    notifier, kannel = kannel_world
    assert "sent" in pump(container, notifier)
    sms = all_messages(container, audience="technician")[0]
    got = wait_for(lambda: [r for r in kannel.received if r[1] == TECH])
    assert got[0][2] == sms.body and "№" in got[0][2] and "ул. Ленина" in got[0][2]  # Cyrillic intact
    # UCS-2 on the wire: bearerbox sent it with data coding 2; the parts' payload is UTF-16-BE (decoded above)
    assert sms.segments == 2 and wait_for(lambda: kannel.sent_codings(TECH)) == [2]
    assert wait_for(lambda: notifier.outbox.get(sms.id).status == "delivered")

    kannel.mo(TECH, "4740", f"{assigned.number} принято")
    wait_for(lambda: container.requests.get(org.id, assigned.number, DISPATCHER).status == "accepted")
    kannel.mo(TECH, "4740", f"{assigned.number} ГОТОВО")
    wait_for(lambda: container.requests.get(org.id, assigned.number, DISPATCHER).status == "done")
    history = container.requests.history(org.id, assigned.number, DISPATCHER)
    assert [e.new_value for e in history if e.kind == "status" and e.channel == "sms"] == ["accepted", "done"]

    pump(container, notifier)  # the replies go back out through Kannel
    wait_for(lambda: [r for r in kannel.received if r[1] == TECH and "выполнена. Спасибо" in r[2]])
    # a one-part Cyrillic reply: the fake SMSC itself reports it as "ucs-2", bearerbox as coding 2
    assert (TECH, "ucs-2") in kannel.codings and set(kannel.sent_codings(TECH)) == {2}


def test_the_webhooks_refuse_a_wrong_secret_and_write_nothing(container, org, assigned, kannel_world, client):
    notifier, kannel = kannel_world
    response = client.get("/sms/kannel/mo", query_string={"secret": "guess", "from": TECH, "id": "x1",
                                                         "text": f"{assigned.number} принято"})
    assert response.status_code == 403
    assert container.requests.get(org.id, assigned.number, DISPATCHER).status == "assigned"
