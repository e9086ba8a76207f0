"""The new-request form in a real browser (Debian's chromium through Playwright): the reason is chosen from the
catalogue by its title, the text field for a reason in words steps aside (static/reason.js, no inline script), and
the request is registered as an emergency with the reason's title on its page."""
from __future__ import annotations

import pytest
from console_support import SYSTEM, sign_in_page

from journal_api.service.deadlines import federal

pytestmark = pytest.mark.e2e


def test_a_dispatcher_registers_a_burst_pipe_by_choosing_its_title(browser, server, container, org, building,
                                                                   dispatcher):
    title = federal().book.reasons["water.pipe_burst"].title
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="ru-RU")
    page = context.new_page()
    errors = []
    page.on("pageerror", lambda e: errors.append(str(e)))  # a script that failed (or was blocked) to run
    page.on("console", lambda m: errors.append(m.text) if "Content Security Policy" in m.text else None)
    sign_in_page(page, server, "petrova")
    page.goto(server + "/requests/new")
    assert page.is_visible("input[name=reason_text]")
    page.select_option("select[name=reason]", label=title)
    assert not page.is_visible("input[name=reason_text]")
    page.select_option("select[name=building]", str(building.id))
    page.fill("textarea[name=description]", "Хлещет вода из трубы в ванной")
    page.click("#new-request button[type=submit]")
    page.wait_for_selector(".flash.ok")
    assert title in page.inner_text("#reason") and "аварийная" in page.inner_text("h1")
    number = int(page.url.rsplit("/", 1)[1])
    r = container.requests.get(org.id, number, SYSTEM)
    assert (r.reason, r.work_type, r.urgency) == ("water.pipe_burst", "water", "emergency")
    assert page.is_visible("#edit-form select[name=reason]")
    assert not page.is_visible("#edit-form input[name=reason_text]")
    assert errors == []
    context.close()
