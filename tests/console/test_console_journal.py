"""The journal: filters, search, paging, exports of the current filter and the printable paper journal."""
from __future__ import annotations

import csv
import io
from datetime import timedelta

from openpyxl import load_workbook


def _numbers(page: str) -> list[int]:
    import re

    return [int(n) for n in re.findall(r'href="/requests/(\d+)"', page)]


def test_the_journal_filters_by_work_type_and_searches_text(console, make_request):
    leak = make_request(description="Течёт стояк")
    lift = make_request(description="Застрял лифт, подъезд 2", work_type="elevator")
    assert set(_numbers(console.get("/journal").get_data(as_text=True))) == {leak.number, lift.number}
    assert _numbers(console.get("/journal?work_type=elevator").get_data(as_text=True)) == [lift.number]
    assert _numbers(console.get("/journal?q=стояк").get_data(as_text=True)) == [leak.number]
    assert _numbers(console.get("/journal?assignee=none&status=new&sort=registered_at")
                    .get_data(as_text=True)) == [leak.number, lift.number]


def test_the_journal_filters_by_reason_and_by_the_responsible_person(console, container, org, building,
                                                                     technician, make_request):
    from console_support import SYSTEM

    container.registry.add_responsibility(org.id, SYSTEM, building.id, "heating", technician.id)
    heating = make_request(work_type="heating", description="Холодные батареи", reason="Нет отопления")
    make_request(description="Другое")
    assert _numbers(console.get(f"/journal?responsible={technician.id}").get_data(as_text=True)) == [heating.number]
    assert _numbers(console.get("/journal?reason=Нет отопления").get_data(as_text=True)) == [heating.number]


def test_the_journal_pages_with_a_cursor(console, make_request):
    made = [make_request(description=f"Заявка {i}").number for i in range(55)]
    first = console.get("/journal").get_data(as_text=True)
    assert _numbers(first) == sorted(made, reverse=True)[:50]
    import html
    import re

    nxt = html.unescape(re.search(r'id="next-page" href="([^"]+)"', first).group(1))
    assert _numbers(console.get(nxt).get_data(as_text=True)) == sorted(made, reverse=True)[50:]


def test_bad_filter_values_are_ignored_not_a_server_error(console, make_request):
    make_request()
    response = console.get("/journal?building=abc&from=вчера&sort=drop&status=nonsense&city=-5")
    assert response.status_code == 200 and len(_numbers(response.get_data(as_text=True))) == 1


def test_the_csv_export_has_the_current_filter_and_neutralises_formulas(manager_console, make_request):
    console = manager_console
    make_request(description="=HYPERLINK(\"http://evil\")", caller_name="Иванов")
    make_request(description="Лифт", work_type="elevator")
    response = console.get("/journal/export.csv?work_type=water")
    assert response.status_code == 200 and response.mimetype == "text/csv"
    rows = list(csv.reader(io.StringIO(response.get_data(as_text=True).lstrip("\ufeff")), delimiter=";"))
    assert rows[0][:2] == ["Номер", "Дата и время"] and len(rows) == 2
    assert rows[1][10] == "'=HYPERLINK(\"http://evil\")" and rows[1][5] == "Иванов"
    assert rows[1][6] == "+79035551001"


def test_the_xlsx_export_opens_with_the_rows_and_no_formula(manager_console, make_request):
    console = manager_console
    first = make_request(description="=1+1")
    make_request(description="Второй")
    response = console.get("/journal/export.xlsx?sort=registered_at")
    assert response.status_code == 200
    sheet = load_workbook(io.BytesIO(response.data)).active
    rows = list(sheet.iter_rows(values_only=True))
    assert rows[0][0] == "Номер" and [r[0] for r in rows[1:]] == [first.number, first.number + 1]
    assert rows[1][10] == "=1+1"  # kept as text
    assert sheet.cell(row=2, column=11).data_type == "s"


def test_the_printable_journal_lists_the_period_in_the_paper_layout(console, container, org, make_request):
    r = make_request(description="Нет света в квартире", caller_name="Сидоров П.П.")
    today = container.clock().astimezone(__import__("zoneinfo").ZoneInfo(org.timezone)).date()
    page = console.get(f"/journal/print?from={today}&to={today}").get_data(as_text=True)
    for column in ("Дата и время поступления", "№ заявки", "Адрес", "Кв.", "Заявитель", "Содержание заявки",
                   "Исполнитель", "Отметка о выполнении"):
        assert column in page
    assert "Нет света в квартире" in page and "Сидоров П.П." in page and f"<td>{r.number}</td>" in page
    yesterday = today - timedelta(days=1)
    earlier = console.get(f"/journal/print?from={yesterday}&to={yesterday}").get_data(as_text=True)
    assert "Нет света в квартире" not in earlier and "За период заявок нет." in earlier


def test_an_export_cut_at_its_limit_says_so_in_its_last_row(manager_console, make_request, monkeypatch):
    from journal_api.console import journal

    monkeypatch.setattr(journal, "EXPORT_MAX", 2)
    for text in ("Первая", "Вторая", "Третья"):
        make_request(description=text)
    rows = list(csv.reader(io.StringIO(manager_console.get("/journal/export.csv").get_data(as_text=True)
                                       .lstrip("\ufeff")), delimiter=";"))
    assert len(rows) == 4 and rows[3] == ["Выгрузка остановлена на 2 строках: фильтр нашёл больше. Сузьте период "
                                          "или фильтр и выгрузите остаток отдельно."]
    sheet = load_workbook(io.BytesIO(manager_console.get("/journal/export.xlsx").data)).active
    xrows = list(sheet.iter_rows(values_only=True))
    assert len(xrows) == 4 and xrows[3][0].startswith("Выгрузка остановлена на 2 строках")


def test_an_export_within_its_limit_has_no_note(manager_console, make_request, monkeypatch):
    from journal_api.console import journal

    monkeypatch.setattr(journal, "EXPORT_MAX", 2)
    make_request(description="Первая")
    make_request(description="Вторая")
    rows = list(csv.reader(io.StringIO(manager_console.get("/journal/export.csv").get_data(as_text=True)
                                       .lstrip("\ufeff")), delimiter=";"))
    assert len(rows) == 3 and {rows[1][10], rows[2][10]} == {"Первая", "Вторая"}
    assert "Выгрузка" not in manager_console.get("/journal/export.csv").get_data(as_text=True)
    assert "не более 2 строк" in manager_console.get("/journal").get_data(as_text=True)
