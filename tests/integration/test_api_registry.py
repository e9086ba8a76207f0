"""The registry endpoints on real PostgreSQL: buildings, places, staff, work types, responsibilities, residents."""
from __future__ import annotations

import pytest
import sqlalchemy as sa

from journal_api.storage import tables as t

API = "/api/v1"
NEW_BUILDING = {"building_id": "B-7", "city": "Казань", "complex": "ЖК Заречный", "street": "ул. Баумана",
                "house": "5", "korpus": "1", "entrances": 3, "floors": 12, "apartments": 108}
PLUMBER = {"full_name": "Петров Пётр Сергеевич", "role": "technician", "phone": "8 (903) 111-22-33",
           "sip_account": "petrov"}


def rows(container, table, **where) -> list:
    with container.engine.connect() as conn:
        return conn.execute(sa.select(table).where(*[table.c[k] == v for k, v in where.items()])).all()


@pytest.fixture
def admin(org, make_token):
    return make_token("demo", "admin")


@pytest.fixture
def outsider(other_org, make_token):
    return make_token("other", "admin")


# -- buildings ---------------------------------------------------------------------------------------------------
def test_an_admin_adds_a_building_and_reads_it_back(client, admin):
    r = client.post(f"{API}/buildings", json=NEW_BUILDING, headers=admin)
    assert r.status_code == 201, r.get_json()
    made = r.get_json()
    assert made["code"] == "B-7" and made["city"] == "Казань" and made["complex"] == "ЖК Заречный"
    assert made["address"] == "ул. Баумана, д. 5, корп. 1"
    assert (made["entrances"], made["floors"], made["apartments"], made["active"]) == (3, 12, 108, True)
    r = client.get(f"{API}/buildings/{made['id']}", headers=admin)
    assert r.status_code == 200 and r.get_json() == made


def test_buildings_filter_by_city_and_complex(client, admin, building):
    client.post(f"{API}/buildings", json=NEW_BUILDING, headers=admin)
    every = client.get(f"{API}/buildings", headers=admin).get_json()
    assert [b["code"] for b in every] == ["B-1", "B-7"]
    kazan = next(b for b in every if b["code"] == "B-7")
    by_city = client.get(f"{API}/buildings?city_id={kazan['city_id']}", headers=admin).get_json()
    by_complex = client.get(f"{API}/buildings?complex_id={building.complex_id}", headers=admin).get_json()
    assert [b["code"] for b in by_city] == ["B-7"]
    assert [b["code"] for b in by_complex] == ["B-1"]


def test_adding_a_building_code_that_exists_is_a_conflict_and_changes_nothing(client, container, admin,
                                                                               building):
    r = client.post(f"{API}/buildings", json={**NEW_BUILDING, "building_id": "B-1"}, headers=admin)
    assert r.status_code == 409
    assert r.get_json()["error"]["code"] == "conflict" and "B-1" in r.get_json()["error"]["message"]
    [row] = rows(container, t.buildings, code="B-1")
    assert (row.street, row.apartments) == ("ул. Ленина", 144)
    assert rows(container, t.cities, name="Казань") == []


@pytest.mark.parametrize("field, value", [
    ("apartments", 12.5), ("apartments", "12"), ("apartments", True), ("entrances", "три"),
    ("entrances", 0), ("entrances", 101), ("floors", 0), ("apartments", -1), ("apartments", 10_001),
])
def test_counts_that_are_not_whole_numbers_in_range_are_rejected(client, container, admin, field, value):
    r = client.post(f"{API}/buildings", json={**NEW_BUILDING, field: value}, headers=admin)
    assert r.status_code == 422, r.get_json()
    error = r.get_json()["error"]
    assert error["code"] == "validation_error" and error["field"] == field
    assert rows(container, t.buildings) == [] and rows(container, t.cities) == []


def test_a_manager_changes_a_building_moves_it_and_retires_it(client, container, org, make_token, building):
    manager = make_token("demo", "manager")
    r = client.patch(f"{API}/buildings/{building.id}", json={"apartments": 150, "city": "Тверь", "complex": None,
                                                              "active": False}, headers=manager)
    assert r.status_code == 200, r.get_json()
    body = r.get_json()
    assert (body["apartments"], body["city"], body["complex"], body["active"]) == (150, "Тверь", None, False)
    [row] = rows(container, t.buildings, id=building.id)
    assert (row.apartments, row.complex_id, row.active) == (150, None, False)
    changes = [a.changes for a in rows(container, t.audit_log, entity="building", entity_id=building.id,
                                       action="update")]
    assert any("active" in c for c in changes) and any("apartments" in c for c in changes)


def test_a_patch_that_shrinks_a_building_below_one_entrance_is_rejected(client, container, admin, building):
    r = client.patch(f"{API}/buildings/{building.id}", json={"entrances": 0, "floors": 5}, headers=admin)
    assert r.status_code == 422 and r.get_json()["error"]["field"] == "entrances"
    [row] = rows(container, t.buildings, id=building.id)
    assert (row.entrances, row.floors) == (4, 9)


def test_a_building_with_requests_cannot_be_deleted_but_an_unused_one_can(client, container, admin, building,
                                                                          make_token):
    r = client.post(f"{API}/requests", json={"description": "Нет света в подъезде", "building_id": building.id},
                    headers=make_token("demo", "dispatcher"))
    assert r.status_code == 201, r.get_json()
    r = client.delete(f"{API}/buildings/{building.id}", headers=admin)
    assert r.status_code == 409 and "deactivate" in r.get_json()["error"]["message"]
    assert len(rows(container, t.buildings, id=building.id)) == 1
    unused = client.post(f"{API}/buildings", json=NEW_BUILDING, headers=admin).get_json()
    assert client.delete(f"{API}/buildings/{unused['id']}", headers=admin).status_code == 204
    assert rows(container, t.buildings, id=unused["id"]) == []
    assert client.get(f"{API}/buildings/{unused['id']}", headers=admin).status_code == 404


def test_another_organisations_token_can_neither_read_nor_change_a_building(client, container, building,
                                                                            outsider):
    for call in (client.get, client.delete):
        r = call(f"{API}/buildings/{building.id}", headers=outsider)
        assert r.status_code == 403
        assert r.get_json()["error"] == {"code": "cross_organisation",
                                         "message": f"Building {building.id} belongs to another organisation."}
    r = client.patch(f"{API}/buildings/{building.id}", json={"apartments": 1, "active": False}, headers=outsider)
    assert r.status_code == 403 and r.get_json()["error"]["code"] == "cross_organisation"
    assert client.get(f"{API}/buildings", headers=outsider).get_json() == []
    [row] = rows(container, t.buildings, id=building.id)
    assert (row.apartments, row.active) == (144, True)
    assert rows(container, t.audit_log, entity="building", action="update") == []


def test_cities_and_complexes_give_the_ids_the_request_list_filters_by(client, admin, building, make_token):
    client.post(f"{API}/buildings", json=NEW_BUILDING, headers=admin)
    cities = client.get(f"{API}/cities", headers=admin).get_json()
    complexes = client.get(f"{API}/complexes", headers=admin).get_json()
    assert [c["name"] for c in cities] == ["Казань", "Москва"]
    assert {c["name"]: c["city_id"] for c in complexes} == {"ЖК Заречный": cities[0]["id"],
                                                            "ЖК Солнечный": cities[1]["id"]}
    disp = make_token("demo", "dispatcher")
    for code in ("B-1", "B-7"):
        client.post(f"{API}/requests", json={"description": f"Течь в доме {code}", "building_code": code},
                    headers=disp)
    moscow = client.get(f"{API}/requests?city_id={cities[1]['id']}", headers=disp).get_json()["items"]
    sunny = client.get(f"{API}/requests?complex_id={complexes[1]['id']}", headers=disp).get_json()["items"]
    assert [i["building"]["code"] for i in moscow] == [i["building"]["code"] for i in sunny] == ["B-1"]


# -- roles and input hygiene -------------------------------------------------------------------------------------
def test_a_technician_can_neither_read_nor_write_the_registry(client, container, building, technician,
                                                              make_token):
    tech = make_token("demo", "technician", technician.id)
    for path in ("/buildings", f"/buildings/{building.id}", "/staff", "/work-types", "/cities", "/complexes",
                 "/responsibilities", "/residents?phone=%2B79123456789"):
        r = client.get(API + path, headers=tech)
        assert r.status_code == 403 and r.get_json()["error"]["code"] == "forbidden", path
    r = client.post(f"{API}/buildings", json=NEW_BUILDING, headers=tech)
    assert r.status_code == 403 and "technician" in r.get_json()["error"]["message"]
    r = client.patch(f"{API}/staff/{technician.id}", json={"active": False}, headers=tech)
    assert r.status_code == 403
    assert rows(container, t.buildings, code="B-7") == []
    assert rows(container, t.staff, id=technician.id)[0].active is True


def test_a_dispatcher_reads_the_registry_but_cannot_change_it(client, container, building, make_token):
    disp = make_token("demo", "dispatcher")
    assert client.get(f"{API}/buildings/{building.id}", headers=disp).status_code == 200
    r = client.post(f"{API}/work-types", json={"code": "garage", "name": "Гаражи"}, headers=disp)
    assert r.status_code == 403 and "admin" in r.get_json()["error"]["message"]
    assert rows(container, t.work_types, code="garage") == []


@pytest.mark.parametrize("method, path, body", [
    ("post", "/buildings", {**NEW_BUILDING, "colour": "red"}),
    ("patch", "/buildings/{building}", {"appartments": 10}),
    ("post", "/staff", {**PLUMBER, "salary": 100}),
    ("post", "/work-types", {"code": "garage", "name": "Гаражи", "standard": True}),
])
def test_unknown_json_fields_are_rejected(client, container, admin, building, method, path, body):
    r = getattr(client, method)(API + path.format(building=building.id), json=body, headers=admin)
    assert r.status_code == 422
    error = r.get_json()["error"]
    assert error["code"] == "validation_error" and "Extra inputs are not permitted" in error["message"]
    assert len(rows(container, t.buildings)) == 1 and rows(container, t.staff) == []
    assert rows(container, t.work_types, code="garage") == []


# -- staff -------------------------------------------------------------------------------------------------------
def test_staff_phones_are_stored_in_e164_and_staff_are_deactivated_not_deleted(client, container, admin):
    r = client.post(f"{API}/staff", json=PLUMBER, headers=admin)
    assert r.status_code == 201, r.get_json()
    made = r.get_json()
    assert (made["phone"], made["short_name"], made["active"]) == ("+79031112233", "Петров П.С.", True)
    client.post(f"{API}/staff", json={"full_name": "Сидорова Анна", "role": "dispatcher",
                                      "phone": "+7 903 999-00-00"}, headers=admin)
    techs = client.get(f"{API}/staff?role=technician", headers=admin).get_json()
    assert [s["full_name"] for s in techs] == ["Петров Пётр Сергеевич"]
    r = client.patch(f"{API}/staff/{made['id']}", json={"active": False, "phone": "+7 (903) 111-22-44"},
                     headers=admin)
    assert r.status_code == 200 and (r.get_json()["active"], r.get_json()["phone"]) == (False, "+79031112244")
    assert client.get(f"{API}/staff/{made['id']}", headers=admin).get_json()["active"] is False
    assert client.delete(f"{API}/staff/{made['id']}", headers=admin).status_code == 405
    assert len(rows(container, t.staff, id=made["id"])) == 1


@pytest.mark.parametrize("method, path, body", [
    ("post", "/staff", {**PLUMBER, "phone": "12-34"}),
    ("patch", "/staff/{tech}", {"phone": "not a phone"}),
    ("post", "/residents", {"phone": "+7 000", "name": "Жилец"}),
])
def test_a_malformed_phone_is_rejected_and_nothing_is_written(client, container, admin, technician, method, path,
                                                              body):
    r = getattr(client, method)(API + path.format(tech=technician.id), json=body, headers=admin)
    assert r.status_code == 422
    error = r.get_json()["error"]
    assert error["code"] == "invalid_phone" and error["field"] == "phone" and "+7 912" in error["message"]
    assert [s.phone for s in rows(container, t.staff)] == ["+79123456789"]
    assert rows(container, t.residents) == []


def test_adding_staff_with_a_phone_on_file_is_a_conflict(client, container, admin, technician):
    r = client.post(f"{API}/staff", json={**PLUMBER, "phone": "+7 912 345 67 89"}, headers=admin)
    assert r.status_code == 409 and r.get_json()["error"]["field"] == "phone"
    assert [s.full_name for s in rows(container, t.staff)] == ["Иванов Иван Петрович"]


def test_another_organisations_token_cannot_change_staff(client, container, technician, outsider):
    r = client.patch(f"{API}/staff/{technician.id}", json={"active": False}, headers=outsider)
    assert r.status_code == 403 and r.get_json()["error"]["code"] == "cross_organisation"
    assert rows(container, t.staff, id=technician.id)[0].active is True



def test_a_sip_account_is_one_login_for_the_whole_installation(client, container, technician, outsider, admin):
    """Kamailio is one registrar for every organisation: another УК may not take "ivanov", nor rename to it."""
    r = client.post(f"{API}/staff", json={**PLUMBER, "sip_account": technician.sip_account}, headers=outsider)
    assert r.status_code == 409, r.get_json()
    error = r.get_json()["error"]
    assert error["field"] == "sip_account" and "another organisation" in error["message"]
    made = client.post(f"{API}/staff", json={**PLUMBER, "sip_account": "petrov"}, headers=outsider)
    assert made.status_code == 201, made.get_json()
    r = client.patch(f"{API}/staff/{made.get_json()['id']}", json={"sip_account": "ivanov"}, headers=outsider)
    assert r.status_code == 409 and r.get_json()["error"]["field"] == "sip_account"
    assert sorted(s.sip_account for s in rows(container, t.staff)) == ["ivanov", "petrov"]
    own = client.patch(f"{API}/staff/{technician.id}", json={"full_name": "Иванов Иван Петрович (ст.)"},
                       headers=admin)  # his own account stays his on any other change
    assert own.status_code == 200, own.get_json()


@pytest.mark.parametrize("account", ["иванов", "ivan ov", "dispatch", "dispatchers-2", "to-ivanov"])
def test_a_sip_account_that_cannot_be_a_sip_login_is_rejected(client, container, admin, account):
    r = client.post(f"{API}/staff", json={**PLUMBER, "sip_account": account}, headers=admin)
    assert r.status_code == 422, r.get_json()
    assert r.get_json()["error"]["field"] == "sip_account" and "SIP login" in r.get_json()["error"]["message"]
    assert not rows(container, t.staff)

# -- work types --------------------------------------------------------------------------------------------------
def test_an_organisation_adds_renames_deactivates_and_deletes_its_own_work_type(client, container, admin):
    r = client.post(f"{API}/work-types", json={"code": "parking", "name": "Паркинг"}, headers=admin)
    assert r.status_code == 201 and r.get_json()["standard"] is False
    r = client.patch(f"{API}/work-types/parking", json={"name": "Подземный паркинг", "active": False},
                     headers=admin)
    assert r.status_code == 200 and (r.get_json()["name"], r.get_json()["active"]) == ("Подземный паркинг", False)
    codes = [w["code"] for w in client.get(f"{API}/work-types", headers=admin).get_json()]
    assert len(codes) == 13 and codes[0] == "water" and codes[-1] == "parking"
    assert client.delete(f"{API}/work-types/parking", headers=admin).status_code == 204
    assert rows(container, t.work_types, code="parking") == []


def test_a_standard_work_type_cannot_be_deleted(client, container, org, admin):
    r = client.delete(f"{API}/work-types/water", headers=admin)
    assert r.status_code == 409 and "standard" in r.get_json()["error"]["message"]
    assert len(rows(container, t.work_types, org_id=org.id, code="water")) == 1


def test_a_work_type_in_use_cannot_be_deleted(client, container, admin, make_token):
    client.post(f"{API}/work-types", json={"code": "parking", "name": "Паркинг"}, headers=admin)
    client.post(f"{API}/requests", json={"description": "Не открываются ворота", "work_type": "parking"},
                headers=make_token("demo", "dispatcher"))
    r = client.delete(f"{API}/work-types/parking", headers=admin)
    assert r.status_code == 409 and "deactivate" in r.get_json()["error"]["message"]
    assert len(rows(container, t.work_types, code="parking")) == 1


def test_a_work_type_code_must_be_new_and_well_formed(client, admin):
    r = client.post(f"{API}/work-types", json={"code": "water", "name": "Вода"}, headers=admin)
    assert r.status_code == 409
    r = client.post(f"{API}/work-types", json={"code": "Гараж", "name": "Гаражи"}, headers=admin)
    assert r.status_code == 422 and r.get_json()["error"]["field"] == "code"


# -- responsibilities --------------------------------------------------------------------------------------------
def test_a_technician_is_made_responsible_for_a_building_and_released(client, container, admin, building,
                                                                      technician):
    r = client.post(f"{API}/responsibilities", json={"building_id": building.id, "work_type": "water",
                                                     "staff_id": technician.id, "priority": 2}, headers=admin)
    assert r.status_code == 201, r.get_json()
    made = r.get_json()
    assert (made["building"]["code"], made["staff"]["full_name"], made["priority"]) == (
        "B-1", "Иванов Иван Петрович", 2)
    found = client.get(f"{API}/responsibilities?building_id={building.id}&work_type=water", headers=admin)
    assert [x["id"] for x in found.get_json()] == [made["id"]]
    assert client.get(f"{API}/responsibilities?work_type=gas", headers=admin).get_json() == []
    assert client.delete(f"{API}/responsibilities/{made['id']}", headers=admin).status_code == 204
    assert rows(container, t.responsibilities) == []


def test_only_a_technician_of_the_organisation_can_be_responsible(client, container, admin, outsider, building,
                                                                   technician):
    disp = client.post(f"{API}/staff", json={"full_name": "Сидорова Анна", "role": "dispatcher",
                                             "phone": "+7 903 999-00-00"}, headers=admin).get_json()
    r = client.post(f"{API}/responsibilities", json={"building_id": building.id, "work_type": "water",
                                                     "staff_id": disp["id"]}, headers=admin)
    assert r.status_code == 422 and "not a technician" in r.get_json()["error"]["message"]
    r = client.post(f"{API}/responsibilities", json={"building_id": building.id, "work_type": "water",
                                                     "staff_id": technician.id}, headers=outsider)
    assert r.status_code == 403 and r.get_json()["error"]["code"] == "cross_organisation"
    assert rows(container, t.responsibilities) == []


# -- residents ---------------------------------------------------------------------------------------------------
def test_a_resident_is_registered_and_found_by_phone_in_any_form(client, admin, building):
    r = client.post(f"{API}/residents", json={"phone": "8 916 555-44-33", "name": "Смирнова Ольга",
                                              "building_id": building.id, "apartment": 12}, headers=admin)
    assert r.status_code == 201, r.get_json()
    assert r.get_json()["phone"] == "+79165554433"
    found = client.get(f"{API}/residents?phone=%2B7%20916%20555%2044%2033", headers=admin).get_json()
    assert [(x["name"], x["building_id"], x["apartment"]) for x in found] == [("Смирнова Ольга", building.id, 12)]
    r = client.get(f"{API}/residents?phone=12", headers=admin)
    assert r.status_code == 422 and r.get_json()["error"]["code"] == "invalid_phone"


def test_a_dispatcher_registers_a_resident_taken_on_a_call_but_a_technician_cannot(client, container, org,
                                                                                     building, technician,
                                                                                     make_token):
    body = {"phone": "+79165554433", "name": "Смирнова Ольга", "building_id": building.id, "apartment": 12}
    r = client.post(f"{API}/residents", json=body, headers=make_token("demo", "dispatcher"))
    assert r.status_code == 201, r.get_json()
    r = client.post(f"{API}/residents", json={**body, "apartment": 13},
                    headers=make_token("demo", "technician", technician.id))
    assert r.status_code == 403
    assert [row.apartment for row in rows(container, t.residents)] == [12]


def test_a_resident_apartment_outside_the_building_is_rejected(client, container, admin, building):
    r = client.post(f"{API}/residents", json={"phone": "+79165554433", "building_id": building.id,
                                              "apartment": 145}, headers=admin)
    assert r.status_code == 422 and "1-144" in r.get_json()["error"]["message"]
    assert rows(container, t.residents) == []


# -- the OpenAPI document ----------------------------------------------------------------------------------------
def test_the_openapi_document_describes_the_registry(client):
    r = client.get(f"{API}/openapi.json")
    assert r.status_code == 200
    doc = r.get_json()
    for path, methods in {"/buildings": {"get", "post"}, "/buildings/{building_id}": {"get", "patch", "delete"},
                          "/cities": {"get"}, "/complexes": {"get"}, "/staff": {"get", "post"},
                          "/staff/{staff_id}": {"get", "patch"}, "/work-types": {"get", "post"},
                          "/work-types/{code}": {"patch", "delete"}, "/responsibilities": {"get", "post"},
                          "/responsibilities/{responsibility_id}": {"delete"},
                          "/residents": {"get", "post"}}.items():
        assert set(doc["paths"][path]) == methods, path
    code_param = doc["paths"]["/work-types/{code}"]["patch"]["parameters"][0]
    assert code_param["schema"] == {"type": "string"}
    created = doc["paths"]["/buildings"]["post"]["responses"]["201"]["content"]["application/json"]["schema"]
    assert created == {"$ref": "#/components/schemas/BuildingOut"}
    assert "apartments" in doc["components"]["schemas"]["BuildingOut"]["properties"]
    assert doc["components"]["schemas"]["BuildingIn"]["additionalProperties"] is False
