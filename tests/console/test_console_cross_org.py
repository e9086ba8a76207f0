"""Another organisation's data never shows in the console: not in the journal, its exports, the printed journal, the
Monitor, the analytics or the board's stream; its requests, recordings, photos, incidents, calls and links are 404
(its request numbers are the same as ours: numbers count per organisation)."""
from __future__ import annotations

import csv
import io
import json
import re
from datetime import timedelta

import pytest
import sqlalchemy as sa
from console_support import DISPATCHER, SYSTEM, write_wav
from openpyxl import load_workbook
from PIL import Image

from journal_api.service.incidents import IncidentService
from journal_api.service.requests import NewRequest
from journal_api.storage import tables_transcripts as tt

MARK = "Чужаягорзаявка"
PHONE = "+79169998877"
CALLER = "Посторонний Пётр"


@pytest.fixture
def theirs(container, other_org, tmp_path):
    """The other organisation: a building, three requests (an incident), a call with a live transcript and a
    callback task, a recording, a photo, a technician's link."""
    b = container.registry.upsert_building(other_org.id, SYSTEM, {
        "building_id": "O-1", "city": "Екатеринбург", "street": "ул. Чужая", "house": "7", "entrances": 2,
        "floors": 5, "apartments": 40})
    service, reqs = IncidentService(container.uow), []
    for i in range(3):
        r = container.requests.register(other_org.id, DISPATCHER, NewRequest(
            description=f"{MARK} {i}", work_type="water", channel="phone", building_id=b.id, apartment=i * 10 + 1,
            caller_phone=PHONE, caller_name=CALLER))
        service.detect(r.id)
        reqs.append(r)
    now = container.clock()
    call_id = container.calls.open_call(org_id=other_org.id, sip_call_id="o1", call_uuid="other-1",
                                        from_number=PHONE, to_number=None, arrived_at=now)
    container.calls.callback_task(call_id, reason="missed")
    rec_id = container.calls.attach_recording(call_id=call_id, kind="call", path=write_wav(tmp_path / "o.wav"),
                                              request_id=reqs[0].id)
    tid = container.transcripts.open(org_id=other_org.id, kind="call", status="live", call_id=call_id)
    with container.engine.begin() as conn:
        conn.execute(sa.update(tt.transcripts).where(tt.transcripts.c.id == tid).values(text=f"{MARK} в эфире"))
    photo = io.BytesIO()
    Image.new("RGB", (8, 8)).save(photo, "JPEG")
    photo.seek(0)
    att = container.requests.attach(other_org.id, reqs[0].number, SYSTEM, "system", kind="photo",
                                    filename="p.jpg", content_type="image/jpeg", stream=photo)
    (incident,) = service.find(other_org.id)
    link = container.links.issue(other_org.id, reqs[0].id, audience="resident", ttl=timedelta(days=1))
    return {"requests": reqs, "call": call_id, "recording": rec_id, "attachment": att, "incident": incident,
            "link": link}


def _assert_clean(text: str, where: str) -> None:
    for secret in (MARK, PHONE, "79169998877", CALLER, "ул. Чужая"):
        assert secret not in text, (where, secret)


def test_lists_exports_monitor_analytics_and_the_board_show_only_our_organisation(
        console, manager_console, make_request, theirs):
    ours = make_request(description="Наша заявка")
    assert ours.number == theirs["requests"][0].number  # the same number, another organisation's request
    found = console.get(f"/journal?q={MARK}").get_data(as_text=True)
    _assert_clean(found.split('id="journal"', 1)[1], "search")  # the form repeats the query; the table is empty
    for client, path in ((console, "/journal"), (console, "/journal/print"),
                         (console, "/monitor"), (console, "/board"), (console, "/board/stream?once=1"),
                         (manager_console, "/analytics"), (manager_console, "/journal/export.csv")):
        response = client.get(path)
        assert response.status_code == 200, path
        _assert_clean(response.get_data(as_text=True), path)
    assert "Наша заявка" in console.get("/journal").get_data(as_text=True)
    rows = list(csv.reader(io.StringIO(manager_console.get("/journal/export.csv").get_data(as_text=True)
                                       .lstrip("\ufeff")), delimiter=";"))
    assert [r[10] for r in rows[1:]] == ["Наша заявка"]
    sheet = load_workbook(io.BytesIO(manager_console.get("/journal/export.xlsx").data)).active
    assert [r[10] for r in sheet.iter_rows(min_row=2, values_only=True)] == ["Наша заявка"]
    monitor = console.get("/monitor").get_data(as_text=True)
    assert "Екатеринбург" not in monitor
    analytics = manager_console.get("/analytics").get_data(as_text=True)
    assert '<b id="a-total">1</b>' in analytics and '<b id="cb-needed">0</b>' in analytics
    body = console.get("/board/stream?once=1").get_data(as_text=True)
    snap = json.loads(re.findall(r"^data: (.*)$", body, re.M)[0])
    assert snap["incidents"] == [] and snap["callbacks"] == [] and snap["calls"] == []
    assert [x["description"] for x in snap["new"]] == ["Наша заявка"]


def test_another_organisations_objects_are_not_found(console, theirs):
    number = theirs["requests"][1].number  # we have no request of this number
    gets = [f"/requests/{number}", f"/recordings/{theirs['recording']}/audio",
            f"/board/incidents/{theirs['incident']['id']}", f"/requests/new?call={theirs['call']}"]
    gets.append(f"/attachments/{theirs['attachment'].id}")
    for path in gets:
        assert console.get(path).status_code == 404, path
    posts = [f"/requests/{number}/comment", f"/requests/{number}/status", f"/requests/{number}/assign",
             f"/requests/{number}/links", f"/board/incidents/{theirs['incident']['id']}/open",
             f"/board/incidents/{theirs['incident']['id']}/dismiss", f"/board/callbacks/{theirs['call']}/done"]
    for path in posts:
        assert console.post(path, data={"csrf_token": console.csrf, "text": "x"}).status_code == 404, path


def test_another_organisations_link_cannot_be_revoked_from_our_request(console, container, make_request, theirs):
    ours = make_request()
    their_link = container.links.of_request(theirs["requests"][0].org_id, theirs["requests"][0].id)[0]
    response = console.post(f"/requests/{ours.number}/links", data={"csrf_token": console.csrf,
                                                                    "revoke": str(their_link["id"])})
    assert response.status_code == 404
    assert container.links.of_request(theirs["requests"][0].org_id, theirs["requests"][0].id)[0]["revoked_at"] \
        is None
