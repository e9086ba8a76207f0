"""What callers hear about a known incident: the IVR's lookups name the open incident of the caller's building, the
default flow announces it (what, and the ETA) before asking for a description, and the caller may still press 1.
Never for a building outside the incident. Driven through step() and through the Twilio Voice webhooks."""
from __future__ import annotations

import io
import wave
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from ivr_flows import load_flow, step
from ivr_flows.actions import Gather, Hangup, Invoke, Play, Record
from ivr_flows.events import Digits, InvokeResult, Started, Timeout
from journal_api.domain.events import Actor
from journal_api.service.incidents import IncidentService
from journal_api.service.requests import NewRequest
from telephony.twilio_voice import EXT, VoiceWeb

from twilio_api import TwilioServer
from twilio_voice.twilio_support import TwilioCall

FLOW = load_flow("default")
DUE = datetime(2026, 11, 27, 18, 0, tzinfo=ZoneInfo("Europe/Moscow"))
SYSTEM = Actor.system("test")
TEXT = "По вашему дому известно об отключении воды, бригада работает."


def _played(actions):
    return [p for a in actions if isinstance(a, Play) for p in a.prompts]


def _to_lookup(caller="+79035551001"):
    actions, s = step(FLOW, None, Started(caller=caller, did="+74950000000", call_id=1))
    for key in ("1", "2"):  # авария, затопление
        actions, s = step(FLOW, s, Digits(key))
    assert actions == [Invoke("lookup_caller", {"phone": caller})]
    return s


def test_a_known_resident_of_a_building_with_an_open_incident_hears_it_and_may_press_1():
    s = _to_lookup()
    found = {"building_id": 3, "apartment": 45, "address": "ул. Ленина, д. 10", "incident_work_type": "water",
             "incident_eta": DUE}
    actions, s = step(FLOW, s, InvokeResult("lookup_caller", True, found))
    assert _played(actions) == ["incident/water", "ivr/incident_eta", "digits/18", "digits/oclock", "digits/20",
                                "digits/7", "digits/mon-10", "ivr/incident_add_request"]
    assert isinstance(actions[-1], Gather) and actions[0].barge_in
    actions, s2 = step(FLOW, s, Digits("1"))
    assert isinstance(actions[-1], Record) and s2.node == "record_description"
    actions, s3 = step(FLOW, s, Digits("5"))  # a wrong key: the choice again
    assert _played(actions) == ["ivr/invalid", "ivr/incident_add_request"]
    actions, s3 = step(FLOW, s, Timeout())  # silence: the announcement once more
    assert _played(actions)[0] == "incident/water" and _played(actions)[-1] == "ivr/incident_add_request"
    actions, s3 = step(FLOW, s3, Timeout())  # then goodbye, nothing registered
    assert _played(actions) == ["ivr/goodbye"] and actions[-1] == Hangup("normal")
    assert not any(isinstance(a, Invoke) for a in actions)


def test_no_incident_no_announcement_and_the_flow_is_unchanged():
    s = _to_lookup()
    actions, s = step(FLOW, s, InvokeResult("lookup_caller", True, {"building_id": 3, "apartment": 45,
                                                                    "address": "ул. Ленина, д. 10"}))
    assert _played(actions) == ["ivr/address_known", "ivr/record_description"]


def test_an_incident_without_an_eta_is_announced_without_a_time():
    s = _to_lookup()
    actions, _ = step(FLOW, s, InvokeResult("lookup_caller", True, {"building_id": 3, "apartment": 45,
                                                                    "incident_work_type": "heating"}))
    assert _played(actions) == ["incident/heating", "ivr/incident_add_request"]


# -- through the journal and the Twilio webhooks -----------------------------------------------------------------------
@pytest.fixture
def incident(container, org, building):
    """An open water incident at building B-1 with an ETA, as the dispatcher left it."""
    now = datetime.now(timezone.utc)
    for apt in (1, 40, 80):
        container.requests.register(org.id, SYSTEM, NewRequest(description="Нет воды", work_type="water",
                                                               channel="phone", building_id=building.id,
                                                               apartment=apt))
    service = IncidentService(container.uow)
    from journal_api.storage import tables as t
    import sqlalchemy as sa

    with container.engine.connect() as conn:
        ids = list(conn.execute(sa.select(t.requests.c.id).order_by(t.requests.c.id)).scalars())
    for rid in ids:
        service.detect(rid)
    (proposed,) = service.find(org.id)
    eta = (now + timedelta(hours=4)).replace(minute=0, second=0, microsecond=0)
    return service.open(org.id, proposed["id"], SYSTEM, public_note="Прорыв трубы", eta=eta)


@pytest.fixture
def far(container, org):
    return container.registry.upsert_building(org.id, SYSTEM, {
        "building_id": "B-2", "city": "Москва", "street": "ул. Гагарина", "house": "3", "entrances": 2,
        "floors": 5, "apartments": 40})


@pytest.fixture
def twilio(app, container, client):
    sid, token = "AC" + "7" * 32, "t" * 32
    with TwilioServer(sid, token) as server:
        from telephony.twilio_calls import TwilioVoiceSettings

        app.extensions[EXT] = VoiceWeb(container, TwilioVoiceSettings(
            account_sid=sid, auth_token=token, api_base_url=server.url, public_url="http://localhost"))
        yield lambda caller: TwilioCall(client, sid, token, caller=caller, did="+74950000000", recordings=server)


def _heard(client, doc) -> str:
    """What the caller hears of the incident: the WAV Twilio fetches, or the text it says."""
    for el in doc.iter():
        if el.tag == "Play" and el.text.endswith("/incident/water.wav"):
            audio = client.get(el.text.replace("http://localhost", ""))
            assert audio.status_code == 200
            with wave.open(io.BytesIO(audio.data)) as w:
                assert (w.getframerate(), w.getnchannels()) == (8000, 1) and w.getnframes() > 8000
            return "played"
        if el.tag == "Say" and TEXT in el.text:
            return "said"
    return ""


def test_callers_of_the_building_hear_the_incident_and_callers_elsewhere_do_not(client, container, org, building,
                                                                                far, incident, twilio):
    container.registry.add_resident(org.id, SYSTEM, "+79035551001", building_id=building.id, apartment=45)
    container.registry.add_resident(org.id, SYSTEM, "+79035551002", building_id=far.id, apartment=12)
    inside = twilio("+79035551001")
    inside.start()
    inside.press("1")
    doc = inside.press("2")
    assert _heard(client, doc) in ("played", "said")
    assert inside.waiting() == "Gather"
    inside.press("1")  # still wants to add his request
    assert inside.waiting() == "Record"

    outside = twilio("+79035551002")
    outside.start()
    outside.press("1")
    doc = outside.press("2")
    assert _heard(client, doc) == "" and outside.waiting() == "Record"

    # an anonymous caller: the apartment says which building; 100 is only in B-1, 30 is in both (the house decides)
    anonymous = twilio("anonymous")
    anonymous.start()
    anonymous.press("2")
    anonymous.press("1")
    assert _heard(client, anonymous.press("100")) in ("played", "said")
    elsewhere = twilio("anonymous")
    elsewhere.start()
    elsewhere.press("2")
    elsewhere.press("1")
    elsewhere.press("30")
    assert _heard(client, elsewhere.press("3")) == "" and elsewhere.waiting() == "Record"


def test_after_closing_nobody_hears_it(client, container, org, building, incident, twilio):
    IncidentService(container.uow).close(org.id, incident["id"], SYSTEM, note="Вода подана.")
    container.registry.add_resident(org.id, SYSTEM, "+79035551001", building_id=building.id, apartment=45)
    call = twilio("+79035551001")
    call.start()
    call.press("1")
    assert _heard(client, call.press("2")) == "" and call.waiting() == "Record"
