"""Every listen of a recording is logged, once per user and recording in ten minutes, from whatever byte the player
starts; a page view (preload none), a fetch of the header alone and a HEAD are not listens."""
from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa
from console_support import PASSWORD, sign_in, sign_in_page

from journal_api.storage import tables as t


def _listens(container) -> list[tuple]:
    a = t.audit_log.c
    with container.engine.connect() as conn:
        return conn.execute(sa.select(a.actor_name, a.entity_id).where(
            a.entity == "recording", a.action == "listen").order_by(a.id)).all()


@pytest.mark.parametrize("first_range", ["bytes=1-", "bytes=44-", "bytes=1000-1999", "bytes=-500"])
def test_a_listen_that_does_not_start_at_byte_zero_is_logged(console, container, recorded_request, first_range):
    _, rec_id, _ = recorded_request
    response = console.get(f"/recordings/{rec_id}/audio", headers={"Range": first_range})
    assert response.status_code == 206
    assert _listens(container) == [("Петрова Анна Сергеевна", rec_id)]


def test_the_players_seeks_and_refetches_within_ten_minutes_are_one_listen(console, container, recorded_request):
    _, rec_id, _ = recorded_request
    for header in ("bytes=0-", "bytes=20000-", "bytes=100-199", None, "bytes=5000-"):
        console.get(f"/recordings/{rec_id}/audio", headers={"Range": header} if header else {})
    assert _listens(container) == [("Петрова Анна Сергеевна", rec_id)]


def test_a_listen_after_the_window_and_another_users_listen_are_new_ones(console, manager, app, container,
                                                                          recorded_request):
    _, rec_id, _ = recorded_request
    console.get(f"/recordings/{rec_id}/audio")
    other = app.test_client()
    assert sign_in(other, login="orlov", password=PASSWORD).status_code == 302
    other.get(f"/recordings/{rec_id}/audio", headers={"Range": "bytes=0-"})
    with container.engine.begin() as conn:  # the first listen was eleven minutes ago
        conn.execute(sa.update(t.audit_log).where(t.audit_log.c.actor_name == "Петрова Анна Сергеевна")
                     .values(at=container.clock() - timedelta(minutes=11)))
    console.get(f"/recordings/{rec_id}/audio", headers={"Range": "bytes=1-"})
    assert sorted(_listens(container)) == sorted([("Петрова Анна Сергеевна", rec_id)] * 2 +
                                                 [("Орлов Алексей Викторович", rec_id)])


def test_a_page_view_the_header_alone_and_a_head_are_not_listens(console, container, recorded_request):
    r, rec_id, _ = recorded_request
    page = console.get(f"/requests/{r.number}").get_data(as_text=True)
    assert f'preload="none" src="/recordings/{rec_id}/audio"' in page
    header = console.get(f"/recordings/{rec_id}/audio", headers={"Range": "bytes=0-43"})
    assert header.status_code == 206 and header.data[:4] == b"RIFF" and len(header.data) == 44
    assert console.head(f"/recordings/{rec_id}/audio").status_code == 200
    assert _listens(container) == []


def test_in_chromium_opening_the_request_logs_nothing_and_pressing_play_logs_one_listen(server, container, dispatcher,
                                                                                        recorded_request):
    from playwright.sync_api import sync_playwright
    from console_support import wait_js

    r, rec_id, _ = recorded_request
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", headless=True, args=[
            "--no-sandbox", "--disable-gpu", "--autoplay-policy=no-user-gesture-required"])
        page = browser.new_page()
        sign_in_page(page, server, "petrova", start="/login")
        page.goto(f"{server}/requests/{r.number}")
        page.wait_for_timeout(1500)
        assert _listens(container) == []
        page.evaluate("document.querySelector('audio.player').play()")
        wait_js(page, "document.querySelector('audio.player').currentTime > 1.0")
        page.evaluate("document.querySelector('audio.player').currentTime = 0.2")
        page.wait_for_timeout(500)
        browser.close()
    assert _listens(container) == [("Петрова Анна Сергеевна", rec_id)]


def test_a_recording_purged_by_its_retention_period_says_so_on_the_page_and_its_audio_is_gone(
        console, container, recorded_request, monkeypatch):
    from journal_api.storage import tables_calls as tc
    from recordings.retention import purge_expired

    r, rec_id, _ = recorded_request
    monkeypatch.setenv("HOTLINE_RECORDINGS_RETENTION_DAYS", "30")
    with container.engine.begin() as conn:
        conn.execute(sa.update(tc.recordings).where(tc.recordings.c.id == rec_id)
                     .values(created_at=container.clock() - timedelta(days=31)))
    assert purge_expired(container) == 1
    page = console.get(f"/requests/{r.number}").get_data(as_text=True)
    assert "запись удалена по сроку хранения" in page
    assert f'src="/recordings/{rec_id}/audio"' not in page
    assert console.get(f"/recordings/{rec_id}/audio").status_code == 410
    assert _listens(container) == []
