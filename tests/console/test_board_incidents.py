"""Known incidents and callback tasks on the live board (issue 8): the dispatcher sees proposed and open incidents of
his organisation (address, work type, number of requests, since when, what callers hear, the ETA), confirms or
dismisses a proposed one and closes an open one from the board or the incident's page (CSRF, through
IncidentService); new ones arrive by Server-Sent Events; calls waiting for a callback or a staff voice message are
listed with their request and can be marked done. The same in a real browser (chromium) at the end."""
from __future__ import annotations

import json
import re
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from console_support import DISPATCHER, PASSWORD, SYSTEM, csrf_of, sign_in, wait_js, write_wav

from journal_api.service.console_auth import ConsoleAuth
from journal_api.service.incidents import IncidentService
from journal_api.service.requests import NewRequest
from journal_api.storage import tables as t
from journal_api.storage.tables_calls import calls as calls_table

ARTIFACTS = Path(__file__).parent / "artifacts"


def _water(container, org, building, n: int, *, start: int = 0, work_type: str = "water") -> list[int]:
    """``n`` requests from different risers of the building, each detected as the journal worker does."""
    service, ids = IncidentService(container.uow), []
    for i in range(start, start + n):
        r = container.requests.register(org.id, DISPATCHER, NewRequest(
            description="Нет холодной воды", work_type=work_type, channel="phone", building_id=building.id,
            apartment=(i % 4) * 36 + (i // 4) % 4 + 1, caller_phone=f"+7916000{i:04d}"))
        service.detect(r.id)
        ids.append(r.id)
    return ids


def _snapshot(client) -> dict:
    body = client.get("/board/stream?once=1").get_data(as_text=True)
    (data,) = re.findall(r"^data: (.*)$", body, re.M)
    return json.loads(data)


def _post(client, path: str, **form):
    return client.post(path, data={"csrf_token": client.csrf, **form})


def test_a_proposed_incident_is_on_the_board_and_confirmed_then_closed_from_it(console, container, org, building):
    assert _snapshot(console)["incidents"] == []
    _water(container, org, building, 3)
    (incident,) = IncidentService(container.uow).find(org.id)
    snap = _snapshot(console)  # what the open board receives without a reload
    (row,) = snap["incidents"]
    assert row["id"] == incident["id"] and row["status"] == "proposed" and row["status_text"] == "предложен"
    assert row["place"] == "ул. Ленина, д. 10, корп. 2" and row["work_type"] == "Водоснабжение" and row["count"] == 3
    page = console.get("/board").get_data(as_text=True)
    assert f'/board/incidents/{incident["id"]}/open' in page and "Звонящим не сообщается" in page
    assert "ул. Ленина, д. 10, корп. 2" in page and "Подтвердить" in page and "Отклонить" in page

    assert console.post(f"/board/incidents/{incident['id']}/open").status_code == 400  # no CSRF token
    r = _post(console, f"/board/incidents/{incident['id']}/open")
    assert r.status_code == 302 and r.headers["Location"].endswith("/board")
    assert "Инцидент подтверждён" in console.get("/board").get_data(as_text=True)
    (row,) = _snapshot(console)["incidents"]
    assert row["status"] == "open" and row["announce"].startswith("По вашему дому известно об отключении воды")
    assert row["announce"].endswith("Если хотите всё равно оставить заявку, нажмите 1. Диспетчер — 0.")
    assert "Закрыть" in console.get("/board").get_data(as_text=True)
    with container.engine.connect() as conn:
        opened = conn.execute(sa.select(t.outbox).where(t.outbox.c.name == "incident.opened")).all()
        audit = conn.execute(sa.select(t.audit_log).where(t.audit_log.c.entity == "incident")).all()
    assert [o.payload["auto"] for o in opened] == [False]
    assert [a.action for a in audit] == ["open"]

    r = _post(console, f"/board/incidents/{incident['id']}/close", note="Вода подана.")
    assert r.status_code == 302
    assert IncidentService(container.uow).get(org.id, incident["id"])["status"] == "closed"
    assert _snapshot(console)["incidents"] == []  # closed: off the board
    with container.engine.connect() as conn:
        (closed,) = conn.execute(sa.select(t.outbox).where(t.outbox.c.name == "incident.closed")).all()
    assert closed.payload["note"] == "Вода подана." and len(closed.payload["residents"]) == 3
    r = _post(console, f"/board/incidents/{incident['id']}/close")  # twice: a clear error, nothing sent again
    assert r.status_code == 302 and "error" in console.get("/board").get_data(as_text=True)


def test_an_incident_opened_by_itself_shows_what_callers_hear_and_the_eta_set_on_its_page(console, container, org,
                                                                                          building):
    _water(container, org, building, 8)  # open_at: opened without the dispatcher
    (incident,) = IncidentService(container.uow).find(org.id)
    (row,) = _snapshot(console)["incidents"]
    assert row["status"] == "open" and row["auto"] and row["count"] == 8 and row["eta"] == ""
    page = console.get(f"/board/incidents/{incident['id']}").get_data(as_text=True)
    assert "открыт автоматически" in page and "По вашему дому известно об отключении воды" in page
    assert page.count("/requests/") >= 8

    r = _post(console, f"/board/incidents/{incident['id']}/open", eta="2030-06-01T18:00",
              public_note="Прорыв трубы в подвале", back="incident")
    assert r.status_code == 302 and r.headers["Location"].endswith(f"/board/incidents/{incident['id']}")
    page = console.get(f"/board/incidents/{incident['id']}").get_data(as_text=True)
    assert "Сообщение для звонящих сохранено" in page and "Прорыв трубы в подвале" in page
    (row,) = _snapshot(console)["incidents"]
    assert row["eta"] == "01.06.2030 18:00" and "Ориентировочное время — 01.06.2030 18:00." in row["announce"]
    saved = IncidentService(container.uow).get(org.id, incident["id"])
    assert saved["eta"].isoformat() == "2030-06-01T15:00:00+00:00"  # Moscow time entered, UTC stored


def test_a_proposed_incident_can_be_dismissed_and_another_organisation_cannot_touch_it(
        console, container, org, other_org, building):
    _water(container, org, building, 3, work_type="heating")
    (incident,) = IncidentService(container.uow).find(org.id)
    other = container.registry.upsert_building(other_org.id, SYSTEM, {
        "building_id": "X-1", "city": "Тверь", "street": "ул. Мира", "house": "1", "entrances": 4, "floors": 9,
        "apartments": 144})
    _water(container, other_org, other, 3)
    (foreign,) = IncidentService(container.uow).find(other_org.id)
    assert [x["id"] for x in _snapshot(console)["incidents"]] == [incident["id"]]  # only his organisation's
    assert console.get(f"/board/incidents/{foreign['id']}").status_code == 404
    assert _post(console, f"/board/incidents/{foreign['id']}/dismiss").status_code == 404
    assert IncidentService(container.uow).get(other_org.id, foreign["id"])["status"] == "proposed"

    r = _post(console, f"/board/incidents/{incident['id']}/dismiss")
    assert r.status_code == 302 and IncidentService(container.uow).get(org.id, incident["id"])["status"] == "dismissed"
    assert _snapshot(console)["incidents"] == []


def test_callback_tasks_and_staff_voice_messages_wait_on_the_board_until_marked_done(console, container, org,
                                                                                     make_request, tmp_path):
    r = make_request(description="Голосовое сообщение техника")
    now = container.clock()
    calls = container.calls
    voice = calls.open_call(org_id=org.id, sip_call_id="s-1", call_uuid="u-1", from_number="+79035550001",
                            to_number="dispatch", arrived_at=now - timedelta(minutes=3))
    calls.answered(voice, now)
    rec = calls.attach_recording(call_id=voice, kind="voicemail", path=write_wav(tmp_path / "v.wav"), request_id=r.id)
    with container.engine.begin() as conn:  # what the worker records for a staff call (contracts.md §5)
        conn.execute(sa.update(calls_table).where(calls_table.c.id == voice).values(request_id=r.id))
    calls.callback_task(voice, reason="voicemail")
    missed = calls.missed(org_id=org.id, sip_call_id="s-2", from_number="+79035550002", to_number="+74950000000",
                          at=now - timedelta(minutes=20), status="over_capacity")
    done_before = calls.open_call(org_id=org.id, sip_call_id="s-3", call_uuid="u-3", from_number="+79035550003",
                                  to_number="+74950000000", arrived_at=now)
    calls.callback_task(done_before, reason="missed")
    calls.callback_done(org.id, done_before, SYSTEM)

    snap = _snapshot(console)["callbacks"]
    assert [x["id"] for x in snap] == [missed, voice]  # the most urgent (earliest due) first; done ones gone
    late, vm = snap
    assert late["late"] and late["reason"] == "линии были заняты" and late["request"] is None
    assert vm["reason"] == "голосовое сообщение" and vm["request"] == r.number and vm["voicemail"] == rec
    page = console.get("/board").get_data(as_text=True)
    assert f"/recordings/{rec}/audio" in page and f"/requests/new?call={missed}" in page
    assert f"/board/callbacks/{voice}/done" in page

    assert _post(console, f"/board/callbacks/{voice}/done").status_code == 302
    assert [x["id"] for x in _snapshot(console)["callbacks"]] == [missed]
    with container.engine.connect() as conn:
        row = conn.execute(sa.select(calls_table).where(calls_table.c.id == voice)).mappings().one()
        audit = conn.execute(sa.select(t.audit_log).where(t.audit_log.c.entity == "call",
                                                          t.audit_log.c.entity_id == voice)).all()
    assert row["callback_done_at"] is not None and [a.action for a in audit] == ["callback_done"]
    assert _post(console, "/board/callbacks/999999/done").status_code == 404


def test_a_manager_may_act_on_incidents_too(client, container, org, building):
    staff = container.registry.upsert_staff(org.id, SYSTEM, {"full_name": "Орлов А. В.", "role": "manager",
                                                              "phone": "+7 903 111-22-44"})
    ConsoleAuth(container.uow, container.clock).set_password("demo", staff.id, PASSWORD, login="orlov")
    assert sign_in(client, login="orlov").status_code == 302
    client.csrf = csrf_of(client, "/journal")
    _water(container, org, building, 3)
    (incident,) = IncidentService(container.uow).find(org.id)
    assert _post(client, f"/board/incidents/{incident['id']}/open").status_code == 302
    assert IncidentService(container.uow).get(org.id, incident["id"])["status"] == "open"


# -- in a real browser ----------------------------------------------------------------------------------------------
@pytest.mark.e2e
def test_in_the_browser_an_incident_appears_without_reload_and_is_confirmed_and_closed(server, dispatcher, container,
                                                                                       org, building):
    """Then a callback task arrives the same way and is marked done."""
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", headless=True,
                                    args=["--no-sandbox", "--disable-gpu", "--no-first-run"])
        try:
            page = browser.new_page()
            page.goto(f"{server}/login")
            page.fill("input[name=login]", "petrova")
            page.fill("input[name=password]", PASSWORD)
            page.click("button[type=submit]")
            page.wait_for_url(f"{server}/board")
            assert "Известных инцидентов нет." in page.inner_text("#incidents")
            wait_js(page, "document.getElementById('board-state').textContent.indexOf('обновлено') === 0", timeout=15.0)
            _water(container, org, building, 3)  # meanwhile three residents report no water
            wait_js(page, "document.querySelectorAll('#incidents tr.incident.proposed').length === 1", timeout=15.0)
            row = page.inner_text("#incidents tbody")
            assert "ул. Ленина, д. 10, корп. 2" in row and "Водоснабжение" in row and "предложен" in row
            page.screenshot(path=str(ARTIFACTS / "board-incident-proposed.png"), full_page=True)

            page.click("#incidents tr.incident button:has-text('Подтвердить')")
            page.wait_for_url(f"{server}/board")
            assert "Инцидент подтверждён" in page.inner_text("main")
            wait_js(page, "document.querySelectorAll('#incidents tr.incident.open').length === 1", timeout=15.0)
            assert "По вашему дому известно об отключении воды" in page.inner_text("#incidents tbody")
            page.screenshot(path=str(ARTIFACTS / "board-incident-open.png"), full_page=True)

            page.click("#incidents tr.incident button:has-text('Закрыть')")
            page.wait_for_url(f"{server}/board")
            assert "Инцидент закрыт" in page.inner_text("main")
            assert "Известных инцидентов нет." in page.inner_text("#incidents")

            missed = container.calls.missed(org_id=org.id, sip_call_id="b-1", from_number="+79035550009",
                                            to_number="+74950000000", at=container.clock())
            wait_js(page, "document.querySelectorAll('#callbacks tbody form').length === 1", timeout=15.0)
            assert "+79035550009" in page.inner_text("#callbacks") and "линии были заняты" in page.inner_text(
                "#callbacks")
            page.click("#callbacks button:has-text('Выполнено')")
            page.wait_for_url(f"{server}/board")
            assert "Обратный звонок отмечен выполненным" in page.inner_text("main")
            assert "Обратных звонков не ждут." in page.inner_text("#callbacks")
        finally:
            browser.close()
    with container.engine.connect() as conn:
        assert conn.scalar(sa.select(calls_table.c.callback_done_at).where(calls_table.c.id == missed)) is not None
    (incident,) = IncidentService(container.uow).find(org.id)
    assert incident["status"] == "closed" and incident["closed_at"] is not None


def test_an_incident_address_is_escaped_on_the_board_and_its_page(console, container, org):
    evil = container.registry.upsert_building(org.id, SYSTEM, {
        "building_id": "E-1", "city": "Москва", "street": "<script>alert(1)</script>", "house": "1",
        "entrances": 4, "floors": 9, "apartments": 144})
    _water(container, org, evil, 3)
    (incident,) = IncidentService(container.uow).find(org.id)
    for path in ("/board", f"/board/incidents/{incident['id']}"):
        page = console.get(path).get_data(as_text=True)
        assert "<script>alert(1)" not in page and "&lt;script&gt;alert(1)" in page
    assert _snapshot(console)["incidents"][0]["place"].startswith("<script>")  # JSON, inserted as text by board.js
