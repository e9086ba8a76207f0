"""An incident scenario through the API and the outbox handlers: 20 residents of one building report no water
within 2 minutes; the incident is proposed, then opened by itself; the dispatcher sets what callers are told; the
IVR's lookup finds it for that building only; closing it sends one SMS to each resident who called."""
from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa

from journal_api.service.incidents import IncidentService, on_registered, subscribe
from journal_api.storage import tables as t
from journal_api.storage.tables_incidents import incident_requests, incidents
from journal_api.storage.tables_messages import messages
from notifier.incident_sms import on_incident_closed


def _apartment(i: int) -> int:
    """20 flats spread over the 4 entrances and 16 risers of a 144-flat, 9-floor building (<= 2 per riser)."""
    return (i % 4) * 36 + (i // 16) * 4 + (i // 4) % 4 + 1


def _phone(i: int) -> str:
    return f"+791600000{i:02d}"


def _outbox(journal, name: str, after: int = 0) -> list:
    with journal.engine.connect() as conn:
        return conn.execute(sa.select(t.outbox).where(t.outbox.c.name == name, t.outbox.c.id > after)
                            .order_by(t.outbox.c.id)).all()


def _register_and_detect(journal, client, headers, building_id, i, *, phone=None, work_type="water"):
    last = max([r.id for r in _outbox(journal, "request.registered")], default=0)
    r = client.post("/api/v1/requests", headers=headers, json={
        "description": "Нет холодной воды", "work_type": work_type, "building_id": building_id,
        "apartment": _apartment(i), "caller_phone": phone or _phone(i), "channel": "phone"})
    assert r.status_code == 201, r.get_json()
    for row in _outbox(journal, "request.registered", last):  # what the journal worker does with the event
        on_registered(journal, row)
    return r.get_json()


def test_twenty_calls_about_one_building_in_two_minutes_open_an_incident_that_closes_with_one_sms_each(
        journal, journal_client, make_token, org, building, far_building, clock, notifier):
    headers = make_token("demo", "dispatcher")
    service = IncidentService(journal.uow)
    states = []
    for i in range(20):
        _register_and_detect(journal, journal_client, headers, building.id, i,
                             phone=_phone(0) if i == 19 else None)  # the first resident calls again
        found = service.find(org.id)
        states.append((found[0]["status"], found[0]["requests_count"]) if found else None)
        clock.advance(6)  # 20 calls in 2 minutes
    assert states[:2] == [None, None]
    assert states[2] == ("proposed", 3)  # propose_at
    assert states[6] == ("proposed", 7) and states[7] == ("open", 8)  # open_at: opened by itself
    assert states[19] == ("open", 20)
    (incident,) = service.find(org.id)
    assert incident["auto"] is True and incident["scope"] == "building" and incident["building_ids"] == [building.id]
    assert incident["title"].startswith("Водоснабжение: ул. Ленина, д. 10")
    assert [r.payload["incident_id"] for r in _outbox(journal, "incident.proposed")] == [incident["id"]]
    assert [r.payload["auto"] for r in _outbox(journal, "incident.opened")] == [True]

    # the dispatcher tells callers what is known; the API lists it
    eta = clock.now.replace(minute=0, second=0) + timedelta(hours=3)
    r = journal_client.post(f"/api/v1/incidents/{incident['id']}/open", headers=headers,
                            json={"public_note": "Прорыв трубы в подвале, бригада работает", "eta": eta.isoformat()})
    assert r.status_code == 200 and r.get_json()["public_note"].startswith("Прорыв")
    listed = journal_client.get("/api/v1/incidents?status=open", headers=headers).get_json()["items"]
    assert [i["id"] for i in listed] == [incident["id"]] and len(listed[0]["request_numbers"]) == 20

    # what the IVR gets: the incident for its building and work type, never for another building
    heard = service.for_caller(org.id, building_id=building.id, work_type="water")
    assert heard["incident_id"] == incident["id"] and heard["incident_eta"].utcoffset() == timedelta(hours=3)
    assert heard["incident_eta"].hour == eta.astimezone(heard["incident_eta"].tzinfo).hour
    assert service.for_caller(org.id, building_id=far_building.id, work_type="water") is None
    assert service.for_caller(org.id, building_id=building.id, work_type="elevator") is None
    assert service.for_caller(org.id, phone=_phone(3)) is None  # not a registered resident: no building known

    # a later request from the far building is not grouped with it
    _register_and_detect(journal, journal_client, headers, far_building.id, 4, phone=_phone(30))
    assert service.get(org.id, incident["id"])["requests_count"] == 20

    # closing: one SMS per resident who called (19 phones), however often the event is handled
    r = journal_client.post(f"/api/v1/incidents/{incident['id']}/close", headers=headers,
                            json={"note": "Вода подана."})
    assert r.status_code == 200 and r.get_json()["status"] == "closed"
    (closed,) = _outbox(journal, "incident.closed")
    assert len(closed.payload["residents"]) == 19
    queued = on_incident_closed(journal, closed, notifier)
    assert on_incident_closed(journal, closed, notifier) == []
    with journal.engine.connect() as conn:
        sms = conn.execute(sa.select(messages).where(messages.c.template == "resident_incident_closed")).all()
    assert len(queued) == len(sms) == 19
    assert sorted(m.recipient for m in sms) == sorted(_phone(i) for i in range(19))
    assert all(m.body.startswith("Авария устранена: ул. Ленина 10к2. Заявка №") and m.body.endswith("Вода подана.")
               and m.segments <= 2 for m in sms)
    assert service.for_caller(org.id, building_id=building.id, work_type="water") is None  # no longer announced


def test_a_proposed_incident_can_be_dismissed_and_is_never_announced(journal, journal_client, make_token, org,
                                                                      building, clock):
    headers = make_token("demo", "dispatcher")
    for i in range(3):
        _register_and_detect(journal, journal_client, headers, building.id, i, work_type="heating")
    service = IncidentService(journal.uow)
    (incident,) = service.find(org.id, status="proposed")
    assert service.for_caller(org.id, building_id=building.id) is None  # proposed: not announced yet
    r = journal_client.post(f"/api/v1/incidents/{incident['id']}/dismiss", headers=headers)
    assert r.status_code == 200 and r.get_json()["status"] == "dismissed"
    r = journal_client.post(f"/api/v1/incidents/{incident['id']}/close", headers=headers, json={})
    assert r.status_code == 422
    _register_and_detect(journal, journal_client, headers, building.id, 3, work_type="heating")
    assert [i["status"] for i in service.find(org.id)] == ["dismissed"]  # its requests are not grouped again


def test_incidents_of_another_organisation_are_invisible(journal, journal_client, make_token, org, other_org,
                                                         building, technician):
    headers = make_token("demo", "dispatcher")
    for i in range(3):
        _register_and_detect(journal, journal_client, headers, building.id, i)
    (incident,) = IncidentService(journal.uow).find(org.id)
    stranger = make_token("other", "dispatcher")
    assert journal_client.get(f"/api/v1/incidents/{incident['id']}", headers=stranger).status_code == 404
    assert journal_client.post(f"/api/v1/incidents/{incident['id']}/open", headers=stranger,
                               json={}).status_code == 404
    assert journal_client.get("/api/v1/incidents", headers=stranger).get_json()["items"] == []
    assert journal_client.get("/api/v1/incidents", headers=make_token("demo", "technician",
                                                                               technician.id)).status_code == 403


def test_detection_is_idempotent_and_subscribed_to_registrations(journal, journal_client, make_token, org,
                                                                  building):
    from journal_api import jobs

    headers = make_token("demo", "dispatcher")
    for i in range(3):
        _register_and_detect(journal, journal_client, headers, building.id, i)
    for row in _outbox(journal, "request.registered"):
        on_registered(journal, row)  # handled again (an rq retry)
    with journal.engine.connect() as conn:
        assert conn.scalar(sa.select(sa.func.count()).select_from(incident_requests)) == 3
        assert conn.scalar(sa.select(sa.func.count()).select_from(incidents)) == 1
    before = list(jobs._HANDLERS.get("request.registered", []))
    try:
        subscribe()
        assert on_registered in jobs.handlers_for("request.registered")
    finally:
        jobs._HANDLERS["request.registered"] = before


def test_detections_running_at_the_same_moment_open_one_incident(journal, org, building):
    """Six workers handle six registrations at once (PostgreSQL advisory lock per organisation and work type)."""
    from concurrent.futures import ThreadPoolExecutor

    from journal_api.domain.events import Actor
    from journal_api.service.requests import NewRequest

    ids = [journal.requests.register(org.id, Actor.system("test"), NewRequest(
        description="Нет воды", work_type="water", channel="phone", building_id=building.id,
        apartment=_apartment(i), caller_phone=_phone(i))).id for i in range(6)]
    service = IncidentService(journal.uow)
    with ThreadPoolExecutor(6) as pool:
        list(pool.map(service.detect, ids))
    (incident,) = service.find(org.id)
    assert incident["requests_count"] == 6 and sorted(incident["request_numbers"]) == incident["request_numbers"]
    with journal.engine.connect() as conn:
        members = conn.scalars(sa.select(incident_requests.c.request_id)).all()
    assert sorted(members) == sorted(ids)
