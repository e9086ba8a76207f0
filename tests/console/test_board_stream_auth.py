"""The live board never freezes in silence: its event stream answers 401 (not the sign-in page) once the session is
gone, so the browser closes the stream and board.js says so and reloads the page into the sign-in form. The sign-in
follows only a path of this site. The callback list's numbers can be tapped (tel:)."""
from __future__ import annotations

import json
import re

import pytest
from console_support import PASSWORD, csrf_of, sign_in_page, wait_js

from journal_api.console import live
from journal_api.service.console_auth import ConsoleAuth


def test_the_board_stream_answers_401_without_a_session_not_the_sign_in_page(client, dispatcher):
    for path in ("/board/stream", "/board/stream?once=1"):
        response = client.get(path)
        assert response.status_code == 401, path
        assert "Location" not in response.headers and response.mimetype == "text/plain"
        assert "Сеанс истёк" in response.get_data(as_text=True)
    assert client.get("/board").status_code == 302  # the page itself still leads to the sign-in form


def test_the_board_stream_answers_401_once_the_session_has_ended(console, container, dispatcher):
    assert console.get("/board/stream?once=1").mimetype == "text/event-stream"
    ConsoleAuth(container.uow, container.clock).set_password("demo", dispatcher.id, "другой-пароль-2", login="petrova")
    assert console.get("/board/stream?once=1").status_code == 401


def test_a_signed_in_board_stream_still_streams_its_snapshot(console):
    response = console.get("/board/stream?once=1")
    body = response.get_data(as_text=True)
    assert response.status_code == 200 and body.startswith("retry: 2000") and "event: board" in body


def _signed_in_to(client, target: str) -> str:
    token = csrf_of(client)
    response = client.post("/login", data={"org": "demo", "login": "petrova", "password": PASSWORD,
                                           "csrf_token": token, "next": target})
    assert response.status_code == 302
    return response.headers["Location"]


@pytest.mark.parametrize("target", [
    "/\\evil.com", "/\\/evil.com", "//evil.com", "https://evil.com", "https:/evil.com", "/%5Cevil.com",
    "/%5C%5Cevil.com", "/\t/evil.com", "/\n/evil.com", "/%09/evil.com", "/%2F/evil.com", "javascript:alert(1)",
    "evil.com", ""])
def test_after_sign_in_a_foreign_or_odd_target_falls_back_to_the_board(client, dispatcher, target):
    assert _signed_in_to(client, target) == "/board"


@pytest.mark.parametrize("target", ["/journal", "/journal?status=new&q=%D1%82%D1%80%D1%83%D0%B1%D0%B0", "/requests/5"])
def test_after_sign_in_a_path_of_this_site_is_followed(client, dispatcher, target):
    assert _signed_in_to(client, target) == target


def test_the_decoded_backslash_from_the_sign_in_link_is_refused_too(client, dispatcher):
    """``/login?next=/%5Cevil.com`` puts ``/\\evil.com`` in the form; the sign-in then goes to the board."""
    page = client.get("/login?next=/%5Cevil.com").get_data(as_text=True)
    assert 'value="/\\evil.com"' in page
    assert _signed_in_to(client, "/\\evil.com") == "/board"


def test_a_callers_number_on_the_callback_list_is_a_tel_link(console, container, org):
    container.calls.missed(org_id=org.id, sip_call_id="cb-1", from_number="+79035550009", to_number="+74950000000",
                           at=container.clock())
    page = console.get("/board").get_data(as_text=True)
    callbacks = page[page.index('id="callbacks"'):page.index('id="calls"')]
    assert '<a href="tel:+79035550009">+79035550009</a>' in callbacks
    body = console.get("/board/stream?once=1").get_data(as_text=True)
    (row,) = json.loads(re.search(r"^data: (.*)$", body, re.M).group(1))["callbacks"]
    assert row["tel"] == "+79035550009" and row["from"] == "+79035550009"  # board.js links x.tel, shows x.from


@pytest.mark.parametrize("number, tel", [("+7 (903) 555-00-09", "+79035550009"), ("84950000000", "84950000000"),
                                         ("anonymous", ""), ("", ""), (None, ""), ("+7903;ext=1", ""), ("12", "")])
def test_only_a_real_number_becomes_a_tel_link(number, tel):
    assert live.dialable(number) == tel


# -- in a real browser ----------------------------------------------------------------------------------------------
@pytest.mark.e2e
def test_in_the_browser_a_board_whose_session_expired_says_so_and_reloads_into_the_sign_in_form(
        server, dispatcher, monkeypatch):
    """The cookie goes (as it does when the shift's session expires): the next stream gets 401, the browser closes
    it, and the board shows why and reloads into the sign-in form instead of freezing on "переподключение…"."""
    from playwright.sync_api import sync_playwright

    monkeypatch.setattr(live, "STREAM_FOR", 0.5)  # the stream ends soon and the browser opens the next one
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", headless=True,
                                    args=["--no-sandbox", "--disable-gpu", "--no-first-run"])
        try:
            context = browser.new_context()
            page = context.new_page()
            sign_in_page(page, server, start="/login")
            wait_js(page, "document.getElementById('board-state').textContent.indexOf('обновлено') === 0",
                    timeout=15.0)
            context.clear_cookies()
            wait_js(page, "document.getElementById('board-state').textContent.indexOf('сеанс истёк') === 0",
                    timeout=20.0)
            assert page.evaluate("document.getElementById('board-state').className") == "badge emergency"
            page.wait_for_url(re.compile(r".*/login\?next=(/|%2F)board$"), timeout=15000)
            assert page.is_visible("input[name=password]")
        finally:
            browser.close()
