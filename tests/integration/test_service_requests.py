"""The service layer on real PostgreSQL: numbering, caller ID, organisation boundaries, concurrency, and the outbox
written in the same transaction and published only after commit."""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
import sqlalchemy as sa

from journal_api.bootstrap import bootstrap
from journal_api.domain.errors import (CrossOrganisation, IllegalTransition, NotFound, UnknownReference,
                                      ValidationError)
from journal_api.domain.events import Actor
from journal_api.service.requests import NewRequest
from journal_api.service.uow import MemoryPublisher
from journal_api.storage import tables as t

SYSTEM = Actor.system("test")
DISPATCHER = Actor(kind="staff", role="dispatcher", id=None, name="Петрова А.С.")
WRITTEN = (t.requests, t.request_events, t.outbox, t.attachments, t.ratings, t.counters, t.residents,
           t.responsibilities)
THREADS, PER_THREAD = 8, 25


def _leak(**fields) -> NewRequest:
    return NewRequest(**{"description": "Течёт труба", "work_type": "water", **fields})


def _register(container, org, **fields):
    return container.requests.register(org.id, DISPATCHER, _leak(**fields))


def _snapshot(engine) -> dict:
    """What a refused write must leave untouched: every row of the tables a write could reach."""
    with engine.connect() as conn:
        return {table.name: sorted(tuple(map(str, row)) for row in conn.execute(sa.select(table)))
                for table in WRITTEN}


def _count(engine, table, *where) -> int:
    with engine.connect() as conn:
        return conn.execute(sa.select(sa.func.count()).select_from(table).where(*where)).scalar_one()


def _run_in_threads(work) -> list:
    """Run work(thread, step) THREADS x PER_THREAD times, THREADS at a time; return what each call returned."""
    with ThreadPoolExecutor(THREADS) as pool:
        futures = [pool.submit(lambda k=k: [work(k, j) for j in range(PER_THREAD)]) for k in range(THREADS)]
        return [item for f in futures for item in f.result()]


@pytest.fixture
def other_technician(container, other_org):
    return container.registry.upsert_staff(other_org.id, SYSTEM, {
        "full_name": "Чужой Техник", "role": "technician", "phone": "+7 912 999-00-00"})


@pytest.fixture
def other_building(container, other_org):
    return container.registry.upsert_building(other_org.id, SYSTEM, {
        "building_id": "E-1", "city": "Екатеринбург", "street": "ул. Мира", "house": "1", "entrances": 1, "floors": 5,
        "apartments": 10})


# -- numbers --------------------------------------------------------------------------------------------------------
def test_request_numbers_count_up_without_gaps_in_each_organisation_independently(container, org, other_org):
    ours = [_register(container, org).number for _ in range(5)]
    theirs = [_register(container, other_org).number for _ in range(3)]
    ours.append(_register(container, org).number)
    assert ours == [1, 2, 3, 4, 5, 6]
    assert theirs == [1, 2, 3]


def test_a_refused_registration_does_not_use_up_a_number(container, org, building):
    assert _register(container, org).number == 1
    with pytest.raises(ValidationError, match="outside building"):
        _register(container, org, building_id=building.id, apartment=999)
    assert _register(container, org).number == 2


def test_concurrent_registrations_in_one_organisation_never_share_or_skip_a_number(container, org):
    numbers = _run_in_threads(lambda k, j: _register(container, org, description=f"заявка {k}-{j}").number)
    assert sorted(numbers) == list(range(1, THREADS * PER_THREAD + 1))
    assert _count(container.engine, t.outbox, t.outbox.c.name == "request.registered") == THREADS * PER_THREAD


# -- caller ID ------------------------------------------------------------------------------------------------------
def test_a_known_residents_caller_id_fills_the_building_and_apartment(container, org, building):
    container.registry.add_resident(org.id, SYSTEM, "8 912 000-11-22", building_id=building.id, apartment=12)
    request = _register(container, org, channel="phone", caller_phone="+7 (912) 000-11-22")
    assert (request.caller_phone, request.building.id, request.apartment) == ("+79120001122", building.id, 12)


def test_an_apartment_the_caller_names_wins_over_the_one_on_file(container, org, building):
    container.registry.add_resident(org.id, SYSTEM, "+79120001122", building_id=building.id, apartment=12)
    request = _register(container, org, channel="sms", caller_phone="89120001122", apartment=40)
    assert (request.building.id, request.apartment) == (building.id, 40)


def test_a_caller_on_file_at_two_places_is_not_guessed(container, org, building):
    for apartment in (12, 13):
        container.registry.add_resident(org.id, SYSTEM, "+79120001122", building_id=building.id,
                                        apartment=apartment)
    request = _register(container, org, channel="phone", caller_phone="+79120001122")
    assert (request.building, request.apartment) == (None, None)


def test_caller_id_is_used_only_for_calls_and_sms(container, org, building):
    container.registry.add_resident(org.id, SYSTEM, "+79120001122", building_id=building.id, apartment=12)
    request = _register(container, org, channel="api", caller_phone="+79120001122")
    assert request.building is None


def test_a_resident_of_another_organisation_does_not_fill_our_request(container, org, other_org, other_building):
    container.registry.add_resident(other_org.id, SYSTEM, "+79120001122", building_id=other_building.id,
                                    apartment=3)
    request = _register(container, org, channel="phone", caller_phone="+79120001122")
    assert request.building is None


# -- organisation boundaries ----------------------------------------------------------------------------------------
@pytest.fixture
def our_request(container, org, building, technician):
    request = _register(container, org, building_id=building.id, apartment=12)
    container.requests.assign(org.id, request.number, DISPATCHER, "dispatcher", technician.id)
    return request


def _writes_of_another_organisation(container, org, other_org, our_request, building, other_building,
                                    other_technician):
    n, s = our_request.number, container.requests
    return {
        "transition": (NotFound, lambda: s.transition(other_org.id, n, DISPATCHER, "dispatcher", "cancelled",
                                                      reason="чужая")),
        "comment": (NotFound, lambda: s.comment(other_org.id, n, DISPATCHER, "dispatcher", "чужой комментарий")),
        "assign_their_staff": (UnknownReference, lambda: s.assign(org.id, n, DISPATCHER, "dispatcher",
                                                                   other_technician.id)),
        "move_to_their_building": (UnknownReference, lambda: s.update(org.id, n, DISPATCHER, "dispatcher", {},
                                                                      building_id=other_building.id,
                                                                      building_given=True)),
        "register_in_our_building": (UnknownReference, lambda: _register(container, other_org,
                                                                         building_id=building.id)),
        "resident_in_our_building": (CrossOrganisation, lambda: container.registry.add_resident(
            other_org.id, SYSTEM, "+79120001122", building_id=building.id, apartment=1)),
        "responsibility_for_our_building": (CrossOrganisation, lambda: container.registry.add_responsibility(
            other_org.id, SYSTEM, building.id, "water", other_technician.id)),
    }


@pytest.mark.parametrize("write", ["transition", "comment", "assign_their_staff", "move_to_their_building",
                                   "register_in_our_building", "resident_in_our_building",
                                   "responsibility_for_our_building"])
def test_a_write_across_organisations_is_refused_and_writes_nothing(container, org, other_org, our_request,
                                                                    building, other_building, other_technician,
                                                                    write):
    error, call = _writes_of_another_organisation(container, org, other_org, our_request, building,
                                                  other_building, other_technician)[write]
    before = _snapshot(container.engine)
    published = list(container.publisher.published)
    with pytest.raises(error):
        call()
    assert _snapshot(container.engine) == before
    assert container.publisher.published == published


def test_an_illegal_transition_writes_nothing(container, org, our_request):
    before = _snapshot(container.engine)
    with pytest.raises(IllegalTransition):
        container.requests.transition(org.id, our_request.number, DISPATCHER, "dispatcher", "done", report="x")
    assert _snapshot(container.engine) == before


def test_a_technician_cannot_see_a_request_of_someone_else(container, org, our_request, technician):
    stranger = Actor(kind="staff", role="technician", id=technician.id + 1000, name="Чужой")
    with pytest.raises(NotFound):
        container.requests.get(org.id, our_request.number, stranger)


# -- concurrency ----------------------------------------------------------------------------------------------------
def test_concurrent_comments_on_one_request_lose_no_history_entry(container, org, our_request):
    number, before = our_request.number, len(container.requests.history(org.id, our_request.number, DISPATCHER))

    def comment(k, j):
        return container.requests.comment(org.id, number, DISPATCHER, "dispatcher", f"комментарий {k}-{j}").version

    versions = _run_in_threads(comment)
    history = container.requests.history(org.id, number, DISPATCHER)
    comments = [e.new_value for e in history if e.kind == "comment"]
    assert len(history) == before + THREADS * PER_THREAD
    assert sorted(comments) == sorted(f"комментарий {k}-{j}" for k in range(THREADS) for j in range(PER_THREAD))
    assert len(set(versions)) == THREADS * PER_THREAD  # every write saw the one before it


def test_concurrent_transitions_and_comments_on_one_request_lose_no_history_entry(container, org, our_request,
                                                                                  technician):
    s, number = container.requests, our_request.number
    tech = Actor(kind="staff", role="technician", id=technician.id, name="Иванов И.П.")
    s.transition(org.id, number, tech, "sms", "accepted")
    start = container.clock() + timedelta(days=1)
    s.transition(org.id, number, tech, "sms", "postponed", reason="нет доступа", until=start)
    before = len(s.history(org.id, number, DISPATCHER))
    version = s.get(org.id, number, DISPATCHER).version

    def work(k, j):
        if j % 2:
            s.comment(org.id, number, DISPATCHER, "dispatcher", f"{k}-{j}")
            return 1
        s.transition(org.id, number, tech, "sms", "postponed", reason=f"{k}-{j}",
                     until=start + timedelta(minutes=1 + k * PER_THREAD + j))
        return 2  # the new date and the status

    expected = sum(_run_in_threads(work))
    history = s.history(org.id, number, DISPATCHER)
    assert len(history) == before + expected
    assert sum(1 for e in history if e.field == "postponed_until") == 1 + THREADS * ((PER_THREAD + 1) // 2)
    assert s.get(org.id, number, DISPATCHER).version == version + THREADS * PER_THREAD


def test_on_sqlite_concurrent_writers_queue_up_too(sqlite_container):
    c = sqlite_container
    org = c.registry.create_organisation("embedded", "УК Встроенная")
    numbers = _run_in_threads(lambda k, j: _register(c, org).number)
    assert sorted(numbers) == list(range(1, THREADS * PER_THREAD + 1))
    _run_in_threads(lambda k, j: c.requests.comment(org.id, 1, DISPATCHER, "dispatcher", f"{k}-{j}"))
    assert len(c.requests.history(org.id, 1, DISPATCHER)) == 1 + THREADS * PER_THREAD


# -- the outbox -----------------------------------------------------------------------------------------------------
class VisibilityProbe(MemoryPublisher):
    """Records, at each publish, which of the published outbox rows another connection can already see."""

    def __init__(self, engine):
        super().__init__()
        self.engine = engine
        self.visible: list[int] = []

    def publish(self, outbox_ids: list[int]) -> None:
        with self.engine.connect() as conn:
            self.visible.extend(conn.execute(sa.select(t.outbox.c.id).where(t.outbox.c.id.in_(outbox_ids))
                                             .order_by(t.outbox.c.id)).scalars())
        super().publish(outbox_ids)


@pytest.fixture
def probed(container):
    probe = VisibilityProbe(container.engine)
    return bootstrap(container.settings, publisher=probe, engine=container.engine), probe


def test_outbox_rows_are_published_only_after_they_are_committed(probed, org, technician):
    c, probe = probed
    request = _register(c, org)
    c.requests.assign(org.id, request.number, DISPATCHER, "dispatcher", technician.id)
    with c.engine.connect() as conn:
        rows = conn.execute(sa.select(t.outbox.c.id, t.outbox.c.name, t.outbox.c.request_id)
                            .order_by(t.outbox.c.id)).all()
    assert [(r.name, r.request_id) for r in rows] == [("request.registered", request.id),
                                                      ("request.assigned", request.id)]
    assert probe.published == [r.id for r in rows]
    assert probe.visible == probe.published


def test_a_refused_write_publishes_nothing(probed, org):
    c, probe = probed
    request = _register(c, org)
    published = list(probe.published)
    with pytest.raises(IllegalTransition):
        c.requests.transition(org.id, request.number, DISPATCHER, "dispatcher", "closed")
    assert probe.published == published


@pytest.fixture
def outbox_refused_at_commit(container):
    """A deferred trigger that fails the COMMIT when an outbox row carries the work type 'sabotage'."""
    with container.engine.begin() as conn:
        conn.exec_driver_sql("""
            CREATE FUNCTION test_refuse_outbox() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                IF NEW.payload->>'work_type' = 'sabotage' THEN RAISE EXCEPTION 'outbox refused by the test'; END IF;
                RETURN NULL;
            END $$""")
        conn.exec_driver_sql("CREATE CONSTRAINT TRIGGER test_refuse_outbox AFTER INSERT ON outbox "
                             "DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION test_refuse_outbox()")
    try:
        yield
    finally:
        with container.engine.begin() as conn:
            conn.exec_driver_sql("DROP TRIGGER test_refuse_outbox ON outbox")
            conn.exec_driver_sql("DROP FUNCTION test_refuse_outbox()")


def test_a_write_whose_outbox_row_fails_leaves_neither_the_request_nor_the_row(probed, org, outbox_refused_at_commit):
    c, probe = probed
    c.registry.create_work_type(org.id, SYSTEM, "sabotage", "Проверка")
    before = _snapshot(c.engine)
    with pytest.raises(sa.exc.DBAPIError, match="outbox refused by the test"):
        _register(c, org, work_type="sabotage")
    assert _snapshot(c.engine) == before
    assert probe.published == []
    assert _register(c, org).number == 1  # the counter's increment was rolled back too
