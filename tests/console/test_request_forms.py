"""The dispatcher's request forms: the catalogue reasons as a choice (titles shown, codes posted), a free-text reason
kept, the caller's phone corrected, an inactive building kept, a console link shown whole and kept out of the URL,
and the printable journal's period limited for dispatchers."""
from __future__ import annotations

import csv
import io
from datetime import timedelta
from zoneinfo import ZoneInfo

from console_support import SYSTEM

from journal_api.service.deadlines import federal

BURST = "water.pipe_burst"


def _title(code: str) -> str:
    return federal().book.reasons[code].title


def _edit(console, r, **fields):
    """The edit form as the page posts it: every field with the request's value, ``fields`` changed."""
    data = {"csrf_token": console.csrf, "description": r.description, "work_type": r.work_type,
            "urgency": r.urgency, "reason": "", "reason_text": r.reason or "",
            "building": str(r.building.id) if r.building else "", "apartment": str(r.apartment or ""),
            "entrance": "", "floor": "", "caller_name": r.caller_name or "", "caller_phone": r.caller_phone or ""}
    if r.reason in federal().book.reasons:
        data.update(reason=r.reason, reason_text="")
    data.update(fields)
    return console.post(f"/requests/{r.number}/edit", data=data)


def test_the_new_request_form_lists_catalogue_titles_grouped_by_work_type_and_posts_codes(console):
    page = console.get("/requests/new").get_data(as_text=True)
    assert '<select name="reason"' in page and '<optgroup label="' in page
    assert f'<option value="{BURST}" >{_title(BURST)}</option>' in page
    assert "другая причина (текстом)" in page and 'name="reason_text"' in page


def test_a_burst_pipe_chosen_with_the_default_urgency_is_an_emergency_with_the_emergency_deadline(
        console, container, org, building, make_request):
    response = console.post("/requests/new", data={
        "csrf_token": console.csrf, "channel": "phone", "caller_phone": "+79035550001", "building": str(building.id),
        "apartment": "3", "work_type": "", "reason": BURST, "reason_text": "", "urgency": "",
        "description": "Хлещет вода из трубы"})
    assert response.status_code == 302, response.get_data(as_text=True)
    r = container.requests.get(org.id, int(response.headers["Location"].rsplit("/", 1)[1]), SYSTEM)
    by_service = make_request(reason=BURST)  # the API's way: the reason's code, no urgency
    assert (r.reason, r.work_type, r.urgency) == (BURST, "water", "emergency")
    assert r.repair_due_at is not None
    assert r.repair_due_at - r.registered_at == by_service.repair_due_at - by_service.registered_at
    assert (r.localisation_due_at - r.registered_at) == \
        (by_service.localisation_due_at - by_service.registered_at)


def test_a_reason_of_another_work_type_is_refused_in_russian_with_the_input_kept(console, building):
    response = console.post("/requests/new", data={
        "csrf_token": console.csrf, "channel": "phone", "caller_phone": "+79035550001", "building": str(building.id),
        "work_type": "heating", "reason": BURST, "description": "Течёт из трубы в подвале"})
    page = response.get_data(as_text=True)
    assert response.status_code == 422
    assert f"Причина «{_title(BURST)}» относится к виду работ" in page
    assert "Течёт из трубы в подвале" in page and f'<option value="{BURST}" selected>' in page


def test_a_free_text_reason_is_kept_when_another_field_is_corrected(console, container, org, make_request):
    r = make_request(reason="соседи сверху залили")
    form = console.get(f"/requests/{r.number}").get_data(as_text=True)
    assert 'name="reason_text" value="соседи сверху залили"' in form
    assert _edit(console, r, description="Залили соседи сверху, течёт по стене").status_code == 302
    after = container.requests.get(org.id, r.number, SYSTEM)
    assert after.reason == "соседи сверху залили" and after.description.startswith("Залили")


def test_choosing_a_catalogue_reason_in_a_correction_brings_its_urgency(console, container, org, make_request):
    r = make_request(reason="течёт", urgency="normal")
    assert _edit(console, r, reason=BURST).status_code == 302
    after = container.requests.get(org.id, r.number, SYSTEM)
    assert (after.reason, after.urgency) == (BURST, "emergency") and after.localisation_due_at is not None


def test_a_catalogue_reason_of_another_work_type_brings_its_work_type_unless_one_was_chosen(
        console, container, org, make_request):
    r = make_request(work_type="heating", description="Течёт батарея")
    assert _edit(console, r, reason=BURST).status_code == 302
    assert container.requests.get(org.id, r.number, SYSTEM).work_type == "water"
    other = make_request(work_type="water", reason=BURST)
    refused = _edit(console, other, work_type="heating")
    assert refused.status_code == 422 and f"Причина «{_title(BURST)}» относится к виду работ" in \
        refused.get_data(as_text=True)
    assert container.requests.get(org.id, other.number, SYSTEM).work_type == "water"


def test_the_journal_filter_offers_the_catalogue_reasons_by_title(console, make_request):
    burst, leak = make_request(reason=BURST), make_request(reason="капает с потолка")
    page = console.get(f"/journal?reason={BURST}").get_data(as_text=True)
    assert f'<option value="{BURST}" selected>{_title(BURST)}</option>' in page
    assert f'href="/requests/{burst.number}"' in page and f'href="/requests/{leak.number}"' not in page


def test_the_request_page_and_the_csv_export_show_the_reasons_title_not_its_code(console, manager_console,
                                                                                  make_request):
    r = make_request(reason=BURST)
    page = console.get(f"/requests/{r.number}").get_data(as_text=True)
    assert f'<span id="reason">{_title(BURST)}</span>' in page and f">{BURST}<" not in page
    journal = console.get("/journal").get_data(as_text=True)
    assert _title(BURST) in journal
    text = manager_console.get("/journal/export.csv").get_data(as_text=True).lstrip("\ufeff")
    rows = list(csv.reader(io.StringIO(text), delimiter=";"))
    assert rows[1][rows[0].index("Причина")] == _title(BURST)


def test_the_callers_phone_is_corrected_and_an_invalid_one_is_refused_with_the_input_kept(
        console, container, org, make_request):
    r = make_request()
    assert _edit(console, r, caller_phone="8 916 123-45-67").status_code == 302
    assert container.requests.get(org.id, r.number, SYSTEM).caller_phone == "+79161234567"
    r = container.requests.get(org.id, r.number, SYSTEM)
    refused = _edit(console, r, caller_phone="12ab", description="Течёт труба, звонить соседке")
    page = refused.get_data(as_text=True)
    assert refused.status_code == 422 and "Номер телефона указан неверно" in page
    assert 'name="caller_phone" value="12ab"' in page and "Течёт труба, звонить соседке" in page
    after = container.requests.get(org.id, r.number, SYSTEM)
    assert after.caller_phone == "+79161234567" and after.description == r.description


def test_a_request_in_a_building_no_longer_served_keeps_it_when_another_field_is_corrected(
        console, container, org, building, make_request):
    r = make_request(apartment=12)
    container.registry.update_building(org.id, SYSTEM, building.id, {"active": False})
    page = console.get(f"/requests/{r.number}").get_data(as_text=True)
    assert f'<option value="{building.id}" selected>' in page and "(дом не обслуживается)" in page
    assert _edit(console, r, description="Течёт труба под ванной").status_code == 302
    after = container.requests.get(org.id, r.number, SYSTEM)
    assert after.building.id == building.id and after.apartment == 12 and after.description.endswith("ванной")


def test_a_link_made_from_the_console_is_a_full_url_and_never_in_the_query_string(console, container,
                                                                                   make_request):
    r = make_request()
    response = console.post(f"/requests/{r.number}/links", data={"csrf_token": console.csrf,
                                                                 "audience": "resident"})
    assert response.status_code == 302 and "?" not in response.headers["Location"] \
        and "/r/" not in response.headers["Location"]
    page = console.get(response.headers["Location"]).get_data(as_text=True)
    base = container.settings.effective_public_url
    shown = page.split('<code id="new-link">', 1)[1].split("</code>", 1)[0]
    assert shown.startswith(base + "/r/") and len(shown) > len(base) + 3
    assert 'id="new-link"' not in console.get(f"/requests/{r.number}").get_data(as_text=True)  # shown once


def _days(container, org, n: int) -> str:
    today = container.clock().astimezone(ZoneInfo(org.timezone)).date()
    return f"from={today - timedelta(days=n - 1)}&to={today}"


def test_a_dispatcher_prints_at_most_31_days_and_is_told_so(console, container, org, make_request):
    make_request(description="Нет света в квартире")
    refused = console.get(f"/journal/print?{_days(container, org, 60)}")
    assert refused.status_code == 302 and refused.headers["Location"].startswith("/journal?")
    page = console.get(refused.headers["Location"]).get_data(as_text=True)
    assert "не более чем за 31 дн." in page and "запрошено: 60" in page
    assert "Нет света в квартире" in console.get(f"/journal/print?{_days(container, org, 31)}") \
        .get_data(as_text=True)


def test_a_manager_prints_a_60_day_period(manager_console, container, org, make_request):
    make_request(description="Нет света в квартире")
    response = manager_console.get(f"/journal/print?{_days(container, org, 60)}")
    assert response.status_code == 200 and "Нет света в квартире" in response.get_data(as_text=True)
