"""GET /api/v1/calls, /calls/<id>, /recordings/<id>/audio: filters, paging, roles and the listen audit."""
from __future__ import annotations

import hashlib
from datetime import timedelta

import pytest
import sqlalchemy as sa

from calls_support import T0, open_call, write_wav
from journal_api.storage import tables as t
from journal_api.storage import tables_calls as tc



@pytest.fixture
def calls(container, org, building, tmp_path):
    """Five calls: three answered (one with a request and two recordings), one missed, one over capacity."""
    c = container
    ids = []
    for i in range(3):
        call_id = open_call(c, org.id, uuid=f"u{i}", caller=f"+7903555100{i}", at=T0 + timedelta(minutes=i))
        c.calls.ended(call_id, at=T0 + timedelta(minutes=i, seconds=50), status="answered", hangup_cause="normal",
                      ivr_path=["greeting", "main_menu"], digits=["2"])
        ids.append(call_id)
    out = c.calls.register_from_call(ids[0], work_type="water", emergency=False, apartment=12,
                                     building_id=building.id)
    wav = write_wav(tmp_path / "d.wav", 1.5)
    rec = c.calls.attach_recording(call_id=ids[0], kind="description", path=wav)
    c.calls.attach_recording(call_id=ids[0], kind="call", path=write_wav(tmp_path / "c.wav", 3.0, value=7))
    ids.append(c.calls.missed(org_id=org.id, sip_call_id="m", from_number="+79030000009", to_number="+74950000000",
                              at=T0 + timedelta(minutes=3), status="missed"))
    ids.append(c.calls.missed(org_id=org.id, sip_call_id="o", from_number="+79030000010", to_number="+74950000001",
                              at=T0 + timedelta(minutes=4)))
    return {"ids": ids, "number": out["number"], "recording": rec, "wav": wav}


def test_calls_are_listed_newest_first_with_answer_time_and_request_number(client, make_token, calls):
    resp = client.get("/api/v1/calls", headers=make_token())
    assert resp.status_code == 200
    items = resp.json["items"]
    assert [i["id"] for i in items] == list(reversed(calls["ids"]))
    first = items[-1]
    assert first["request_number"] == calls["number"] and first["answer_seconds"] == 0.0
    assert first["ivr_path"] == ["greeting", "main_menu"] and first["digits"] == ["2"]
    assert items[0]["status"] == "over_capacity" and items[0]["callback_reason"] == "over_capacity"


FILTERS = [
    ("status=missed", [3]), ("has_request=true", [0]), ("has_request=false", [4, 3, 2, 1]),
    ("from=5551001", [1]), ("to=0001", [4]), ("callback=pending", [4, 3]),
    ("since=2026-11-26T12:02:00%2B00:00&until=2026-11-26T12:04:00%2B00:00", [3, 2]),
]


def test_calls_are_filtered_by_number_status_request_callback_and_time(client, make_token, calls):
    for query, expected in FILTERS:  # one set of calls for every filter (the fixture is the slow part)
        resp = client.get(f"/api/v1/calls?{query}", headers=make_token())
        assert resp.status_code == 200, (query, resp.json)
        assert [i["id"] for i in resp.json["items"]] == [calls["ids"][k] for k in expected], query


def test_calls_are_paged_with_a_cursor_without_gaps_or_repeats(client, make_token, calls):
    seen, url = [], "/api/v1/calls?limit=2"
    while url:
        page = client.get(url, headers=make_token()).json
        seen += [i["id"] for i in page["items"]]
        url = f"/api/v1/calls?limit=2&cursor={page['next_cursor']}" if page["next_cursor"] else None
    assert seen == list(reversed(calls["ids"]))


def test_a_bad_filter_gets_the_one_error_shape(client, make_token, calls):
    for query in ("status=lost", "period=year", "cursor=garbage", "frm=1"):
        resp = client.get(f"/api/v1/calls?{query}", headers=make_token())
        assert resp.status_code == 422 and resp.json["error"]["code"] == "validation_error", (query, resp.json)


def test_a_call_comes_with_its_recordings_and_its_request(client, make_token, calls):
    resp = client.get(f"/api/v1/calls/{calls['ids'][0]}", headers=make_token())
    body = resp.json
    assert resp.status_code == 200 and body["request_number"] == calls["number"]
    assert [(r["kind"], r["duration_s"]) for r in body["recordings"]] == [("description", 1.5), ("call", 3.0)]
    assert body["recordings"][0]["audio_url"] == f"/api/v1/recordings/{calls['recording']}/audio"
    assert client.get("/api/v1/calls/999999", headers=make_token()).status_code == 404


def test_listening_to_a_recording_streams_the_wav_and_is_audited(client, make_token, container, calls):
    resp = client.get(f"/api/v1/recordings/{calls['recording']}/audio", headers=make_token(role="manager"))
    assert resp.status_code == 200 and resp.mimetype == "audio/wav"
    data = open(calls["wav"], "rb").read()
    assert resp.data == data and resp.headers["X-Checksum-SHA256"] == hashlib.sha256(data).hexdigest()
    with container.engine.connect() as conn:
        rows = conn.execute(sa.select(t.audit_log).where(t.audit_log.c.entity == "recording")).all()
    assert [(r.entity_id, r.action, r.actor_kind) for r in rows] == [(calls["recording"], "listen", "token")]


def test_a_technician_hears_only_recordings_of_his_requests_and_sees_no_call_list(client, make_token, container,
                                                                                   org, technician, calls):
    headers = make_token(role="technician", staff_id=technician.id)
    assert client.get(f"/api/v1/recordings/{calls['recording']}/audio", headers=headers).status_code == 404
    assert client.get("/api/v1/calls", headers=headers).status_code == 403
    from journal_api.domain.events import Actor

    container.requests.assign(org.id, calls["number"], Actor(kind="staff", role="dispatcher", name="Д"),
                              "dispatcher", technician.id)
    assert client.get(f"/api/v1/recordings/{calls['recording']}/audio", headers=headers).status_code == 200


def test_another_organisation_sees_neither_the_calls_nor_the_recordings(client, make_token, other_org, calls):
    headers = make_token(org_code="other")
    assert client.get("/api/v1/calls", headers=headers).json["items"] == []
    assert client.get(f"/api/v1/calls/{calls['ids'][0]}", headers=headers).status_code == 404
    assert client.get(f"/api/v1/recordings/{calls['recording']}/audio", headers=headers).status_code == 404


def test_a_dispatcher_closes_a_callback_task(client, make_token, calls):
    missed = calls["ids"][3]
    resp = client.post(f"/api/v1/calls/{missed}/callback-done", headers=make_token())
    assert resp.status_code == 200 and resp.json["callback_done_at"] is not None
    pending = client.get("/api/v1/calls?callback=pending", headers=make_token()).json["items"]
    assert [i["id"] for i in pending] == [calls["ids"][4]]
    resp = client.post(f"/api/v1/calls/{calls['ids'][1]}/callback-done", headers=make_token())
    assert resp.status_code == 422


def test_the_calls_endpoints_are_in_the_openapi_document(client):
    paths = client.get("/api/v1/openapi.json").json["paths"]
    assert {"/api/v1/calls", "/api/v1/calls/{call_id}", "/api/v1/recordings/{recording_id}/audio"} <= set(paths) \
        or {"/calls", "/calls/{call_id}", "/recordings/{recording_id}/audio"} <= set(paths)


def test_the_summary_gives_the_pp416_figures_of_a_period(client, make_token, calls):
    resp = client.get("/api/v1/calls/summary?since=2026-11-26T00:00:00%2B00:00&until=2026-11-27T00:00:00%2B00:00",
                      headers=make_token(role="manager"))
    body = resp.json
    assert resp.status_code == 200, body
    assert (body["calls"], body["answered"], body["answered_within_5_min"]) == (5, 3, 3)
    assert body["by_status"] == {"answered": 3, "missed": 1, "over_capacity": 1}
    assert body["answer_seconds_p95"] == 0.0
    assert body["callbacks"]["requested"] == 2 and body["callbacks"]["done"] == 0
    assert body["callbacks"]["overdue"] == 2  # due on 26 November 2026 at 12:13 and 12:14, long before the test runs
    empty = client.get("/api/v1/calls/summary?since=2026-11-27T00:00:00%2B00:00&until=2026-11-28T00:00:00%2B00:00",
                       headers=make_token()).json
    assert empty["calls"] == 0 and empty["answer_seconds_p50"] is None
    assert client.get("/api/v1/calls/summary", headers=make_token()).status_code == 422


def test_a_requests_recordings_are_listed_for_those_who_may_see_the_request(client, make_token, technician, calls):
    resp = client.get(f"/api/v1/recordings?request={calls['number']}", headers=make_token())
    assert resp.status_code == 200
    assert [r["kind"] for r in resp.json] == ["description", "call"]
    tech = make_token(role="technician", staff_id=technician.id)
    assert client.get(f"/api/v1/recordings?request={calls['number']}", headers=tech).status_code == 404
    assert client.get("/api/v1/recordings", headers=make_token()).status_code == 422


def test_listed_calls_carry_their_recordings_and_request_in_one_query_for_the_page(client, make_token, container,
                                                                                   calls):
    statements = []

    def count(conn, cursor, statement, *args):
        statements.append(statement)

    sa.event.listen(container.engine, "before_cursor_execute", count)
    try:
        one = client.get("/api/v1/calls?limit=1&has_request=true", headers=make_token())
        n_one, statements[:] = len(statements), []
        page = client.get("/api/v1/calls", headers=make_token())
        n_all = len(statements)
    finally:
        sa.event.remove(container.engine, "before_cursor_execute", count)
    assert one.status_code == 200 and page.status_code == 200
    assert n_all == n_one  # five calls cost what one does: no query per call
    items = {i["id"]: i for i in page.json["items"]}
    first = items[calls["ids"][0]]
    assert [(r["kind"], r["duration_s"], r["format"]) for r in first["recordings"]] == \
        [("description", 1.5, "wav/pcm_s16le"), ("call", 3.0, "wav/pcm_s16le")]
    assert first["recordings"][0]["audio_url"] == f"/api/v1/recordings/{calls['recording']}/audio"
    assert len(first["recordings"][0]["sha256"]) == 64 and first["recordings"][0]["purged_at"] is None
    assert first["request"]["number"] == calls["number"] and first["request"]["status"] == "new"
    assert first["request"]["work_type"] == "water"
    missed = items[calls["ids"][3]]
    assert missed["recordings"] == [] and missed["request"] is None


def test_a_purged_recording_keeps_its_facts_and_says_so_and_its_audio_is_gone(client, make_token, container,
                                                                              calls):
    from recordings.retention import purge_expired

    with container.engine.begin() as conn:
        conn.execute(sa.update(tc.recordings).where(tc.recordings.c.id == calls["recording"])
                     .values(created_at=T0 - timedelta(days=400)))
    assert purge_expired(container, retention_days=365) == 1
    body = client.get(f"/api/v1/calls/{calls['ids'][0]}", headers=make_token()).json
    purged, kept = body["recordings"]
    assert purged["purged_at"] is not None and purged["audio_url"] is None
    assert purged["note"] == "запись удалена по сроку хранения" and purged["duration_s"] == 1.5
    assert kept["purged_at"] is None and kept["note"] is None and kept["audio_url"]
    resp = client.get(f"/api/v1/recordings/{calls['recording']}/audio", headers=make_token())
    assert resp.status_code == 410 and resp.json["error"]["code"] == "recording_purged"
    assert "по сроку хранения" in resp.json["error"]["message"]
