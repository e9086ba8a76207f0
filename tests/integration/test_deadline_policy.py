"""Legal deadlines through registration on real PostgreSQL: the reason picks the rule and the urgency, the
organisation's time zone and the production calendar count the time, an organisation's override applies to it
alone, and a code that is not a reason of the work type is refused with nothing written."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
import sqlalchemy as sa

from journal_api.bootstrap import bootstrap
from journal_api.service.deadlines import RulesPolicy
from journal_api.service.requests import NewRequest
from journal_api.storage import tables as t
from request_api_support import (START, SYSTEM, assert_error, clock, container, create, disp,  # noqa: F401
                                 history, row_counts)

TAP_DRIP_BY_ORG = {"title": "Капает кран (срок УК)", "work_type": "water",
                   "repair": {"amount": 4, "unit": "hours", "clause": "Договор управления п. 5.1"}}


def at(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text) if text else None


@pytest.fixture
def other_disp(other_org, make_token):
    return make_token("other", "dispatcher")


@pytest.mark.parametrize("reason, urgency, rule, localisation, repair", [
    ("water.pipe_burst", "emergency", "federal.emergency",
     (timedelta(minutes=30), "ПП 416 п.13"), (timedelta(days=3), "ПП 416 п.13")),
    ("sewerage.blockage", "emergency", "sewerage.blockage", None, (timedelta(hours=2), "ПП 416 п.13")),
    ("gas.smell", "emergency", "gas.pipe_failure",
     (timedelta(minutes=30), "Госстрой 170 прил.2"), (timedelta(days=3), "ПП 416 п.13")),
    ("elevator.people_stuck", "emergency", "elevator.people_stuck",
     (timedelta(minutes=30), "ПП 416 п.13 (по аналогии)"), (timedelta(days=1), "Госстрой 170 прил.2")),
    ("water.tap_drip", "normal", "water.tap_drip", None, (timedelta(days=1), "Госстрой 170 прил.2")),
    ("building.window_glass", "normal", "building.window_glass", None, (timedelta(days=1), "Госстрой 170 прил.2")),
])
def test_each_typical_reason_gets_its_legal_deadlines_and_clauses(client, disp, reason, urgency, rule,
                                                                   localisation, repair):
    body = create(client, disp, work_type=reason.split(".")[0], reason=reason)
    assert (body["reason"], body["urgency"], body["deadline_rule"]) == (reason, urgency, rule)
    expected_loc = (START + localisation[0], localisation[1]) if localisation else (None, None)
    assert (at(body["localisation"]["due_at"]), body["localisation"]["clause"]) == expected_loc
    assert (at(body["repair"]["due_at"]), body["repair"]["clause"]) == (START + repair[0], repair[1])
    assert at(body["due_at"]) == (expected_loc[0] or START + repair[0])


def test_a_rubbish_chute_blockage_at_half_past_ten_at_night_is_due_at_half_past_nine_next_morning(client, disp,
                                                                                                 clock):
    clock.now = datetime(2026, 3, 2, 19, 30, tzinfo=timezone.utc)  # 22:30 in Moscow; the clock stops at 23:00
    body = create(client, disp, work_type="rubbish_chute", reason="rubbish_chute.blockage")
    assert at(body["repair"]["due_at"]) == datetime(2026, 3, 3, 6, 30, tzinfo=timezone.utc)  # 09:30 in Moscow
    assert body["repair"]["clause"] == "ПП 416 п.13" and body["urgency"] == "emergency"


def test_a_normal_request_gets_ten_working_days_across_a_holiday_to_midnight_of_its_own_zone(client, disp,
                                                                                            other_disp):
    moscow = create(client, disp, description="Слабый напор воды", work_type="water")
    yekaterinburg = create(client, other_disp, description="Слабый напор воды", work_type="water")
    # From Monday 2 March 2026: 9 March is the day off for 8 March, so the 10th working day is 17 March.
    assert at(moscow["repair"]["due_at"]) == datetime(2026, 3, 17, 21, 0, tzinfo=timezone.utc)
    assert at(yekaterinburg["repair"]["due_at"]) == datetime(2026, 3, 17, 19, 0, tzinfo=timezone.utc)
    assert moscow["deadline_rule"] == "federal.general" and moscow["repair"]["clause"] == "ПП 416"
    assert moscow["localisation"] == {"due_at": None, "clause": None}


def test_the_dispatchers_urgency_wins_but_the_reasons_rule_still_sets_the_deadlines(client, disp):
    body = create(client, disp, work_type="water", reason="water.tap_drip", urgency="emergency")
    assert (body["urgency"], body["deadline_rule"]) == ("emergency", "water.tap_drip")
    assert at(body["repair"]["due_at"]) == START + timedelta(days=1)


def test_free_text_is_still_a_reason_and_leaves_the_rule_to_work_type_and_urgency(client, disp):
    body = create(client, disp, work_type="water", urgency="emergency", reason="Течёт труба. Срочно")
    assert (body["reason"], body["deadline_rule"]) == ("Течёт труба. Срочно", "federal.emergency")
    assert create(client, disp, reason="Жалоба на соседей")["urgency"] == "normal"


def test_an_unknown_reason_code_is_refused_naming_the_reasons_of_the_work_type(client, disp, container):
    before = row_counts(container.engine)
    r = client.post("/api/v1/requests", json={"description": "Течёт", "work_type": "water",
                                              "reason": "water.pipe_lek"}, headers=disp)
    error = assert_error(r, 422, "validation_error", "reason")
    assert "water.pipe_lek" in error["message"] and "water.pipe_burst" in error["message"]
    assert "water.tap_drip" in error["details"]["known"]
    assert row_counts(container.engine) == before


def test_a_reason_of_another_work_type_is_refused_and_nothing_is_written(client, disp, container):
    before = row_counts(container.engine)
    r = client.post("/api/v1/requests", json={"description": "Течёт", "work_type": "water",
                                              "reason": "heating.pipe_leak"}, headers=disp)
    error = assert_error(r, 422, "validation_error", "reason")
    assert "belongs to work type 'heating'" in error["message"]
    assert row_counts(container.engine) == before


def test_correcting_the_reason_applies_the_new_reasons_rule_and_a_bad_code_changes_nothing(client, disp, clock):
    create(client, disp, work_type="water", description="Капает")
    clock.advance(minutes=5)
    body = client.patch("/api/v1/requests/1", json={"reason": "water.tap_drip"}, headers=disp).get_json()
    assert body["deadline_rule"] == "water.tap_drip" and at(body["repair"]["due_at"]) == START + timedelta(days=1)
    assert "deadline_rule" in {h["field"] for h in history(client, disp, 1) if h["kind"] == "deadline"}
    r = client.patch("/api/v1/requests/1", json={"reason": "water.no_such"}, headers=disp)
    assert_error(r, 422, "validation_error", "reason")
    assert client.get("/api/v1/requests/1", headers=disp).get_json() == body


def test_an_override_changes_new_requests_of_its_organisation_only(client, disp, other_disp, container, org):
    old = create(client, disp, work_type="water", reason="water.tap_drip")
    container.rules.override(org.id, SYSTEM, "water.tap_drip", TAP_DRIP_BY_ORG)
    mine = create(client, disp, work_type="water", reason="water.tap_drip")
    theirs = create(client, other_disp, work_type="water", reason="water.tap_drip")
    assert at(mine["repair"]["due_at"]) == START + timedelta(hours=4)
    assert mine["repair"]["clause"] == "Договор управления п. 5.1"
    assert at(theirs["repair"]["due_at"]) == START + timedelta(days=1)
    assert client.get(f"/api/v1/requests/{old['number']}", headers=disp).get_json()["repair"] == old["repair"]


def test_another_process_sees_an_override_when_its_cached_rules_expire(container, org, clock):
    ticks = [0.0]
    policy = RulesPolicy(container.engine, cache_seconds=30, monotonic=lambda: ticks[0])
    other = bootstrap(container.settings, publisher=container.publisher, engine=container.engine, clock=clock,
                      deadlines=policy)
    request = other.requests.register(org.id, SYSTEM, _tap_drip())
    assert request.repair_due_at == START + timedelta(days=1)
    container.rules.override(org.id, SYSTEM, "water.tap_drip", TAP_DRIP_BY_ORG)
    assert other.requests.register(org.id, SYSTEM, _tap_drip()).repair_due_at == START + timedelta(days=1)
    ticks[0] = 31.0
    assert other.requests.register(org.id, SYSTEM, _tap_drip()).repair_due_at == START + timedelta(hours=4)


def test_a_stored_override_that_no_longer_fits_the_rules_never_stops_registration(client, disp, container, org):
    with container.engine.begin() as conn:  # e.g. written before a release renamed the reason
        conn.execute(sa.insert(t.deadline_rule_overrides).values(
            org_id=org.id, key="water.own", updated_at=START,
            body={"title": "Своё", "work_type": "water", "reason": "water.renamed",
                  "repair": {"amount": 1, "unit": "hours", "clause": "Договор"}}))
    body = create(client, disp, work_type="water", reason="water.pipe_burst")
    assert body["deadline_rule"] == "federal.emergency"


def test_a_normal_request_becomes_overdue_only_after_its_ten_working_days(client, disp, clock):
    create(client, disp, description="Слабый напор воды", work_type="water")
    clock.now = datetime(2026, 3, 17, 20, 59, tzinfo=timezone.utc)  # 23:59 of the 10th working day in Moscow
    assert client.get("/api/v1/requests?overdue=true", headers=disp).get_json()["items"] == []
    clock.advance(minutes=2)
    assert [i["number"] for i in client.get("/api/v1/requests?overdue=true", headers=disp).get_json()["items"]] == [1]


def test_a_work_type_the_organisation_adds_later_gets_the_general_rules(client, disp, container, org):
    create(client, disp, work_type="water")  # the organisation's rules are now cached without the new type
    container.registry.create_work_type(org.id, SYSTEM, "gates", "Ворота")
    body = create(client, disp, work_type="gates", urgency="emergency")
    assert (body["deadline_rule"], at(body["localisation"]["due_at"])) == \
        ("federal.emergency", START + timedelta(minutes=30))
    error = assert_error(client.post("/api/v1/requests", json={"description": "Ворота", "work_type": "gates",
                                                               "reason": "gates.stuck"}, headers=disp), 422)
    assert "has no catalogue reasons" in error["message"]


def _tap_drip() -> NewRequest:
    return NewRequest(description="Капает кран", work_type="water", reason="water.tap_drip")
