"""Twilio: the real library against a local Twilio-compatible server; webhooks verified with real signatures."""
from __future__ import annotations

import dataclasses

import pytest

from notifier.inbound import InboundService
from notifier.providers import PermanentError, TransientError, Outgoing, TwilioProvider
from notifier.service import Notifier

from sms_support import DISPATCHER, all_messages, pump
from sms_kannel import WebServer
from twilio_api import TwilioServer

TECH = "+79123456789"


@pytest.fixture
def twilio(sms_settings):
    with TwilioServer(sms_settings.twilio_account_sid, sms_settings.twilio_auth_token) as server:
        yield server


@pytest.fixture
def twilio_world(app, container, sms_settings, enqueued, redis_conn, twilio):
    with WebServer(app) as web:
        settings = dataclasses.replace(sms_settings, provider="twilio", twilio_from="+74950000000",
                                       twilio_base_url=twilio.url, callback_url=web.url)
        notifier = Notifier(container, settings=settings, enqueuer=enqueued, redis=redis_conn)
        app.extensions["hotline.notifier"] = notifier
        app.extensions["hotline.sms_inbound"] = InboundService(notifier)
        yield notifier, web


def _provider(sms_settings, twilio, **over):
    return TwilioProvider(dataclasses.replace(sms_settings, twilio_from="+74950000000", twilio_base_url=twilio.url,
                                              **over), "http://127.0.0.1:9")


def _out(to=TECH, body="Заявка №5 принята."):
    return Outgoing(1, to, body, "ucs2", "k-sms-1")


def test_the_library_sends_through_the_messages_api_with_a_status_callback(sms_settings, twilio):
    sid = _provider(sms_settings, twilio).send(_out())
    sent = twilio.messages[-1]
    assert sid == sent["sid"] and sent["to"] == TECH and sent["body"] == "Заявка №5 принята."
    assert sent["from"] == "+74950000000" and sent["status_callback"] == "http://127.0.0.1:9/sms/twilio/status"
    assert sent["encoding"] == "UCS-2"


def test_an_invalid_number_21211_is_permanent(sms_settings, twilio):
    with pytest.raises(PermanentError) as caught:
        _provider(sms_settings, twilio).send(_out(to="12345"))
    assert caught.value.code == "invalid_number" and "21211" in str(caught.value)


def test_an_unsubscribed_recipient_21610_is_permanent(sms_settings, twilio):
    twilio.unsubscribed.add(TECH)
    with pytest.raises(PermanentError) as caught:
        _provider(sms_settings, twilio).send(_out())
    assert caught.value.code == "unsubscribed"


def test_too_many_requests_20429_is_transient(sms_settings, twilio):
    twilio.busy = 1
    with pytest.raises(TransientError):
        _provider(sms_settings, twilio).send(_out())
    assert _provider(sms_settings, twilio).send(_out()).startswith("SM")


def test_a_wrong_auth_token_is_refused_by_the_server(sms_settings, twilio):
    with pytest.raises(PermanentError) as caught:
        _provider(sms_settings, twilio, twilio_auth_token="wrong").send(_out())
    assert "20003" in str(caught.value)


def test_a_signed_status_callback_moves_the_message_forward(container, assigned, twilio, twilio_world):
    notifier, _web = twilio_world
    pump(container, notifier)
    sms = all_messages(container, audience="technician")[0]
    sent = next(m for m in twilio.messages if m["to"] == TECH)
    assert sms.provider_message_id == sent["sid"] and sms.status == "sent"
    assert twilio.status_callback(sent, "delivered").status_code == 204
    assert twilio.status_callback(sent, "sent").status_code == 204  # late and out of order
    assert notifier.outbox.get(sms.id).status == "delivered"


@pytest.mark.parametrize("final", ["failed", "undelivered"])
def test_a_failed_status_callback_alerts_the_dispatcher_on_duty_once(container, org, assigned, dispatcher, twilio,
                                                                     twilio_world, final):
    notifier, _web = twilio_world
    pump(container, notifier)
    sms = all_messages(container, audience="technician")[0]
    sent = next(m for m in twilio.messages if m["to"] == TECH)
    assert twilio.status_callback(sent, final).status_code == 204
    assert twilio.status_callback(sent, final).status_code == 204  # Twilio retries a callback
    assert notifier.outbox.get(sms.id).status == "undelivered"
    alerts = all_messages(container, template="alert_sms_failed")
    assert len(alerts) == 1 and alerts[0].audience == "dispatcher"


def test_a_forged_status_callback_gets_403_and_changes_nothing(container, assigned, twilio, twilio_world):
    import requests

    notifier, web = twilio_world
    pump(container, notifier)
    sms = all_messages(container, audience="technician")[0]
    params = {"MessageSid": sms.provider_message_id, "MessageStatus": "undelivered",
              "AccountSid": twilio.account_sid}
    forged = RequestValidatorFor("not-the-token").sign(f"{web.url}/sms/twilio/status", params)
    response = requests.post(f"{web.url}/sms/twilio/status", data=params, headers=forged, timeout=5)
    assert response.status_code == 403 and notifier.outbox.get(sms.id).status == "sent"


def test_a_signed_inbound_sms_changes_the_request_and_its_replay_gets_403(container, org, assigned, twilio,
                                                                          twilio_world):
    import requests

    from journal_api.storage.tables_messages import inbound_messages
    import sqlalchemy as sa

    notifier, web = twilio_world
    url = f"{web.url}/sms/twilio/inbound"
    params = {"MessageSid": "SM" + "a" * 32, "AccountSid": twilio.account_sid, "From": TECH,
              "To": "+74950000000", "Body": f"{assigned.number} принято"}
    first = requests.post(url, data=params, headers=twilio.signed(url, params), timeout=5)
    assert first.status_code == 200 and "<Response>" in first.text
    assert container.requests.get(org.id, assigned.number, DISPATCHER).status == "accepted"
    again = requests.post(url, data=params, headers=twilio.signed(url, params), timeout=5)
    assert again.status_code == 403
    with container.engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(inbound_messages)).scalar() == 1
    tampered = dict(params, MessageSid="SM" + "b" * 32, Body=f"{assigned.number} готово")
    response = requests.post(url, data=tampered, headers=twilio.signed(url, params), timeout=5)
    assert response.status_code == 403
    with container.engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(inbound_messages)).scalar() == 1


class RequestValidatorFor:
    def __init__(self, token):
        from twilio.request_validator import RequestValidator

        self.v = RequestValidator(token)

    def sign(self, url, params):
        return {"X-Twilio-Signature": self.v.compute_signature(url, params)}


def test_behind_a_proxy_the_signature_of_the_public_url_verifies(container, org, assigned, sms_settings, enqueued,
                                                                 redis_conn, twilio, monkeypatch):
    from journal_api.app import create_app

    monkeypatch.setenv("HOTLINE_SMS_PROXY_HOPS", "1")
    app = create_app(container)
    notifier = Notifier(container, settings=sms_settings, enqueuer=enqueued, redis=redis_conn)
    app.extensions["hotline.notifier"] = notifier
    app.extensions["hotline.sms_inbound"] = InboundService(notifier)
    public = "https://ads.example.ru/sms/twilio/inbound"  # what Twilio called; the proxy forwards to us over http
    params = {"MessageSid": "SM" + "c" * 32, "AccountSid": twilio.account_sid, "From": TECH, "To": "+74950000000",
              "Body": f"{assigned.number} принято"}
    proxied = {"X-Forwarded-Proto": "https", "X-Forwarded-Host": "ads.example.ru", "X-Forwarded-For": "54.1.2.3"}
    client = app.test_client()
    response = client.post("/sms/twilio/inbound", data=params, headers={**proxied, **twilio.signed(public, params)})
    assert response.status_code == 200
    assert container.requests.get(org.id, assigned.number, DISPATCHER).status == "accepted"
    unproxied = client.post("/sms/twilio/inbound", data=dict(params, MessageSid="SM" + "d" * 32),
                            headers=twilio.signed(public, dict(params, MessageSid="SM" + "d" * 32)))
    assert unproxied.status_code == 403  # without the proxy's headers the URL differs: the signature fails
