"""The rules endpoints on real PostgreSQL: the reasons catalogue, the organisation's effective rules with the clause
beside each deadline, overrides checked by the domain (a bad one writes nothing), restoring the federal rule, the
production calendar, and the audit of every change."""
from __future__ import annotations

from datetime import datetime, timedelta

import pytest
import sqlalchemy as sa

from journal_api.domain.worktypes import STANDARD_WORK_TYPES
from journal_api.storage import tables as t
from request_api_support import START, assert_error, clock, container, create, disp, manager  # noqa: F401

DRIP = {"title": "Капает кран (срок УК)", "work_type": "water",
        "repair": {"amount": 4, "unit": "hours", "clause": "Договор управления п. 5.1"}}


@pytest.fixture
def other_manager(other_org, make_token):
    return make_token("other", "manager")


def rules_by_key(client, headers) -> dict[str, dict]:
    r = client.get("/api/v1/deadline-rules", headers=headers)
    assert r.status_code == 200, r.get_json()
    return {rule["key"]: rule for rule in r.get_json()}


def written(engine) -> tuple[int, int]:
    with engine.connect() as conn:
        return tuple(conn.scalar(sa.select(sa.func.count()).select_from(table))
                     for table in (t.deadline_rule_overrides, t.audit_log))


def test_the_reasons_of_a_work_type_come_with_russian_titles_urgency_and_rule(client, disp):
    r = client.get("/api/v1/reasons?work_type=water", headers=disp)
    assert r.status_code == 200
    reasons = {reason["code"]: reason for reason in r.get_json()}
    assert {reason["work_type"] for reason in reasons.values()} == {"water"}
    burst = reasons["water.pipe_burst"]
    assert (burst["title"], burst["urgency"], burst["rule"]) == \
        ("Прорыв или течь трубы водоснабжения", "emergency", "federal.emergency")
    assert "прорвало" in burst["keywords"]
    everything = client.get("/api/v1/reasons", headers=disp).get_json()
    assert {reason["work_type"] for reason in everything} == set(STANDARD_WORK_TYPES)


def test_reasons_of_an_unknown_work_type_are_refused(client, disp):
    error = assert_error(client.get("/api/v1/reasons?work_type=plumbing", headers=disp), 422, field="work_type")
    assert "plumbing" in error["message"] and "water" in error["message"]


def test_the_effective_rules_show_each_deadline_with_its_unit_window_and_clause(client, disp):
    rules = rules_by_key(client, disp)
    assert rules["federal.emergency"]["localisation"] == {"amount": 30, "seasonal": None, "unit": "minutes",
                                                          "window": None, "clause": "ПП 416 п.13"}
    assert rules["federal.emergency"]["default_for"] == "emergency" and not rules["federal.emergency"]["overridden"]
    chute = rules["rubbish_chute.blockage"]["repair"]
    assert (chute["amount"], chute["unit"], chute["window"]) == (2, "hours", {"from": "08:00", "to": "23:00"})
    assert rules["building.window_glass"]["repair"]["seasonal"] == {"winter": 1, "summer": 3}
    assert rules["elevator.people_stuck"]["confirmed"] is False and rules["federal.general"]["confirmed"] is True


def test_a_manager_overrides_a_rule_for_his_organisation_only_and_it_is_audited(client, manager, other_manager,
                                                                                disp, container, org):
    r = client.put("/api/v1/deadline-rules/water.tap_drip", json=DRIP, headers=manager)
    assert r.status_code == 200, r.get_json()
    assert r.get_json()["overridden"] is True and r.get_json()["repair"]["clause"] == "Договор управления п. 5.1"
    assert rules_by_key(client, manager)["water.tap_drip"]["repair"]["amount"] == 4
    assert rules_by_key(client, other_manager)["water.tap_drip"]["overridden"] is False
    body = create(client, disp, work_type="water", reason="water.tap_drip")
    assert datetime.fromisoformat(body["repair"]["due_at"]) == START + timedelta(hours=4)
    with container.engine.connect() as conn:
        audit = conn.execute(sa.select(t.audit_log).where(t.audit_log.c.entity == "deadline_rule")).one()
    assert (audit.org_id, audit.action, audit.changes["key"], audit.changes["previous"]) == \
        (org.id, "override", "water.tap_drip", None)


def test_an_organisation_adds_its_own_rule_for_a_reason(client, manager, disp):
    own = {"title": "Слабый напор (срок УК)", "work_type": "water", "reason": "water.low_pressure",
           "repair": {"amount": 2, "unit": "calendar_days", "clause": "Договор управления п. 5.2"}}
    r = client.put("/api/v1/deadline-rules/water.low_pressure_own", json=own, headers=manager)
    assert r.status_code == 200, r.get_json()
    body = create(client, disp, work_type="water", reason="water.low_pressure")
    assert body["deadline_rule"] == "water.low_pressure_own"
    assert (datetime.fromisoformat(body["repair"]["due_at"]), body["repair"]["clause"]) == \
        (START + timedelta(days=2), "Договор управления п. 5.2")


@pytest.mark.parametrize("key, body, words", [
    ("water.tap_drip", {**DRIP, "work_type": "plumbing"}, "unknown work type 'plumbing'"),
    ("water.tap_drip", {**DRIP, "repair": {"amount": 0, "unit": "hours", "clause": "Договор"}}, "from 1 to"),
    ("water.tap_drip", {**DRIP, "repair": {"amount": 2, "unit": "weeks", "clause": "Договор"}}, "'weeks' is not"),
    ("water.tap_drip", {**DRIP, "repair": {"amount": 2, "unit": "hours", "window": {"from": "23:00", "to": "08:00"},
                                           "clause": "Договор"}}, "must open before it closes"),
    ("water.own", {**DRIP, "reason": "water.no_such"}, "unknown reason 'water.no_such'"),
    ("water.own", DRIP, "no request would use it"),
    ("federal.general", {"title": "Общий", "work_type": None,
                         "repair": {"amount": 5, "unit": "working_days", "clause": "ПП 416"}}, "No general rule"),
    ("Bad Key", DRIP, "is not a rule key"),
])
def test_a_bad_override_is_refused_with_a_clear_message_and_nothing_is_written(client, manager, container, key,
                                                                              body, words):
    before = written(container.engine)
    error = assert_error(client.put(f"/api/v1/deadline-rules/{key}", json=body, headers=manager), 422)
    assert words in error["message"], error
    assert written(container.engine) == before


def test_only_admins_and_managers_change_rules(client, disp):
    assert_error(client.put("/api/v1/deadline-rules/water.tap_drip", json=DRIP, headers=disp), 403, "forbidden")
    assert_error(client.delete("/api/v1/deadline-rules/water.tap_drip", headers=disp), 403, "forbidden")


def test_deleting_an_override_restores_the_federal_rule_and_a_second_delete_is_404(client, manager, disp,
                                                                                   container):
    client.put("/api/v1/deadline-rules/water.tap_drip", json=DRIP, headers=manager)
    r = client.delete("/api/v1/deadline-rules/water.tap_drip", headers=manager)
    assert r.status_code == 204
    assert rules_by_key(client, manager)["water.tap_drip"]["repair"]["amount"] == 1
    body = create(client, disp, work_type="water", reason="water.tap_drip")
    assert datetime.fromisoformat(body["repair"]["due_at"]) == START + timedelta(days=1)
    assert written(container.engine)[0] == 0
    with container.engine.connect() as conn:
        actions = conn.execute(sa.select(t.audit_log.c.action).where(t.audit_log.c.entity == "deadline_rule")
                               .order_by(t.audit_log.c.id)).scalars().all()
    assert actions == ["override", "restore"]
    assert_error(client.delete("/api/v1/deadline-rules/water.tap_drip", headers=manager), 404, "not_found")


def test_the_calendar_of_a_decree_year_lists_holidays_and_moved_days(client, disp):
    r = client.get("/api/v1/calendar/2026", headers=disp)
    assert r.status_code == 200
    year = r.get_json()
    assert (year["year"], year["confirmed"], year["working_days"]) == (2026, True, 247)
    assert "2026-01-01" in year["holidays"] and "2026-03-08" in year["holidays"]
    assert {"date": "2026-03-09", "moved_from": "2026-03-08"} in year["days_off"]
    assert {"date": "2026-12-31", "moved_from": "2026-01-04"} in year["days_off"]
    assert "1466" in year["source"]


def test_a_year_without_a_decree_is_marked_unconfirmed_and_a_bad_year_is_refused(client, disp):
    assert client.get("/api/v1/calendar/2031", headers=disp).get_json()["confirmed"] is False
    assert_error(client.get("/api/v1/calendar/1800", headers=disp), 422, field="year")
    assert_error(client.get("/api/v1/calendar/next", headers=disp), 422, field="year")
