"""The console in a real browser (Debian's chromium through Playwright) against a live server: sign in, filter the
journal, play a recording and watch the word highlight move, correct a field; the technician's page on
a phone: a status and a photo. Screenshots go to tests/console/artifacts/."""
from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from console_support import PASSWORD, SYSTEM, wait_js, write_wav
from PIL import Image

pytestmark = pytest.mark.e2e

ARTIFACTS = Path(__file__).parent / "artifacts"
WORDS = [{"w": w, "start": round(0.5 * i, 2), "end": round(0.5 * i + 0.4, 2), "conf": 0.9}
         for i, w in enumerate("у нас в ванной течёт труба под раковиной вода на полу".split())]


def _shot(page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def _sign_in(page, base: str) -> None:
    page.goto(base + "/")
    page.fill("input[name=login]", "petrova")
    page.fill("input[name=password]", PASSWORD)
    _shot(page, "01-sign-in")
    page.click("button[type=submit]")
    page.wait_for_url(base + "/board")


def test_a_dispatcher_works_through_the_console(browser, server, container, org, dispatcher, make_request,
                                                tmp_path):
    leak = make_request(description="Течёт труба под раковиной")
    make_request(description="Застрял лифт", work_type="elevator")
    call_id = container.calls.open_call(org_id=org.id, sip_call_id="b1", call_uuid="browser-1",
                                        from_number="+79035551001", to_number=None, arrived_at=container.clock())
    rec_id = container.calls.attach_recording(call_id=call_id, kind="description",
                                              path=write_wav(tmp_path / "r.wav", seconds=6.0), request_id=leak.id)
    tid = container.transcripts.open(org_id=org.id, kind="description", call_id=call_id, recording_id=rec_id,
                                     request_id=leak.id)
    container.transcripts.complete(tid, {"engine": "test", "text": " ".join(w["w"] for w in WORDS), "words": WORDS},
                                   {"work_type": {"value": "water", "confidence": 0.91}, "filled": []})
    context = browser.new_context(viewport={"width": 1366, "height": 900}, accept_downloads=True, locale="ru-RU")
    page = context.new_page()
    _sign_in(page, server)
    _shot(page, "02-board")

    # The journal, filtered by work type.
    page.click("text=Журнал")
    page.select_option("select[name=work_type]", "elevator")
    page.click("#journal-filter button[type=submit]")
    page.wait_for_url("**work_type=elevator**")
    assert page.locator("#journal tbody tr").count() == 1
    assert "Застрял лифт" in page.inner_text("#journal")
    _shot(page, "03-journal-filtered")

    assert page.locator("#export-xlsx").count() == 0  # the bulk export is the manager's (test_console_browser_pages)

    # The request: play the recording and watch the highlight move; a click on a word seeks.
    page.goto(f"{server}/requests/{leak.number}")
    page.evaluate("document.querySelector('audio.player').play()")
    current = "(() => { const w = document.querySelector('.transcript .w.current'); return w && w.dataset.start; })()"
    first = float(wait_js(page, current))
    later = float(wait_js(page, f"(() => {{ const s = {current}; return s && parseFloat(s) > {first} && s; }})()"))
    assert later > first
    _shot(page, "04-request-playing")
    page.click(".transcript .w >> nth=9")
    wait_js(page, "document.querySelector('audio.player').currentTime >= 4.5", timeout=5)
    assert float(page.eval_on_selector(".transcript .w.current", "el => el.dataset.start")) >= 4.5

    # Correct a field.
    page.fill("#edit-form textarea[name=description]", "Течёт труба под раковиной, вода на полу")
    page.click("#edit-form button[type=submit]")
    page.wait_for_selector(".flash.ok")
    assert "Течёт труба под раковиной, вода на полу" in page.inner_text("#description")
    assert container.requests.get(org.id, leak.number, SYSTEM).description.endswith("вода на полу")
    _shot(page, "05-request-corrected")

    page.goto(server + "/monitor")
    _shot(page, "06-monitor")
    context.close()


def test_a_technician_accepts_and_uploads_a_photo_from_his_phone(browser, server, container, org, technician,
                                                                 make_request, tmp_path):
    r = make_request(description="Нет воды на кухне")
    container.requests.assign(org.id, r.number, SYSTEM, "system", technician.id)
    path = container.links.issue(org.id, r.id, audience="technician", subject_id=technician.id,
                                 ttl=timedelta(days=1))
    photo = tmp_path / "photo.jpg"
    Image.new("RGB", (64, 48), (20, 120, 200)).save(photo, "JPEG")
    context = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True,
                                  locale="ru-RU")
    page = context.new_page()
    page.goto(server + path)
    _shot(page, "08-technician")
    page.click("form.status-accepted button")
    page.wait_for_selector(".flash.ok")
    assert page.inner_text("#status") == "Принята в работу"
    page.set_input_files("#photo-form input[type=file]", str(photo))
    page.click("#photo-form button")
    page.wait_for_selector(".photos img")
    assert page.evaluate("document.querySelector('.photos img').naturalWidth") == 64
    _shot(page, "09-technician-photo")
    assert container.requests.get(org.id, r.number, SYSTEM).status == "accepted"
    assert [a.kind for a in container.requests.attachments(org.id, r.number, SYSTEM)] == ["photo"]
    context.close()
