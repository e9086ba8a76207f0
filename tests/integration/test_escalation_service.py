"""The escalation ladder on real requests in PostgreSQL: what each tick emits to the outbox, to whom, and once."""
from __future__ import annotations

import threading
from datetime import datetime, timedelta, timezone

import pytest
import sqlalchemy as sa

from journal_api.bootstrap import bootstrap
from journal_api.domain.events import Actor
from journal_api.service.escalation import EscalationService
from journal_api.service.requests import NewRequest
from journal_api.service.uow import MemoryPublisher
from journal_api.storage import tables as t
from request_api_support import Clock

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=timezone.utc)
SYSTEM = Actor.system("test")
DISPATCH = Actor(kind="staff", role="dispatcher", id=None, name="Диспетчер")


@pytest.fixture
def clock():
    return Clock(T0)


@pytest.fixture
def c(container, settings, pg_engine, clock):
    """The wiring with a clock the test moves."""
    return bootstrap(settings, publisher=MemoryPublisher(), engine=pg_engine, clock=clock)


@pytest.fixture
def service(c):
    return EscalationService(c.uow)


def _staff(c, org_id, role, name, phone):
    return c.registry.upsert_staff(org_id, SYSTEM, {"full_name": name, "role": role, "phone": phone})


@pytest.fixture
def people(c, org, technician):
    return {"tech": technician,
            "day": _staff(c, org.id, "dispatcher", "Петрова Анна", "+7 912 000-00-01"),
            "night": _staff(c, org.id, "dispatcher", "Сидорова Ольга", "+7 912 000-00-02"),
            "boss": _staff(c, org.id, "manager", "Смирнов Павел", "+7 912 000-00-03")}


def _shift(c, org_id, staff_id, start, hours):
    with c.uow() as uow:
        uow.session.execute(sa.insert(t.shifts).values(org_id=org_id, staff_id=staff_id, starts_at=start,
                                                       ends_at=start + timedelta(hours=hours), kind="shift"))
        uow.commit()


def _emergency(c, org_id, staff_id=None, urgency="emergency"):
    """A request registered at the clock's time with deadlines the test knows: emergencies are localised in 2 h and
    repaired in 24 h, normal requests repaired in 8 h."""
    request = c.requests.register(org_id, DISPATCH, NewRequest(description="Течь в подвале", work_type="water",
                                                               urgency=urgency))
    now = request.registered_at
    local, repair = (now + timedelta(hours=2), now + timedelta(hours=24)) if urgency == "emergency" else \
        (None, now + timedelta(hours=8))
    with c.uow() as uow:
        uow.session.execute(sa.update(t.requests).where(t.requests.c.id == request.id).values(
            localisation_due_at=local, repair_due_at=repair, due_at=local or repair))
        uow.commit()
    if staff_id is not None:
        c.requests.assign(org_id, request.number, DISPATCH, "api", staff_id)
    return request


def _outbox(c, after_id=0):
    with c.engine.connect() as conn:
        rows = conn.execute(sa.select(t.outbox.c.id, t.outbox.c.name, t.outbox.c.payload)
                            .where(t.outbox.c.name.like("request.%_due"), t.outbox.c.id > after_id)
                            .order_by(t.outbox.c.id)).all()
    return rows


def _at(clock, service, minutes):
    clock.now = T0 + timedelta(minutes=minutes)
    return service.tick(clock.now)


def _emitted(c, clock, service, minutes):
    """Tick at T0 + minutes; the (event, track, target) triples it emitted."""
    last = max((r.id for r in _outbox(c)), default=0)
    count = _at(clock, service, minutes)
    rows = _outbox(c, last)
    assert count == len(rows)
    return [(r.name.split(".")[1], r.payload["track"], r.payload["target"]) for r in rows]


REMIND, ESCALATE = "reminder_due", "escalation_due"


def test_an_unaccepted_emergency_reminds_the_assignee_twice_then_escalates_to_the_dispatcher_on_shift(
        c, org, people, clock, service):
    _shift(c, org.id, people["day"].id, T0 - timedelta(hours=1), 12)
    _shift(c, org.id, people["night"].id, T0 + timedelta(hours=11), 12)
    request = _emergency(c, org.id, people["tech"].id)
    assert _emitted(c, clock, service, 9) == []
    assert _emitted(c, clock, service, 10) == [(REMIND, "acceptance", "assignee")]
    assert _emitted(c, clock, service, 19) == []
    assert _emitted(c, clock, service, 20) == [(REMIND, "acceptance", "assignee")]
    assert _emitted(c, clock, service, 30) == [(ESCALATE, "acceptance", "dispatcher_on_duty")]
    payload = _outbox(c)[-1].payload
    assert payload["number"] == request.number
    assert payload["recipients"] == [people["day"].id] and payload["fallback"] is False
    assert payload["template"] == "escalation_acceptance"
    assert payload["key"].startswith("acceptance:escalation:assigned+30m:dispatcher_on_duty@")
    reminders = [r.payload for r in _outbox(c) if r.payload["target"] == "assignee"]
    assert [p["recipients"] for p in reminders] == [[people["tech"].id]] * 2


def test_nobody_on_shift_falls_back_to_every_active_dispatcher_with_a_flag(c, org, people, clock, service):
    c.registry.update_staff(org.id, SYSTEM, people["night"].id, {"active": False})
    _emergency(c, org.id, people["tech"].id)
    assert _emitted(c, clock, service, 30)[-1] == (ESCALATE, "acceptance", "dispatcher_on_duty")
    payload = _outbox(c)[-1].payload
    assert payload["recipients"] == [people["day"].id] and payload["fallback"] is True


def test_accepting_stops_the_acceptance_reminders_but_the_deadline_reminders_continue(c, org, people, clock, service):
    request = _emergency(c, org.id, people["tech"].id)
    assert _emitted(c, clock, service, 10) == [(REMIND, "acceptance", "assignee")]
    clock.now = T0 + timedelta(minutes=12)
    tech = Actor(kind="staff", role="technician", id=people["tech"].id, name="Иванов")
    c.requests.transition(org.id, request.number, tech, "api", "accepted")
    assert _emitted(c, clock, service, 59) == []
    assert _emitted(c, clock, service, 60) == [(REMIND, "localisation", "assignee")]


def test_deadline_points_then_repeats_and_managers_until_the_request_is_closed(c, org, people, clock, service):
    request = _emergency(c, org.id, people["tech"].id)
    tech = Actor(kind="staff", role="technician", id=people["tech"].id, name="Иванов")
    clock.now = T0 + timedelta(minutes=1)
    c.requests.transition(org.id, request.number, tech, "api", "accepted")
    assert _emitted(c, clock, service, 60) == [(REMIND, "localisation", "assignee")]  # 50 % of 2 h
    assert _emitted(c, clock, service, 95) == []
    assert _emitted(c, clock, service, 96) == [(REMIND, "localisation", "assignee")]  # 80 %
    assert sorted(_emitted(c, clock, service, 120)) == [(ESCALATE, "localisation", "dispatcher_on_duty"),
                                                         (REMIND, "localisation", "assignee")]
    assert _emitted(c, clock, service, 125) == []
    assert _emitted(c, clock, service, 130) == [(REMIND, "localisation", "assignee")]  # every 10 m
    assert sorted(_emitted(c, clock, service, 150)) == [(ESCALATE, "localisation", "manager"),
                                                         (REMIND, "localisation", "assignee")]
    manager = [r.payload for r in _outbox(c) if r.payload["target"] == "manager"]
    assert manager[0]["recipients"] == [people["boss"].id] and manager[0]["template"] == "escalation_overdue"
    repeats = [r.payload["repeat"] for r in _outbox(c) if r.payload["repeat"]]
    assert repeats == [1, 3]  # after a pause only the latest repeat is sent
    clock.now = T0 + timedelta(minutes=151)
    c.requests.transition(org.id, request.number, tech, "api", "done", report="Заменён участок трубы")
    c.requests.transition(org.id, request.number, DISPATCH, "api", "closed")
    assert _emitted(c, clock, service, 24 * 60 + 120) == []


def test_localising_stops_the_localisation_track_and_the_repair_deadline_takes_over(c, org, people, clock, service):
    request = _emergency(c, org.id, people["tech"].id)
    tech = Actor(kind="staff", role="technician", id=people["tech"].id, name="Иванов")
    clock.now = T0 + timedelta(minutes=1)
    c.requests.transition(org.id, request.number, tech, "api", "accepted")
    clock.now = T0 + timedelta(minutes=50)
    c.requests.localise(org.id, request.number, tech, "api")
    assert _emitted(c, clock, service, 5 * 60) == []
    assert _emitted(c, clock, service, 12 * 60) == [(REMIND, "repair", "assignee")]
    assert (ESCALATE, "repair", "manager") in _emitted(c, clock, service, 25 * 60)


def test_a_request_nobody_holds_escalates_to_the_dispatcher_then_the_manager(c, org, people, clock, service):
    _emergency(c, org.id, urgency="normal")
    assert _emitted(c, clock, service, 0) == [(ESCALATE, "unassigned", "dispatcher_on_duty")]
    assert _emitted(c, clock, service, 119) == []
    assert _emitted(c, clock, service, 120) == [(ESCALATE, "unassigned", "manager")]


def test_two_ticks_at_the_same_time_emit_once(c, org, people, clock, service):
    _emergency(c, org.id, people["tech"].id)
    assert _at(clock, service, 30) == 3
    assert service.tick(clock.now) == 0
    with c.engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(t.escalation_log)).scalar() == 3
    assert len(_outbox(c)) == 3


def test_workers_ticking_together_emit_each_action_once(c, org, people, clock):
    for _ in range(20):
        _emergency(c, org.id, people["tech"].id)
    clock.now = T0 + timedelta(minutes=30)
    counts, errors = [], []

    def work():
        try:
            counts.append(EscalationService(c.uow).tick(clock.now))
        except Exception as exc:  # pragma: no cover - reported by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert sum(counts) == 60 == len(_outbox(c))
    assert len({r.payload["key"] + str(r.payload["number"]) for r in _outbox(c)}) == 60


def test_an_organisation_override_changes_only_that_organisation(c, org, other_org, people, clock, service):
    other_tech = _staff(c, other_org.id, "technician", "Кузнецов Пётр", "+7 912 000-00-09")
    service.set_track(other_org.id, SYSTEM, "acceptance", {
        "statuses": ["assigned"], "until": "accepted",
        "emergency": [{"at": "assigned+5m", "remind": "assignee", "template": "reminder_quick"}], "normal": []})
    ours = _emergency(c, org.id, people["tech"].id)
    theirs = _emergency(c, other_org.id, other_tech.id)
    assert _at(clock, service, 5) == 1
    payload = _outbox(c)[-1].payload
    assert (payload["number"], payload["template"], payload["recipients"]) == (theirs.number, "reminder_quick",
                                                                               [other_tech.id])
    assert _at(clock, service, 30) == 3  # ours: the default ladder; theirs: nothing more on acceptance
    assert {r.payload["number"] for r in _outbox(c)[1:]} == {ours.number}
    assert _outbox(c)[1].payload["recipients"] == [people["tech"].id]


def test_the_outbox_rows_name_the_request_and_carry_the_recipients(c, org, people, clock, service):
    request = _emergency(c, org.id, people["tech"].id)
    _at(clock, service, 150)
    with c.engine.connect() as conn:
        rows = conn.execute(sa.select(t.outbox.c.request_id, t.outbox.c.org_id, t.outbox.c.payload)
                            .where(t.outbox.c.name == "request.escalation_due")).all()
    assert {r.request_id for r in rows} == {request.id} and {r.org_id for r in rows} == {org.id}
    by_target = {r.payload["target"]: r.payload["recipients"] for r in rows}
    assert by_target == {"dispatcher_on_duty": sorted([people["day"].id, people["night"].id]),
                         "manager": [people["boss"].id]}
    assert all(set(r.payload) >= {"number", "track", "key", "template", "kind", "due_at"} for r in rows)


def test_the_embedded_sqlite_database_logs_and_emits_each_action_once(sqlite_container):
    c = sqlite_container
    org = c.registry.create_organisation("lite", "УК Лайт", "Europe/Moscow")
    tech = _staff(c, org.id, "technician", "Иванов Иван", "+7 912 000-00-07")
    request = _emergency(c, org.id, tech.id)
    service = EscalationService(c.uow)
    later = request.registered_at + timedelta(minutes=31)  # the assignment came a moment after
    emitted = service.tick(later)
    assert emitted >= 3 and service.tick(later) == 0
    assert len(_outbox(c)) == emitted
    assert {r.payload["recipients"][0] for r in _outbox(c) if r.payload["target"] == "assignee"} == {tech.id}


def test_the_operators_command_ticks_once_and_reports_the_count(container, settings, org):
    from click.testing import CliRunner

    from journal_api.cli import cli

    container.requests.register(org.id, DISPATCH, NewRequest(description="Нет света в подъезде"))
    env = {"HOTLINE_DATABASE_URL": settings.database_url, "HOTLINE_DATA_DIR": settings.data_dir,
           "HOTLINE_CONFIG": None}
    first = CliRunner().invoke(cli, ["escalate", "--once"], env=env, catch_exceptions=False)
    assert first.exit_code == 0 and "Emitted 1 " in first.output  # nobody holds it: the dispatcher hears at once
    again = CliRunner().invoke(cli, ["escalate", "--once"], env=env, catch_exceptions=False)
    assert "Emitted 0 " in again.output
    assert [r.payload["track"] for r in _outbox(container)] == ["unassigned"]


def test_a_new_assignee_gets_his_own_acceptance_reminders_from_his_assignment(c, org, people, clock, service):
    request = _emergency(c, org.id, people["tech"].id)
    assert len(_emitted(c, clock, service, 30)) == 3
    other = _staff(c, org.id, "technician", "Кузнецов Пётр", "+7 912 000-00-08")
    clock.now = T0 + timedelta(minutes=35)
    c.requests.assign(org.id, request.number, DISPATCH, "api", other.id)
    assert _emitted(c, clock, service, 44) == []
    assert _emitted(c, clock, service, 45) == [(REMIND, "acceptance", "assignee")]
    assert _outbox(c)[-1].payload["recipients"] == [other.id]


def test_an_override_saved_after_a_tick_applies_at_the_next_one(c, org, people, clock, service):
    _emergency(c, org.id, people["tech"].id)
    assert len(_emitted(c, clock, service, 10)) == 1
    clock.now = T0 + timedelta(minutes=11)
    service.set_track(org.id, SYSTEM, "acceptance", {
        "statuses": ["assigned"], "until": "accepted",
        "emergency": [{"at": "assigned+5m", "escalate": "manager"}], "normal": []})
    assert _emitted(c, clock, service, 11) == [(ESCALATE, "acceptance", "manager")]  # a point already passed
    assert _emitted(c, clock, service, 30) == []
