"""A real SIP call (pjsua2 test caller -> `hotline sip` on loopback) from a resident of a building with an open
incident: he hears the announcement (checked by correlation against the prompt WAVs); hanging up without pressing 1
leaves no request. Uses the telephony tests' harness (tests/telephony/sip_support.py)."""
from __future__ import annotations

import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
import sqlalchemy as sa

from ivr_flows.prompts import catalogue_for
from journal_api.domain.events import Actor
from journal_api.service.incidents import IncidentService
from journal_api.service.requests import NewRequest
from journal_api.storage import tables as t

sys.path.insert(0, str(Path(__file__).parents[1] / "telephony"))
from sip_audio import match_fraction  # noqa: E402
from sip_support import Hotline, caller, stored_call  # noqa: E402

SYSTEM = Actor.system("test")


@pytest.mark.e2e
def test_a_resident_of_the_building_hears_the_incident_over_sip_and_leaves_without_a_request(
        settings, container, org, building, tmp_path):
    incidents = IncidentService(container.uow)
    for apt in (1, 40, 80):
        r = container.requests.register(org.id, SYSTEM, NewRequest(description="Нет воды", work_type="water",
                                                                   channel="phone", building_id=building.id,
                                                                   apartment=apt))
        incidents.detect(r.id)
    (proposed,) = incidents.find(org.id)
    eta = (datetime.now(timezone.utc) + timedelta(hours=4)).replace(minute=0, second=0, microsecond=0)
    incidents.open(org.id, proposed["id"], SYSTEM, eta=eta)
    container.registry.add_resident(org.id, SYSTEM, "+79161234567", building_id=building.id, apartment=12)

    hotline = Hotline(settings, 1)
    try:
        heard = tmp_path / "heard.wav"
        # 1 and 2 pressed during the menus (barge-in): авария, затопление; he listens, then hangs up
        result = caller(hotline.uri, "--from", "sip:+79161234567@127.0.0.1", "--dtmf", "1@2,2@4", "--record-heard",
                        heard, "--hangup-at", 22, "--timeout", 40)
        assert result["connected"] and result["ended_by"] != "timeout", (result, hotline.logs())
        (call,) = stored_call(container)
    finally:
        hotline.stop()
    assert call["ivr_path"][-1] == "incident_announce" and call["request_id"] is None
    cat = catalogue_for(settings)
    assert match_fraction(heard, cat.path("incident/water")) >= 0.6  # a busy machine stretches audio (0.68 seen)
    assert match_fraction(heard, cat.path("ivr/incident_add_request")) >= 0.8
    assert match_fraction(heard, cat.path("ivr/record_description")) < 0.2  # never asked for a description
    with container.engine.connect() as conn:
        assert conn.scalar(sa.select(sa.func.count()).select_from(t.requests)) == 3
