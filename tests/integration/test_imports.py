"""Import of buildings and staff from CSV and XLSX on real PostgreSQL: an error per row, nothing half-imported."""
from __future__ import annotations

import io

import openpyxl
import pytest
import sqlalchemy as sa

from journal_api.domain.events import Actor
from journal_api.service.imports import run_import
from journal_api.service.spreadsheets import UnsupportedFile
from journal_api.storage import tables as t

API = "/api/v1"
ADMIN = Actor(kind="token", role="admin", name="test admin")

RU_BUILDINGS = [
    ["Код дома", "Город", "ЖК", "Улица", "Дом", "Корпус", "Подъездов", "Этажей", "Квартир"],
    ["Л-10", "Москва", "ЖК Солнечный", "ул. Ленина", "10", "2", "4", "9", "144"],
    ["Л-12", "Москва", "", "ул. Ленина", "12", "", "1", "5", "20"],
    ["М-3", "Казань", "", "ул. Мира", "3а", "", "2", "16", "128"],
]
EN_BUILDINGS = [
    ["building_id", "city", "street", "house", "korpus", "entrances", "floors", "apartments"],
    ["B-1", "Екатеринбург", "ул. Малышева, угол Луначарского", "5", "", "3", "12", "108"],
    ["B-2", "Екатеринбург", "пр. Ленина", "7", "1", "2", "9", "72"],
]
RU_STAFF = [
    ["ФИО", "Должность", "Телефон", "SIP", "Табельный номер"],
    ["Иванова Мария Петровна", "Диспетчер", "8 (912) 000-00-01", "ivanova", "T-1"],
    ["Петров Пётр Сергеевич", "слесарь-сантехник", "+7 912 000-00-02", "petrov", "T-2"],
    ["Сидоров Илья", "Электрик 4 разряда", "79120000003", "", "T-3"],
    ["Кузнецов Олег", "Главный инженер", "89120000004", "", ""],
]


def csv_bytes(rows, delimiter=";", encoding="utf-8") -> bytes:
    lines = [delimiter.join(f'"{c}"' if delimiter in c else c for c in row) for row in rows]
    return ("\r\n".join(lines) + "\r\n").encode(encoding)


def xlsx_bytes(rows) -> bytes:
    book = openpyxl.Workbook()
    for row in rows:
        book.active.append([int(c) if c.isdigit() else c for c in row])  # Excel keeps digits as numbers
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def count(container, table, **where) -> int:
    with container.engine.connect() as conn:
        return conn.scalar(sa.select(sa.func.count()).select_from(table)
                           .where(*[table.c[k] == v for k, v in where.items()]))


def footprint(container) -> dict:
    return {table.name: count(container, table) for table in (t.buildings, t.cities, t.complexes, t.staff,
                                                              t.audit_log, t.outbox)}


def buildings_of(container, org_id) -> dict:
    return {b.code: b for b in container.registry.list_buildings(org_id)}


def summary(result) -> tuple:
    return result.created, result.updated, result.unchanged, [e.as_dict() for e in result.errors]


# -- formats ------------------------------------------------------------------------------------------------------
def test_a_semicolon_csv_in_cp1251_with_russian_headers_imports_buildings(container, org):
    result = container.imports.import_buildings(org.id, ADMIN, "дома.csv", csv_bytes(RU_BUILDINGS, ";", "cp1251"))
    assert summary(result) == (3, 0, 0, [])
    found = buildings_of(container, org.id)
    assert sorted(found) == ["Л-10", "Л-12", "М-3"]
    b = found["Л-10"]
    assert (b.city.name, b.complex.name, b.street, b.house, b.korpus) == ("Москва", "ЖК Солнечный", "ул. Ленина",
                                                                          "10", "2")
    assert (b.entrances, b.floors, b.apartments) == (4, 9, 144)
    assert found["М-3"].city.name == "Казань" and found["Л-12"].complex is None


def test_a_comma_csv_in_utf8_with_bom_and_quoted_commas_imports_buildings(container, org):
    data = b"\xef\xbb\xbf" + csv_bytes(EN_BUILDINGS, ",", "utf-8")
    result = container.imports.import_buildings(org.id, ADMIN, "buildings.csv", data)
    assert summary(result) == (2, 0, 0, [])
    assert buildings_of(container, org.id)["B-1"].street == "ул. Малышева, угол Луначарского"


def test_an_xlsx_workbook_with_numeric_cells_imports_buildings_and_staff(container, org):
    result = container.imports.import_buildings(org.id, ADMIN, "дома.xlsx", xlsx_bytes(RU_BUILDINGS))
    assert summary(result) == (3, 0, 0, [])
    assert buildings_of(container, org.id)["Л-10"].house == "10"
    result = container.imports.import_staff(org.id, ADMIN, "штат.xlsx", xlsx_bytes(RU_STAFF))
    assert summary(result) == (4, 0, 0, [])


def test_russian_job_titles_become_roles_and_phones_become_e164(container, org):
    result = container.imports.import_staff(org.id, ADMIN, "штат.csv", csv_bytes(RU_STAFF, ";", "cp1251"))
    assert summary(result) == (4, 0, 0, [])
    staff = {s.full_name: s for s in container.registry.list_staff(org.id)}
    assert {n: (s.role, s.phone) for n, s in staff.items()} == {
        "Иванова Мария Петровна": ("dispatcher", "+79120000001"),
        "Петров Пётр Сергеевич": ("technician", "+79120000002"),
        "Сидоров Илья": ("technician", "+79120000003"),
        "Кузнецов Олег": ("manager", "+79120000004")}
    assert (staff["Петров Пётр Сергеевич"].sip_account, staff["Петров Пётр Сергеевич"].external_id) == ("petrov",
                                                                                                         "T-2")
    assert staff["Кузнецов Олег"].external_id is None


def test_a_tab_separated_utf16_export_from_excel_is_read(container, org):
    data = b"\xff\xfe" + csv_bytes(RU_BUILDINGS, "\t").decode().encode("utf-16-le")
    assert summary(container.imports.import_buildings(org.id, ADMIN, "дома.txt", data)) == (3, 0, 0, [])


def test_an_excel_separator_line_is_obeyed_and_not_counted_as_a_row(container, org):
    rows = RU_BUILDINGS + [["Б-1", "Москва", "", "", "1", "", "2", "5", "40"]]
    result = container.imports.import_buildings(org.id, ADMIN, "дома.csv", b"sep=|\r\n" + csv_bytes(rows, "|"))
    assert [(e.row, e.column) for e in result.errors] == [(5, "Улица")]


# -- errors per row, nothing half-imported -------------------------------------------------------------------------
def test_every_bad_row_is_reported_with_its_row_number_and_nothing_is_written(container, org):
    before = footprint(container)
    rows = RU_BUILDINGS + [
        ["Б-1", "Москва", "", "", "1", "", "2", "5", "40"],          # row 5: no street
        ["Б-2", "Москва", "", "ул. Садовая", "2", "", "два", "5", "40"],  # row 6: entrances is not a number
        [],                                                              # row 7: blank, skipped
        ["Б-3", "Москва", "", "ул. Садовая", "3", "", "2", "500", "40"],  # row 8: too many floors
    ]
    result = container.imports.import_buildings(org.id, ADMIN, "дома.csv", csv_bytes(rows))
    assert [(e.row, e.column) for e in result.errors] == [(5, "Улица"), (6, "Подъездов"), (8, "Этажей")]
    assert "'Улица' is empty" in result.errors[0].message
    assert "whole number" in result.errors[1].message and "'два'" in result.errors[1].message
    assert not result.written and result.created == 0
    assert footprint(container) == before


def test_a_staff_row_can_carry_several_errors_at_once(container, org):
    rows = [RU_STAFF[0], ["Гаврилов Павел", "повар", "12345", "", ""]]
    result = container.imports.import_staff(org.id, ADMIN, "штат.csv", csv_bytes(rows))
    assert [(e.row, e.column) for e in result.errors] == [(2, "Должность"), (2, "Телефон")]
    assert "Unknown role 'повар'" in result.errors[0].message and "диспетчер" in result.errors[0].message.lower()
    assert count(container, t.staff) == 0


def test_duplicate_codes_and_phones_within_the_file_are_errors(container, org):
    buildings = RU_BUILDINGS + [["Л-10", "Москва", "", "ул. Ленина", "10", "3", "1", "5", "20"]]
    result = container.imports.import_buildings(org.id, ADMIN, "дома.csv", csv_bytes(buildings))
    assert [(e.row, e.column) for e in result.errors] == [(5, "Код дома")]
    assert "Duplicate building_id 'Л-10': row 2 has it too" in result.errors[0].message
    staff = RU_STAFF + [["Двойников Иван", "техник", "+7 (912) 000-00-02", "", "T-9"]]
    result = container.imports.import_staff(org.id, ADMIN, "штат.csv", csv_bytes(staff))
    assert [(e.row, e.column) for e in result.errors] == [(6, "Телефон")]
    assert "row 3 has it too" in result.errors[0].message
    assert count(container, t.buildings) == 0 and count(container, t.staff) == 0


def test_missing_columns_are_reported_on_the_header_row(container, org):
    rows = [["Код дома", "Город", "Улица", "Дом", "Этажей", "Примечание"], ["1", "Москва", "ул. Мира", "1", "5", ""]]
    result = container.imports.import_buildings(org.id, ADMIN, "дома.csv", csv_bytes(rows))
    assert [(e.row, e.column) for e in result.errors] == [(1, "entrances"), (1, "apartments")]
    assert "'Подъездов'" in result.errors[0].message


def test_a_conflict_found_while_writing_rolls_back_the_rows_before_it(container, org, technician):
    # The technician fixture holds the SIP account 'ivanov', Smirnov holds 'smirnov'; rows 4 and 6 claim them.
    container.registry.upsert_staff(org.id, ADMIN, {"full_name": "Смирнов Ян", "role": "technician",
                                                    "phone": "+7 912 000-00-99", "sip_account": "smirnov"})
    before = footprint(container)
    rows = RU_STAFF[:3] + [["Новиков Антон", "сантехник", "+7 912 000-00-09", "ivanov", ""],
                           ["Орлов Глеб", "электрик", "+7 912 000-00-10", "orlov", ""],
                           ["Зайцев Лев", "электрик", "+7 912 000-00-11", "smirnov", ""]]
    result = container.imports.import_staff(org.id, ADMIN, "штат.csv", csv_bytes(rows))
    assert [(e.row, e.column) for e in result.errors] == [(4, None), (6, None)]
    assert "SIP account" in result.errors[0].message
    assert footprint(container) == before


# -- idempotence and isolation ---------------------------------------------------------------------------------------
def test_reimporting_the_same_file_updates_and_never_duplicates(container, org):
    data = csv_bytes(RU_BUILDINGS)
    assert summary(container.imports.import_buildings(org.id, ADMIN, "дома.csv", data)) == (3, 0, 0, [])
    assert summary(container.imports.import_buildings(org.id, ADMIN, "дома.csv", data)) == (0, 0, 3, [])
    changed = [row[:] for row in RU_BUILDINGS]
    changed[2][8] = "24"
    changed.append(["Н-1", "Москва", "", "ул. Новая", "1", "", "1", "3", "9"])
    assert summary(container.imports.import_buildings(org.id, ADMIN, "дома.csv", csv_bytes(changed))) == (1, 1, 2,
                                                                                                         [])
    assert count(container, t.buildings) == 4 and count(container, t.cities) == 2
    assert buildings_of(container, org.id)["Л-12"].apartments == 24
    data = csv_bytes(RU_STAFF)
    container.imports.import_staff(org.id, ADMIN, "штат.csv", data)
    assert summary(container.imports.import_staff(org.id, ADMIN, "штат.csv", data)) == (0, 0, 4, [])
    assert count(container, t.staff) == 4


def test_a_column_missing_from_the_file_keeps_what_the_registry_has(container, org):
    container.imports.import_staff(org.id, ADMIN, "штат.csv", csv_bytes(RU_STAFF))
    brief = [[r[0], r[1], r[2]] for r in RU_STAFF]
    brief[2][0] = "Петров Пётр Сергеевич (ст.)"
    assert summary(container.imports.import_staff(org.id, ADMIN, "кратко.csv", csv_bytes(brief))) == (0, 1, 3, [])
    petrov = next(s for s in container.registry.list_staff(org.id) if s.phone == "+79120000002")
    assert (petrov.full_name, petrov.sip_account, petrov.external_id) == ("Петров Пётр Сергеевич (ст.)", "petrov",
                                                                          "T-2")
    container.imports.import_buildings(org.id, ADMIN, "дома.csv", csv_bytes(RU_BUILDINGS))
    no_complex = [r[:2] + r[3:] for r in RU_BUILDINGS]
    assert summary(container.imports.import_buildings(org.id, ADMIN, "дома.csv", csv_bytes(no_complex)))[:3] == (0, 0,
                                                                                                                3)
    assert buildings_of(container, org.id)["Л-10"].complex.name == "ЖК Солнечный"


def test_an_import_into_one_organisation_leaves_another_with_the_same_code_untouched(container, org, other_org):
    theirs = [RU_BUILDINGS[0], ["Л-10", "Пермь", "", "ул. Чужая", "1", "", "1", "2", "8"]]
    container.imports.import_buildings(other_org.id, ADMIN, "дома.csv", csv_bytes(theirs))
    result = container.imports.import_buildings(org.id, ADMIN, "дома.csv", csv_bytes(RU_BUILDINGS))
    assert summary(result) == (3, 0, 0, [])
    other = buildings_of(container, other_org.id)
    assert list(other) == ["Л-10"] and (other["Л-10"].street, other["Л-10"].city.name) == ("ул. Чужая", "Пермь")
    assert buildings_of(container, org.id)["Л-10"].street == "ул. Ленина"
    assert count(container, t.buildings, org_id=other_org.id) == 1


def test_a_dry_run_counts_what_would_change_but_writes_nothing(container, org):
    before = footprint(container)
    result = container.imports.import_buildings(org.id, ADMIN, "дома.csv", csv_bytes(RU_BUILDINGS), dry_run=True)
    assert summary(result) == (3, 0, 0, []) and result.dry_run and not result.written
    assert footprint(container) == before


@pytest.mark.parametrize("name, data, needle", [
    ("photo.png", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00", "neither a text (CSV) file nor an XLSX"),
    ("дома.xls", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 64, "old Excel .xls"),
    ("дома.xlsx", b"PK\x03\x04" + b"\x00" * 64, "not a readable XLSX workbook"),
])
def test_a_file_that_is_no_table_is_refused_with_a_clear_message(container, org, name, data, needle):
    with pytest.raises(UnsupportedFile) as caught:
        container.imports.import_buildings(org.id, ADMIN, name, data)
    assert needle in caught.value.message and caught.value.http_status == 415


def test_the_cli_helper_imports_a_file_by_organisation_code(container, org, tmp_path):
    path = tmp_path / "дома.csv"
    path.write_bytes(csv_bytes(RU_BUILDINGS, ";", "cp1251"))
    result = run_import(container, "demo", "buildings", str(path))
    assert result.summary() == "buildings from дома.csv: 3 rows; 3 were created, 0 updated, 0 unchanged."
    path.write_bytes(csv_bytes(RU_BUILDINGS + [["X", "Москва", "", "ул. Мира", "1", "", "0", "5", "5"]]))
    bad = run_import(container, "demo", "buildings", str(path)).summary()
    assert bad.startswith("buildings from дома.csv: 4 rows; nothing imported, 1 error(s):")
    assert "row 5, column 'Подъездов': 'entrances' must be between 1 and 100, got 0." in bad


# -- the API --------------------------------------------------------------------------------------------------------
def upload(client, path, data, headers, name="дома.csv", **form):
    return client.post(f"{API}{path}", data={"file": (io.BytesIO(data), name), **form}, headers=headers,
                       content_type="multipart/form-data")


def test_the_api_imports_buildings_and_staff_for_an_admin(client, container, org, make_token):
    admin = make_token("demo", "admin")
    r = upload(client, "/buildings/import", csv_bytes(RU_BUILDINGS, ";", "cp1251"), admin)
    assert r.status_code == 200, r.get_json()
    assert {k: r.get_json()[k] for k in ("created", "updated", "unchanged", "written")} == {
        "created": 3, "updated": 0, "unchanged": 0, "written": True}
    r = upload(client, "/staff/import", xlsx_bytes(RU_STAFF), make_token("demo", "manager"), name="штат.xlsx")
    assert r.status_code == 200 and r.get_json()["created"] == 4
    assert count(container, t.staff, org_id=org.id) == 4


def test_the_api_answers_422_with_every_row_error_and_writes_nothing(client, container, org, make_token):
    rows = RU_BUILDINGS + [["Б-1", "Москва", "", "", "1", "", "2", "5", "40"], RU_BUILDINGS[1]]
    r = upload(client, "/buildings/import", csv_bytes(rows), make_token("demo", "admin"))
    assert r.status_code == 422
    error = r.get_json()["error"]
    assert error["code"] == "import_rejected" and "2 error(s)" in error["message"]
    assert [(e["row"], e["column"]) for e in error["details"]["rows"]] == [(5, "Улица"), (6, "Код дома")]
    assert count(container, t.buildings) == 0


def test_the_api_dry_run_validates_without_writing(client, container, org, make_token):
    r = upload(client, "/buildings/import", csv_bytes(RU_BUILDINGS), make_token("demo", "admin"), dry_run="true")
    assert r.status_code == 200 and r.get_json()["created"] == 3 and r.get_json()["written"] is False
    assert count(container, t.buildings) == 0
    r = upload(client, "/buildings/import", csv_bytes(RU_BUILDINGS), make_token("demo", "admin"), dry_run="maybe")
    assert r.status_code == 422 and r.get_json()["error"]["field"] == "dry_run"


def test_the_api_refuses_garbage_and_a_missing_file(client, container, org, make_token):
    admin = make_token("demo", "admin")
    r = upload(client, "/staff/import", bytes(range(256)) * 4, admin, name="штат.csv")
    assert r.status_code == 415 and r.get_json()["error"]["code"] == "unsupported_file"
    assert "XLSX" in r.get_json()["error"]["message"]
    r = client.post(f"{API}/staff/import", data={"dry_run": "true"}, headers=admin,
                    content_type="multipart/form-data")
    assert r.status_code == 422 and "field 'file'" in r.get_json()["error"]["message"]
    r = upload(client, "/staff/import", b"", admin, name="empty.csv")
    assert r.status_code == 422 and "is empty" in r.get_json()["error"]["message"]
    assert count(container, t.staff) == 0


def test_a_dispatcher_cannot_import(client, container, org, make_token):
    r = upload(client, "/buildings/import", csv_bytes(RU_BUILDINGS), make_token("demo", "dispatcher"))
    assert r.status_code == 403 and count(container, t.buildings) == 0


def test_openapi_documents_the_import_endpoints_as_multipart(client):
    paths = client.get(f"{API}/openapi.json").get_json()["paths"]
    for path in ("/buildings/import", "/staff/import"):
        schema = paths[path]["post"]["requestBody"]["content"]["multipart/form-data"]["schema"]
        assert schema["required"] == ["file"] and schema["properties"]["dry_run"]["type"] == "boolean"
        assert paths[path]["post"]["x-roles"] == ["admin", "manager"]
