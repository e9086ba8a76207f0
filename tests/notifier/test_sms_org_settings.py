"""An organisation's own SMS provider: the admin API (validated, secrets never echoed, audited), and one organisation
on its own Kannel (its own webhook secret) next to another one on the deployment's log provider."""
from __future__ import annotations

import pytest
import sqlalchemy as sa

from journal_api.service.requests import NewRequest
from journal_api.storage import tables as t
from notifier.service import Notifier

from sms_support import DISPATCHER, SYSTEM, all_messages, pump

ORG_SECRET = "org-own-secret-0123456789"
TECH = "+79123456789"


def _put(client, make_token, body, role="admin", org_code="demo"):
    return client.put("/api/v1/sms/settings", json=body, headers=make_token(org_code, role))


def _own(container, org_id):
    with container.engine.connect() as conn:
        return (conn.execute(sa.select(t.organisations.c.settings).where(t.organisations.c.id == org_id))
                .scalar() or {}).get("sms")


def test_an_admin_sets_the_provider_and_the_secrets_are_never_echoed(client, container, org, make_token):
    response = _put(client, make_token, {"provider": "kannel", "sender": "4740", "kannel_password": "pw-1",
                                         "kannel_secret": ORG_SECRET, "kannel_allow_ips": "10.0.0.0/8"})
    assert response.status_code == 200, response.get_json()
    shown = response.get_json()
    assert shown["provider"] == "kannel" and shown["kannel_secret_set"] and shown["kannel_password_set"]
    assert not shown["twilio_auth_token_set"]
    assert "pw-1" not in response.get_data(as_text=True) and ORG_SECRET not in response.get_data(as_text=True)
    got = client.get("/api/v1/sms/settings", headers=make_token("demo", "admin"))
    assert got.status_code == 200 and got.get_json() == shown and ORG_SECRET not in got.get_data(as_text=True)
    assert _own(container, org.id)["kannel_secret"] == ORG_SECRET  # stored, for the webhooks
    with container.engine.connect() as conn:
        audit = conn.execute(sa.select(t.audit_log.c.changes).where(t.audit_log.c.action == "sms_settings")).scalar()
    assert audit["sms"]["kannel_secret"] == "***" and "pw-1" not in str(audit)


def test_a_secret_left_out_is_kept_and_an_empty_one_is_cleared(client, container, org, make_token):
    _put(client, make_token, {"provider": "kannel", "kannel_secret": ORG_SECRET, "kannel_password": "pw-1"})
    assert _put(client, make_token, {"provider": "kannel", "sender": "4741"}).get_json()["kannel_secret_set"]
    assert _own(container, org.id) == {"provider": "kannel", "sender": "4741", "kannel_password": "pw-1",
                                       "kannel_secret": ORG_SECRET}
    assert not _put(client, make_token, {"provider": "log", "kannel_secret": ""}).get_json()["kannel_secret_set"]
    assert "kannel_secret" not in _own(container, org.id)


@pytest.mark.parametrize("body,field", [
    ({"provider": "smpp"}, "provider"), ({"provider": "kannel", "colour": "red"}, "colour"),
    ({"provider": "kannel", "kannel_allow_ips": "10.0.0.0/8, localhost"}, "kannel_allow_ips"),
    ({"provider": "kannel", "kannel_secret": "short"}, "kannel_secret"),
    ({"provider": "twilio", "twilio_account_sid": "XX123"}, "twilio_account_sid"),
])
def test_a_bad_body_is_refused_and_nothing_is_written(client, container, org, make_token, body, field):
    response = _put(client, make_token, body)
    assert response.status_code == 422 and field in response.get_data(as_text=True)
    assert _own(container, org.id) is None


@pytest.mark.parametrize("role", ["manager", "dispatcher"])
def test_only_an_admin_may_read_or_set_the_provider(client, org, make_token, role):
    assert _put(client, make_token, {"provider": "log"}, role=role).status_code == 403
    assert client.get("/api/v1/sms/settings", headers=make_token("demo", role)).status_code == 403


@pytest.fixture
def two_orgs(app, container, org, other_org, building, technician, sms_settings, enqueued, redis_conn, tmp_path,
             client, make_token):
    """Organisation "demo" on its own Kannel (own secret, own sender), "other" on the deployment's log provider."""
    from sms_kannel import kannel_serving

    def notifier(own, kannel, web):
        response = _put(client, make_token, {"provider": "kannel", "sender": "4740", "kannel_password": "pw",
                                             "kannel_secret": ORG_SECRET, "kannel_sendsms_url": kannel.sendsms_url,
                                             "callback_url": web.url})
        assert response.status_code == 200, response.get_json()
        return Notifier(container, settings=sms_settings, enqueuer=enqueued, redis=redis_conn)

    # Kannel's get-url and dlr-url carry the organisation's secret
    with kannel_serving(app, sms_settings, tmp_path, notifier, kannel_secret=ORG_SECRET) as world:
        yield world


def _assigned_in(container, org_id, phone, street):
    b = container.registry.upsert_building(org_id, SYSTEM, {
        "building_id": "B-9", "city": "Екатеринбург", "street": street, "house": "1", "entrances": 1, "floors": 5,
        "apartments": 20})
    tech = container.registry.upsert_staff(org_id, SYSTEM, {"full_name": "Петров Пётр", "role": "technician",
                                                            "phone": phone})
    r = container.requests.register(org_id, DISPATCHER, NewRequest(
        description="Нет света", work_type="electricity", channel="phone", caller_phone="+79160000001",
        building_id=b.id))
    return container.requests.assign(org_id, r.number, DISPATCHER, "dispatcher", tech.id)


@pytest.mark.e2e
def test_one_organisation_on_its_own_kannel_and_another_on_the_log_provider(container, org, other_org, two_orgs,
                                                                          client, assigned):
    from sms_kannel import wait_for

    notifier, kannel = two_orgs
    mine = assigned  # the "demo" organisation's request, assigned to the technician TECH
    theirs = _assigned_in(container, other_org.id, "+79125550000", "ул. Мира")
    pump(container, notifier)
    by_org = {(m.org_id, m.audience): m for m in all_messages(container)}
    ours = by_org[(org.id, "technician")]
    assert ours.provider == "kannel" and by_org[(other_org.id, "technician")].provider == "log"
    assert by_org[(other_org.id, "technician")].status == "sent"
    wait_for(lambda: [r for r in kannel.received if r[1] == TECH])
    assert not [r for r in kannel.received if r[1] == "+79125550000"]  # the other organisation's SMS stays off it
    # the DLR comes back with the organisation's own secret and moves its message
    assert wait_for(lambda: notifier.outbox.get(ours.id).status == "delivered")
    # the organisation's secret cannot move another organisation's message
    other_sms = by_org[(other_org.id, "technician")]
    assert client.get("/sms/kannel/dlr", query_string={"secret": ORG_SECRET, "id": other_sms.id, "type": 16}) \
        .status_code == 200
    assert notifier.outbox.get(other_sms.id).status == "sent"
    # the technician's reply arrives through the organisation's Kannel with its secret
    kannel.mo(TECH, "4740", f"{mine.number} принято")
    wait_for(lambda: container.requests.get(org.id, mine.number, DISPATCHER).status == "accepted")
    assert container.requests.get(other_org.id, theirs.number, DISPATCHER).status == "assigned"
    assert client.get("/sms/kannel/mo", query_string={"secret": "not-a-secret-of-anyone", "from": TECH, "id": "x",
                                                     "text": "мои"}).status_code == 403
