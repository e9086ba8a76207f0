"""Schedules through the service and the API on PostgreSQL: shifts, absences and rotas, checked, audited, whole."""
from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import pytest
import sqlalchemy as sa

from journal_api.domain.errors import ValidationError
from journal_api.domain.events import Actor
from journal_api.domain.schedule import ShiftOverlap
from journal_api.service.schedules import RotaRequest
from journal_api.storage import tables as t

SYSTEM = Actor.system("test")

MSK = timezone(timedelta(hours=3))


def _count(container, table) -> int:
    with container.engine.connect() as conn:
        return conn.scalar(sa.select(sa.func.count()).select_from(table))


def _iso(moment: datetime) -> str:
    return moment.isoformat()


@pytest.fixture
def future():
    """A local 08:00 a few days ahead, so absences are not over."""
    day = datetime.now(MSK).date() + timedelta(days=3)
    return datetime(day.year, day.month, day.day, 8, tzinfo=MSK)


def test_a_dispatcher_adds_shifts_and_lists_them_by_staff_and_period(client, make_token, org, technician, future):
    headers = make_token(role="dispatcher")
    for offset in (0, 4):
        starts = future + timedelta(days=offset)
        r = client.post("/api/v1/shifts", headers=headers, json={
            "staff_id": technician.id, "starts_at": _iso(starts), "ends_at": _iso(starts + timedelta(hours=24))})
        assert r.status_code == 201, r.get_json()
    listed = client.get("/api/v1/shifts", headers=headers, query_string={
        "staff_id": technician.id, "from": _iso(future + timedelta(days=2)), "to": _iso(future + timedelta(days=9))})
    assert listed.status_code == 200
    [shift] = listed.get_json()
    assert datetime.fromisoformat(shift["starts_at"]) == future + timedelta(days=4)
    assert shift["kind"] == "shift" and shift["staff_id"] == technician.id


def test_overlapping_shifts_of_one_person_are_refused_with_409_naming_both_periods(client, make_token, org,
                                                                                   technician, container, future):
    headers = make_token(role="manager")
    first = {"staff_id": technician.id, "starts_at": _iso(future), "ends_at": _iso(future + timedelta(hours=24))}
    assert client.post("/api/v1/shifts", headers=headers, json=first).status_code == 201
    r = client.post("/api/v1/shifts", headers=headers, json={
        "staff_id": technician.id, "starts_at": _iso(future + timedelta(hours=20)),
        "ends_at": _iso(future + timedelta(hours=30))})
    assert r.status_code == 409
    error = r.get_json()["error"]
    assert error["code"] == "shift_overlap"
    local = future.astimezone(MSK)
    assert local.strftime("%Y-%m-%d 08:00") in error["message"]
    assert (local + timedelta(hours=20)).strftime("%Y-%m-%d %H:%M") in error["message"]
    assert len(error["details"]["periods"]) == 2
    assert _count(container, t.shifts) == 1


def test_back_to_back_shifts_are_fine(container, org, technician, future):
    schedules = container.schedules
    schedules.add_shift(org.id, SYSTEM, technician.id, future, future + timedelta(hours=12))
    schedules.add_shift(org.id, SYSTEM, technician.id, future + timedelta(hours=12), future + timedelta(hours=24))
    assert len(schedules.list_shifts(org.id, SYSTEM, staff_id=technician.id)) == 2


def test_an_absence_ending_before_it_starts_is_refused_with_422_and_nothing_written(client, make_token, org,
                                                                                     technician, container, future):
    r = client.post("/api/v1/absences", headers=make_token(role="dispatcher"), json={
        "staff_id": technician.id, "starts_at": _iso(future), "ends_at": _iso(future - timedelta(days=1)),
        "kind": "vacation"})
    assert r.status_code == 422
    assert r.get_json()["error"]["field"] == "ends_at"
    assert _count(container, t.absences) == 0


def test_an_absence_already_over_is_refused(container, org, technician):
    past = datetime.now(timezone.utc) - timedelta(days=3)
    with pytest.raises(ValidationError, match="already over"):
        container.schedules.add_absence(org.id, SYSTEM, technician.id, past, past + timedelta(days=1), "day_off")


def test_a_rota_with_an_unknown_time_zone_is_refused_with_422_and_writes_nothing(client, make_token, org,
                                                                                  technician, container):
    r = client.post("/api/v1/rotas", headers=make_token(role="admin"), json={
        "staff_id": technician.id, "pattern": "one_day_in_four", "start_date": "2026-03-01",
        "end_date": "2026-03-31", "timezone": "Europe/Atlantis"})
    assert r.status_code == 422
    assert r.get_json()["error"]["field"] == "timezone"
    assert _count(container, t.shifts) == 0


def test_one_day_in_four_lays_out_a_24_hour_shift_every_fourth_day_in_local_time(container, org, technician):
    shifts = container.schedules.generate_rota(org.id, SYSTEM, RotaRequest(
        technician.id, "one_day_in_four", date(2026, 3, 1), date(2026, 3, 12)))
    starts = [s.starts_at.astimezone(MSK) for s in shifts]
    assert [s.day for s in starts] == [1, 5, 9]
    assert all(s.hour == 8 for s in starts)
    assert all(s.ends_at - s.starts_at == timedelta(hours=24) for s in shifts)


def test_one_day_in_three_repeats_every_third_day(container, org, technician):
    shifts = container.schedules.generate_rota(org.id, SYSTEM, RotaRequest(
        technician.id, "one_day_in_three", date(2026, 3, 1), date(2026, 3, 10)))
    assert [s.starts_at.astimezone(MSK).day for s in shifts] == [1, 4, 7, 10]


def test_day_shifts_follow_the_production_calendar_over_the_new_year_holidays(container, org, technician):
    shifts = container.schedules.generate_rota(org.id, SYSTEM, RotaRequest(
        technician.id, "day_shift", date(2026, 1, 5), date(2026, 1, 18)))
    days = [s.starts_at.astimezone(MSK).date() for s in shifts]
    assert days == [date(2026, 1, d) for d in (12, 13, 14, 15, 16)]  # 5-9 January are days off by the decree
    assert all(s.starts_at.astimezone(MSK).hour == 8 and s.ends_at.astimezone(MSK).hour == 17 for s in shifts)


def test_on_call_covers_nights_and_whole_days_off(container, org, technician):
    shifts = container.schedules.generate_rota(org.id, SYSTEM, RotaRequest(
        technician.id, "on_call", date(2026, 3, 13), date(2026, 3, 15)))  # Friday to Sunday
    assert {s.kind for s in shifts} == {"on_call"}
    local = [(s.starts_at.astimezone(MSK), s.ends_at.astimezone(MSK)) for s in shifts]
    assert local[0][0] == datetime(2026, 3, 13, 17, tzinfo=MSK) and local[0][1] == datetime(2026, 3, 14, 8,
                                                                                              tzinfo=MSK)
    assert (datetime(2026, 3, 14, 8, tzinfo=MSK), datetime(2026, 3, 15, 8, tzinfo=MSK)) in local


def test_a_rota_that_collides_with_an_existing_shift_writes_none_of_its_shifts(container, org, technician):
    existing = datetime(2026, 3, 9, 12, tzinfo=MSK)
    container.schedules.add_shift(org.id, SYSTEM, technician.id, existing, existing + timedelta(hours=4))
    with pytest.raises(ShiftOverlap, match="2026-03-09 08:00"):
        container.schedules.generate_rota(org.id, SYSTEM, RotaRequest(
            technician.id, "one_day_in_four", date(2026, 3, 1), date(2026, 3, 31)))
    assert _count(container, t.shifts) == 1


def test_an_unknown_pattern_is_refused_with_the_known_ones(container, org, technician):
    with pytest.raises(ValidationError, match="one_day_in_four"):
        container.schedules.generate_rota(org.id, SYSTEM, RotaRequest(
            technician.id, "two_on_two_off", date(2026, 3, 1), date(2026, 3, 31)))


def test_a_technician_reads_only_his_own_schedule_and_cannot_write(client, make_token, container, org, technician,
                                                                   future):
    other = container.registry.upsert_staff(org.id, SYSTEM, {
        "full_name": "Петров Пётр Петрович", "role": "technician", "phone": "+7 912 000-00-01"})
    for who in (technician, other):
        container.schedules.add_shift(org.id, SYSTEM, who.id, future, future + timedelta(hours=8))
    headers = make_token(role="technician", staff_id=technician.id)
    own = client.get("/api/v1/shifts", headers=headers).get_json()
    assert [s["staff_id"] for s in own] == [technician.id]
    assert client.get("/api/v1/shifts", headers=headers,
                      query_string={"staff_id": other.id}).status_code == 403
    r = client.post("/api/v1/shifts", headers=headers, json={
        "staff_id": technician.id, "starts_at": _iso(future + timedelta(days=1)),
        "ends_at": _iso(future + timedelta(days=1, hours=8))})
    assert r.status_code == 403
    assert _count(container, t.shifts) == 2


def test_schedule_writes_and_deletions_are_audited(client, make_token, container, org, technician, future):
    headers = make_token(role="dispatcher")
    r = client.post("/api/v1/absences", headers=headers, json={
        "staff_id": technician.id, "starts_at": _iso(future), "ends_at": _iso(future + timedelta(days=2)),
        "kind": "sick_leave"})
    assert r.status_code == 201
    absence_id = r.get_json()["id"]
    assert client.get("/api/v1/absences", headers=headers).get_json()[0]["kind"] == "sick_leave"
    assert client.delete(f"/api/v1/absences/{absence_id}", headers=headers).status_code == 204
    assert _count(container, t.absences) == 0
    with container.engine.connect() as conn:
        actions = conn.execute(sa.select(t.audit_log.c.entity, t.audit_log.c.action)
                               .where(t.audit_log.c.entity == "absence").order_by(t.audit_log.c.id)).all()
    assert [tuple(a) for a in actions] == [("absence", "create"), ("absence", "delete")]


def test_a_shift_of_another_organisation_cannot_be_deleted(container, org, other_org, technician, future):
    shift = container.schedules.add_shift(org.id, SYSTEM, technician.id, future, future + timedelta(hours=8))
    with pytest.raises(Exception, match="another organisation"):
        container.schedules.delete_shift(other_org.id, SYSTEM, shift.id)
    assert _count(container, t.shifts) == 1
