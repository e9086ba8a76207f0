"""The manager's pages and the printed ones in a real browser (Debian's chromium through Playwright): the XLSX export
of the current filter, the analytics' charts, the printable paper journal, the resident's page. Each page is kept as
a screenshot in tests/console/artifacts/ (git-ignored; listed in docs/console.md)."""
from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from console_support import SYSTEM, sign_in_page
from openpyxl import load_workbook

pytestmark = pytest.mark.e2e

ARTIFACTS = Path(__file__).parent / "artifacts"


def _shot(page, name: str) -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def test_a_manager_exports_the_filtered_journal_and_reads_the_analytics(browser, server, manager, make_request,
                                                                        tmp_path):
    make_request(description="Течёт труба под раковиной")
    make_request(description="Застрял лифт", work_type="elevator")
    context = browser.new_context(viewport={"width": 1366, "height": 900}, accept_downloads=True, locale="ru-RU")
    page = context.new_page()
    sign_in_page(page, server, "orlov")
    _shot(page, "10-board-manager")

    page.goto(server + "/journal?work_type=elevator")
    with page.expect_download() as download:
        page.click("#export-xlsx")
    assert download.value.suggested_filename == "journal.xlsx"
    download.value.save_as(tmp_path / "journal.xlsx")
    rows = list(load_workbook(tmp_path / "journal.xlsx").active.iter_rows(values_only=True))
    assert len(rows) == 2 and rows[1][10] == "Застрял лифт"

    page.goto(server + "/analytics")
    assert page.inner_text("#a-total") == "2"
    assert page.evaluate("Object.keys(Chart.instances).length") == 4
    assert _shot(page, "07-analytics").stat().st_size > 10_000
    context.close()


def test_the_printable_journal_and_the_residents_page_render_for_screenshots(browser, server, container, org,
                                                                             dispatcher, technician, make_request):
    r = make_request(description="Нет света в подъезде", caller_name="Сидоров П. П.")
    container.requests.assign(org.id, r.number, SYSTEM, "system", technician.id)
    context = browser.new_context(viewport={"width": 1200, "height": 900}, locale="ru-RU")
    page = context.new_page()
    sign_in_page(page, server, "petrova")
    page.goto(server + "/journal/print")
    assert "Нет света в подъезде" in page.inner_text("body") and "Сидоров П. П." in page.inner_text("body")
    page.emulate_media(media="print")
    assert _shot(page, "11-journal-print").stat().st_size > 5_000
    context.close()

    resident = container.links.issue(org.id, r.id, audience="resident", ttl=timedelta(days=1))
    phone = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True, locale="ru-RU")
    page = phone.new_page()
    page.goto(server + resident)
    assert str(r.number) in page.inner_text("body")
    assert _shot(page, "12-resident").stat().st_size > 5_000
    phone.close()
