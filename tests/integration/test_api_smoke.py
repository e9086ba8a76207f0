def test_a_dispatcher_registers_a_request_and_a_technician_sees_it(client, org, building, technician, make_token):
    disp = make_token("demo", "dispatcher")
    r = client.post("/api/v1/requests", json={"description": "Течёт труба в ванной", "work_type": "water",
                                               "urgency": "emergency", "building_code": "B-1", "apartment": 12,
                                               "caller_phone": "8 (912) 000-11-22", "channel": "phone"},
                    headers=disp)
    assert r.status_code == 201, r.get_json()
    body = r.get_json()
    assert body["number"] == 1
    assert body["caller_phone"] == "+79120001122"
    assert body["localisation"]["clause"] == "ПП 416 п.13"
    r = client.post("/api/v1/requests/1/assignment", json={"staff_id": technician.id}, headers=disp)
    assert r.status_code == 200, r.get_json()
    tech = make_token("demo", "technician", technician.id)
    r = client.get("/api/v1/requests", headers=tech)
    assert [i["number"] for i in r.get_json()["items"]] == [1]
    r = client.post("/api/v1/requests/1/transitions", json={"to": "closed"}, headers=tech)
    assert r.status_code == 409
    assert r.get_json()["error"]["code"] == "illegal_transition"


def test_the_root_page_tells_a_person_in_russian_where_the_api_is(client):
    r = client.get("/")
    assert r.status_code == 200
    page = r.get_data(as_text=True)
    assert "Журнал заявок АДС" in page and "/api/v1/openapi.json" in page
