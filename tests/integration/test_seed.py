"""The demo organisation on real PostgreSQL."""
from __future__ import annotations

from datetime import date, timedelta

import sqlalchemy as sa

from journal_api.seed import load_demo_data, seed_demo
from journal_api.storage.tables import metadata

MONDAY = date(2026, 3, 2)


def _row_counts(engine) -> dict[str, int]:
    with engine.connect() as conn:
        return {t.name: conn.scalar(sa.select(sa.func.count()).select_from(t)) for t in metadata.sorted_tables}


def _shifts(engine, external_id: str) -> list:
    with engine.connect() as conn:
        return list(conn.execute(sa.text(
            "SELECT s.starts_at, s.ends_at FROM shifts s JOIN staff p ON p.id = s.staff_id "
            "WHERE p.external_id = :e ORDER BY s.starts_at"), {"e": external_id}))


def test_seeding_the_demo_twice_changes_nothing(container):
    first = seed_demo(container, today=MONDAY)
    assert first.created["organisations"] == 1
    assert first.created["buildings"] == 6
    assert first.created["staff"] == 8
    before = _row_counts(container.engine)

    second = seed_demo(container, today=MONDAY)

    assert not second.changed, second.created
    assert _row_counts(container.engine) == before


def test_the_demo_has_dispatchers_technicians_a_manager_an_admin_and_responsibilities(container):
    seed_demo(container, today=MONDAY)
    org = container.registry.organisation_by_code("demo")
    assert org.timezone == "Europe/Moscow"
    roles = sorted(s.role for s in container.registry.list_staff(org.id))
    assert roles == ["admin", "dispatcher", "dispatcher", "manager"] + ["technician"] * 4
    assert all(s.sip_account for s in container.registry.list_staff(org.id))
    plumbing = container.registry.list_responsibilities(org.id, work_type="water")
    first_choice = {r.building.code: r.staff.external_id for r in plumbing if r.priority == 1}
    assert first_choice["SP-01"] == "demo-tech-1" and first_choice["LB-05"] == "demo-tech-2"
    assert len(container.registry.find_residents(org.id, "+79035551001")) == 1


def test_dispatchers_work_sutki_cherez_troe_and_technicians_work_weekday_day_shifts(container):
    seed_demo(container, today=MONDAY)
    dispatcher = _shifts(container.engine, "demo-disp-1")
    assert dispatcher, "the dispatcher has no shifts"
    assert all(end - start == timedelta(hours=24) for start, end in dispatcher)
    assert {b.starts_at - a.starts_at for a, b in zip(dispatcher, dispatcher[1:])} == {timedelta(days=4)}
    assert dispatcher[0].starts_at.hour == 5  # 08:00 in Moscow
    technician = _shifts(container.engine, "demo-tech-1")
    assert len(technician) == 5 * load_demo_data()["schedule"]["weeks"]
    assert all(s.starts_at.weekday() < 5 and s.ends_at - s.starts_at == timedelta(hours=9) for s in technician)


def test_a_technician_on_vacation_has_no_shifts_during_it(container):
    seed_demo(container, today=MONDAY)
    with container.engine.connect() as conn:
        vacation = conn.execute(sa.text(
            "SELECT a.starts_at, a.ends_at FROM absences a JOIN staff p ON p.id = a.staff_id "
            "WHERE p.external_id = 'demo-tech-2' AND a.kind = 'vacation'")).one()
    shifts = _shifts(container.engine, "demo-tech-2")
    assert shifts
    assert not [s for s in shifts if s.starts_at < vacation.ends_at and vacation.starts_at < s.ends_at]


def test_a_later_run_adds_the_new_days_of_the_rota_and_no_second_vacation(container):
    seed_demo(container, today=MONDAY)
    later = seed_demo(container, today=MONDAY + timedelta(days=7))
    assert set(later.created) == {"shifts"}
    with container.engine.connect() as conn:
        assert conn.scalar(sa.text("SELECT count(*) FROM absences")) == 1
