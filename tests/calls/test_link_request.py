"""CallService.link_request: a dispatcher registers a request from a call in the console (contracts.md)."""
from __future__ import annotations

import pytest
import sqlalchemy as sa

from journal_api.domain.errors import Conflict, NotFound
from journal_api.service.requests import NewRequest
from journal_api.storage import tables as t
from journal_api.storage import tables_calls as tc
from journal_api.storage import tables_transcripts as tt

from calls_support import open_call, write_wav
from conftest import SYSTEM


def _request(c, org_id, building_id, text="Течь в подвале") -> int:
    return c.requests.register(org_id, SYSTEM, NewRequest(description=text, work_type="water",
                                                          building_id=building_id, channel="dispatcher")).number


def _links(c, call_id):
    with c.engine.connect() as conn:
        call = conn.scalar(sa.select(tc.calls.c.request_id).where(tc.calls.c.id == call_id))
        recs = set(conn.scalars(sa.select(tc.recordings.c.request_id).where(tc.recordings.c.call_id == call_id)))
        trs = set(conn.scalars(sa.select(tt.transcripts.c.request_id).where(tt.transcripts.c.call_id == call_id)))
        audits = conn.scalar(sa.select(sa.func.count()).select_from(t.audit_log).where(
            t.audit_log.c.entity == "call", t.audit_log.c.entity_id == call_id,
            t.audit_log.c.action == "request_linked"))
    return call, recs, trs, audits


def test_linking_a_call_gives_the_request_its_recordings_and_transcripts_once(place, tmp_path):
    c, org = place["c"], place["org"]
    number = _request(c, org.id, place["b1"].id)
    request_id = c.requests.get(org.id, number, SYSTEM).id
    call_id = open_call(c, org.id)
    c.calls.attach_recording(call_id=call_id, kind="voicemail", path=write_wav(tmp_path / "v.wav", 1.0))
    c.transcripts.open(org_id=org.id, kind="voicemail", call_id=call_id)
    assert _links(c, call_id) == (None, {None}, {None}, 0)
    c.calls.link_request(org.id, call_id, number, SYSTEM)
    assert _links(c, call_id) == (request_id, {request_id}, {request_id}, 1)
    c.calls.link_request(org.id, call_id, number, SYSTEM)  # idempotent: no second audit line
    assert _links(c, call_id) == (request_id, {request_id}, {request_id}, 1)
    assert c.calls.get_call(org.id, call_id)["request_number"] == number


def test_another_organisations_call_or_request_is_not_found_and_another_request_is_a_conflict(place):
    c, org = place["c"], place["org"]
    other = c.registry.create_organisation("other", "УК Другая", "Europe/Moscow")
    b = c.registry.upsert_building(other.id, SYSTEM, {"building_id": "X", "city": "Москва", "street": "ул. Иная",
                                                      "house": "1", "entrances": 1, "floors": 5, "apartments": 10})
    foreign_number = max(_request(c, other.id, b.id) for _ in range(3))
    foreign_call = open_call(c, other.id, uuid="foreign")
    mine = _request(c, org.id, place["b1"].id)
    call_id = open_call(c, org.id)
    with pytest.raises(NotFound):
        c.calls.link_request(org.id, foreign_call, mine, SYSTEM)
    with pytest.raises(NotFound):
        c.calls.link_request(org.id, call_id, foreign_number, SYSTEM)
    with pytest.raises(NotFound):
        c.calls.link_request(org.id, call_id, 99999, SYSTEM)
    assert _links(c, call_id)[0] is None and _links(c, foreign_call)[0] is None
    c.calls.link_request(org.id, call_id, mine, SYSTEM)
    second = _request(c, org.id, place["b1"].id, "Другая")
    with pytest.raises(Conflict):
        c.calls.link_request(org.id, call_id, second, SYSTEM)
    assert _links(c, call_id)[0] == c.requests.get(org.id, mine, SYSTEM).id
