"""The Request entity: every change checks, applies, writes one history entry per changed field and records an
event. Plain domain objects only; ids are set by hand."""
from __future__ import annotations

from datetime import timedelta

import pytest

from journal_api.domain.errors import CrossOrganisation, Forbidden, IllegalTransition, ValidationError
from journal_api.domain.events import Actor
from journal_api.domain.request import Attachment, HistoryEntry, Rating, Request

from domain_objects import NOW, ORG, OTHER_ORG, make_building, make_staff

LATER = NOW + timedelta(minutes=5)


def _entries(request):
    return [(e.kind, e.field, e.old_value, e.new_value) for e in request.pending_history]


def _events(request):
    return [e.name for e in request.pending_events]


def _fresh(request):
    """Forget what registration recorded, as the unit of work does after a commit."""
    request._init_pending()
    return request


def _tech_actor(staff):
    return Actor(kind="staff", role="technician", id=staff.id, name=staff.short_name)


def _accepted(make_request, technician, dispatcher_actor):
    request = make_request()
    request.assign(technician, dispatcher_actor, "dispatcher", NOW)
    request.transition("accepted", _tech_actor(technician), "sms", NOW)
    return _fresh(request)


# -- registration ---------------------------------------------------------------------------------------------------
def test_registration_writes_the_number_into_the_history_and_records_a_registered_event(make_request):
    request = make_request()
    assert _entries(request) == [("created", "number", None, "7")]
    entry = request.pending_history[0]
    assert (entry.actor_kind, entry.actor_role, entry.channel, entry.at) == ("system", "system", "phone", NOW)
    [event] = request.pending_events
    assert (event.name, event.org_id, event.request_id) == ("request.registered", ORG, 42)
    assert event.data == {"number": 7, "channel": "phone", "urgency": "emergency", "work_type": "water"}


def test_a_new_request_starts_unassigned_in_status_new(make_request):
    request = make_request()
    assert (request.status, request.assignee, request.closed_at) == ("new", None, None)
    assert request.is_open


def test_a_description_is_required(building):
    with pytest.raises(ValidationError) as caught:
        Request(org_id=ORG, number=1, channel="api", description="   ", work_type="water", urgency="normal",
                registered_at=NOW)
    assert caught.value.field == "description"


@pytest.mark.parametrize("field,value", [("channel", "fax"), ("urgency", "whenever")])
def test_an_unknown_channel_or_urgency_is_refused(field, value):
    data = {"channel": "api", "urgency": "normal", field: value}
    with pytest.raises(ValidationError) as caught:
        Request(org_id=ORG, number=1, description="x", work_type="water", registered_at=NOW, **data)
    assert caught.value.field == field


# -- deadlines ------------------------------------------------------------------------------------------------------
def test_due_at_watches_localisation_until_the_emergency_is_localised_then_the_repair(make_request, technician,
                                                                                     dispatcher_actor):
    request = make_request()
    assert request.due_at == request.localisation_due_at == NOW + timedelta(minutes=30)
    request.assign(technician, dispatcher_actor, "dispatcher", NOW)
    request.transition("accepted", _tech_actor(technician), "sms", NOW)
    assert request.due_at == request.localisation_due_at  # accepting is not containing the leak
    request.localise(_tech_actor(technician), "sms", LATER, note="перекрыл стояк")
    assert request.localised_at == LATER and request.pending_history[-1].note == "перекрыл стояк"
    assert request.due_at == request.repair_due_at == NOW + timedelta(days=3)
    assert request.pending_events[-1].name == "request.localised"
    request.transition("postponed", _tech_actor(technician), "sms", NOW, reason="no access",
                       until=NOW + timedelta(days=1))
    assert request.due_at == request.repair_due_at


def test_a_request_without_deadlines_has_no_due_date_and_is_never_overdue(make_request):
    request = make_request(urgency="normal")
    assert request.due_at is None
    assert not request.is_overdue(NOW + timedelta(days=365))


def test_an_open_request_past_its_due_date_is_overdue_and_a_closed_one_is_not(make_request, dispatcher_actor):
    request = make_request()
    assert not request.is_overdue(NOW + timedelta(minutes=29))
    assert request.is_overdue(NOW + timedelta(minutes=31))
    request.transition("cancelled", dispatcher_actor, "dispatcher", LATER, reason="duplicate")
    assert not request.is_overdue(NOW + timedelta(minutes=31))


# -- transitions ----------------------------------------------------------------------------------------------------
def test_a_transition_writes_the_old_and_new_status_and_records_an_event(make_request, technician,
                                                                         dispatcher_actor):
    request = _accepted(make_request, technician, dispatcher_actor)
    actor = _tech_actor(technician)
    request.transition("done", actor, "sms", LATER, report="  Заменил кран  ")
    assert request.status == "done" and request.report == "Заменил кран"
    assert _entries(request) == [("field", "report", None, "Заменил кран"),
                                 ("status", "status", "accepted", "done"),
                                 ("field", "localised_at", None, LATER.isoformat())]  # repaired implies localised
    assert all((e.actor_id, e.channel, e.at) == (technician.id, "sms", LATER) for e in request.pending_history)
    [event] = request.pending_events
    assert event.name == "request.status_changed"
    assert (event.data["source"], event.data["target"], event.data["actor_role"]) == ("accepted", "done",
                                                                                      "technician")


def test_postponing_writes_the_new_date_and_the_reason(make_request, technician, dispatcher_actor):
    request = _accepted(make_request, technician, dispatcher_actor)
    until = NOW + timedelta(days=2)
    request.transition("postponed", dispatcher_actor, "dispatcher", LATER, reason="нет доступа", until=until)
    assert (request.postponed_until, request.status_reason) == (until, "нет доступа")
    assert _entries(request) == [("field", "postponed_until", None, until.isoformat()),
                                 ("status", "status", "accepted", "postponed")]
    assert request.pending_history[-1].note == "нет доступа"


def test_resuming_a_postponed_request_clears_its_postponed_date_in_the_history(make_request, technician,
                                                                            dispatcher_actor):
    request = _accepted(make_request, technician, dispatcher_actor)
    until = NOW + timedelta(days=2)
    request.transition("postponed", _tech_actor(technician), "sms", LATER, reason="нет доступа", until=until)
    request = _fresh(request)
    request.transition("accepted", _tech_actor(technician), "sms", LATER)
    assert request.postponed_until is None
    assert ("field", "postponed_until", until.isoformat(), None) in _entries(request)


def test_applying_new_deadlines_writes_each_changed_field_and_an_event(make_request, dispatcher_actor):
    from journal_api.domain.request import Deadlines

    request = _fresh(make_request(urgency="normal"))
    assert request.due_at is None
    new = Deadlines(localisation_due_at=NOW + timedelta(minutes=30), repair_due_at=NOW + timedelta(days=3),
                    rule="federal.emergency", localisation_clause="ПП 416 п.13", repair_clause="ПП 416 п.13")
    changed = request.apply_deadlines(new, dispatcher_actor, "dispatcher", LATER)
    assert changed == ["localisation_due_at", "repair_due_at", "deadline_rule", "localisation_clause",
                       "repair_clause"]
    assert request.due_at == NOW + timedelta(minutes=30)
    assert {e[0] for e in _entries(request)} == {"deadline"}
    assert _events(request) == ["request.deadlines_changed"]
    assert request.apply_deadlines(new, dispatcher_actor, "dispatcher", LATER) == []


@pytest.mark.parametrize("offset", [timedelta(0), timedelta(seconds=-1), timedelta(days=-3)])
def test_postponing_needs_a_date_in_the_future_and_changes_nothing_otherwise(make_request, technician,
                                                                             dispatcher_actor, offset):
    request = _accepted(make_request, technician, dispatcher_actor)
    with pytest.raises(ValidationError) as caught:
        request.transition("postponed", dispatcher_actor, "dispatcher", LATER, reason="нет доступа",
                           until=LATER + offset)
    assert caught.value.field == "until"
    assert (request.status, request.postponed_until) == ("accepted", None)
    assert request.pending_history == [] and request.pending_events == []


@pytest.mark.parametrize("target", ["closed", "cancelled"])
def test_closing_or_cancelling_stamps_closed_at_and_ends_the_request(make_request, dispatcher_actor, technician,
                                                                     target):
    request = _accepted(make_request, technician, dispatcher_actor)
    if target == "closed":
        request.transition("done", dispatcher_actor, "dispatcher", NOW, report="ok")
    request.transition(target, dispatcher_actor, "dispatcher", LATER, reason="дубль")
    assert request.closed_at == LATER
    assert not request.is_open


def test_a_technician_can_move_his_own_request(make_request, technician, dispatcher_actor):
    request = make_request()
    request.assign(technician, dispatcher_actor, "dispatcher", NOW)
    request.transition("accepted", _tech_actor(technician), "sms", LATER)
    assert request.status == "accepted"


def test_a_technician_cannot_move_an_unassigned_request(make_request, technician):
    request = _fresh(make_request())
    with pytest.raises(Forbidden, match="assigned to him"):
        request.transition("cancelled", _tech_actor(technician), "sms", LATER, reason="x")
    assert request.status == "new" and request.pending_history == []


def test_a_technician_cannot_move_a_request_assigned_to_someone_else(make_request, technician, dispatcher_actor):
    request = make_request()
    request.assign(technician, dispatcher_actor, "dispatcher", NOW)
    stranger = make_staff(id_=6, name="Сидоров Пётр")
    with pytest.raises(Forbidden, match="assigned to him"):
        request.transition("accepted", _tech_actor(stranger), "sms", LATER)
    assert request.status == "assigned"


@pytest.mark.parametrize("target", ["closed", "cancelled"])
def test_a_technician_cannot_close_or_cancel_even_his_own_request(make_request, technician, dispatcher_actor,
                                                                  target):
    request = _accepted(make_request, technician, dispatcher_actor)
    request.transition("done", _tech_actor(technician), "sms", NOW, report="ok")
    with pytest.raises(IllegalTransition):
        request.transition(target, _tech_actor(technician), "sms", LATER, reason="готово")
    assert request.status == "done"


@pytest.mark.parametrize("target", ["assigned", "new"])
def test_assignment_only_statuses_cannot_be_reached_through_transition(make_request, technician, dispatcher_actor,
                                                                       target):
    request = _accepted(make_request, technician, dispatcher_actor)
    with pytest.raises(IllegalTransition):
        request.transition(target, dispatcher_actor, "dispatcher", LATER, reason="x")
    assert request.status == "accepted" and request.pending_history == []


# -- assignment -----------------------------------------------------------------------------------------------------
def test_assigning_writes_the_assignee_and_the_status_change_and_records_an_event(make_request, technician,
                                                                                  dispatcher_actor):
    request = _fresh(make_request())
    request.assign(technician, dispatcher_actor, "dispatcher", LATER, reason="дежурный")
    assert request.assignee is technician and request.status == "assigned"
    assert _entries(request) == [("assignment", "assignee", None, technician.full_name),
                                 ("status", "status", "new", "assigned")]
    [event] = request.pending_events
    assert event.name == "request.assigned"
    assert event.data == {"number": 7, "staff_id": 5, "previous_staff_id": None, "reason": "дежурный"}


def test_reassigning_writes_who_it_was_and_who_it_is_without_a_status_entry(make_request, technician,
                                                                            dispatcher_actor):
    request = make_request()
    request.assign(technician, dispatcher_actor, "dispatcher", NOW)
    _fresh(request)
    other = make_staff(id_=6, name="Сидоров Пётр")
    request.assign(other, dispatcher_actor, "dispatcher", LATER)
    assert _entries(request) == [("assignment", "assignee", technician.full_name, other.full_name)]
    assert request.pending_events[0].data["previous_staff_id"] == technician.id


def test_assigning_the_same_technician_again_changes_nothing(make_request, technician, dispatcher_actor):
    request = make_request()
    request.assign(technician, dispatcher_actor, "dispatcher", NOW)
    _fresh(request)
    request.assign(technician, dispatcher_actor, "dispatcher", LATER)
    assert request.pending_history == [] and request.pending_events == []


def test_unassigning_puts_the_request_back_to_new(make_request, technician, dispatcher_actor):
    request = make_request()
    request.assign(technician, dispatcher_actor, "dispatcher", NOW)
    request.assign(None, dispatcher_actor, "dispatcher", LATER)
    assert (request.status, request.assignee) == ("new", None)


def test_a_technician_cannot_assign(make_request, technician):
    request = make_request()
    with pytest.raises(Forbidden, match="cannot assign"):
        request.assign(technician, _tech_actor(technician), "sms", LATER)
    assert request.assignee is None


def test_staff_of_another_organisation_cannot_be_assigned(make_request, dispatcher_actor):
    request = _fresh(make_request())
    with pytest.raises(CrossOrganisation):
        request.assign(make_staff(org_id=OTHER_ORG, id_=9), dispatcher_actor, "dispatcher", LATER)
    assert request.assignee is None and request.pending_history == []


def test_only_an_active_technician_can_be_assigned(make_request, dispatcher_actor):
    request = make_request()
    with pytest.raises(ValidationError, match="not an active technician"):
        request.assign(make_staff(id_=8, role="dispatcher"), dispatcher_actor, "dispatcher", LATER)
    retired = make_staff(id_=9)
    retired.active = False
    with pytest.raises(ValidationError, match="not an active technician"):
        request.assign(retired, dispatcher_actor, "dispatcher", LATER)
    assert request.status == "new"


def test_a_done_request_cannot_be_reassigned(make_request, technician, dispatcher_actor):
    request = _accepted(make_request, technician, dispatcher_actor)
    request.transition("done", dispatcher_actor, "dispatcher", NOW, report="ok")
    with pytest.raises(IllegalTransition):
        request.assign(make_staff(id_=6), dispatcher_actor, "dispatcher", LATER)


# -- corrections ----------------------------------------------------------------------------------------------------
def test_an_update_writes_one_entry_per_changed_field_with_old_and_new_values(make_request, dispatcher_actor):
    request = _fresh(make_request())
    changed = request.update({"description": "Течёт стояк", "urgency": "emergency", "apartment": 15,
                              "caller_name": "Мария"}, dispatcher_actor, "dispatcher", LATER)
    assert changed == ["description", "apartment", "caller_name"]  # urgency was already 'emergency'
    assert _entries(request) == [("field", "description", "Течёт труба", "Течёт стояк"),
                                 ("field", "apartment", "12", "15"),
                                 ("field", "caller_name", None, "Мария")]
    assert request.updated_at == LATER
    [event] = request.pending_events
    assert (event.name, event.data["fields"]) == ("request.updated", changed)


def test_an_update_that_changes_nothing_writes_nothing(make_request, dispatcher_actor):
    request = _fresh(make_request())
    assert request.update({"apartment": 12}, dispatcher_actor, "dispatcher", LATER) == []
    assert request.pending_history == [] and request.pending_events == []


def test_moving_a_request_to_another_building_writes_both_building_codes(make_request, dispatcher_actor):
    request = _fresh(make_request())
    target = make_building(id_=11, apartments=20)
    request.update({"apartment": 3}, dispatcher_actor, "dispatcher", LATER, building=target, building_given=True)
    assert request.building is target
    assert _entries(request)[0] == ("field", "building", "B-10", "B-11")


def test_an_invalid_field_in_an_update_leaves_every_field_unchanged(make_request, dispatcher_actor):
    request = _fresh(make_request())
    with pytest.raises(ValidationError) as caught:
        request.update({"description": "Новое", "apartment": 500}, dispatcher_actor, "dispatcher", LATER)
    assert caught.value.field == "apartment"
    assert (request.description, request.apartment) == ("Течёт труба", 12)
    assert request.pending_history == []


@pytest.mark.parametrize("field,value", [("reason", "x" * 201), ("caller_name", "x" * 201),
                                         ("description", "x" * 4001), ("description", "  ")])
def test_an_update_refuses_texts_that_do_not_fit(make_request, dispatcher_actor, field, value):
    request = _fresh(make_request())
    with pytest.raises(ValidationError) as caught:
        request.update({field: value}, dispatcher_actor, "dispatcher", LATER)
    assert caught.value.field == field
    assert request.pending_history == []


def test_fields_outside_the_editable_list_cannot_be_updated(make_request, dispatcher_actor):
    request = make_request()
    with pytest.raises(ValidationError, match="cannot be edited: number, status"):
        request.update({"status": "closed", "number": 1}, dispatcher_actor, "dispatcher", LATER)


def test_an_unknown_work_type_is_refused_when_the_known_ones_are_given(make_request, dispatcher_actor):
    request = make_request()
    with pytest.raises(ValidationError) as caught:
        request.update({"work_type": "telepathy"}, dispatcher_actor, "dispatcher", LATER,
                       known_work_types=frozenset({"water", "gas"}))
    assert caught.value.field == "work_type"


def test_a_technician_cannot_edit_the_facts(make_request, technician):
    request = make_request()
    with pytest.raises(Forbidden):
        request.update({"description": "иначе"}, _tech_actor(technician), "sms", LATER)


# -- places and organisations ---------------------------------------------------------------------------------------
def test_a_building_of_another_organisation_is_refused_at_registration():
    with pytest.raises(CrossOrganisation) as caught:
        Request(org_id=ORG, number=1, channel="api", description="x", work_type="water", urgency="normal",
                registered_at=NOW, building=make_building(org_id=OTHER_ORG))
    assert caught.value.field == "building"


def test_a_building_of_another_organisation_is_refused_in_an_update(make_request, dispatcher_actor):
    request = make_request()
    with pytest.raises(CrossOrganisation):
        request.update({}, dispatcher_actor, "dispatcher", LATER, building=make_building(org_id=OTHER_ORG, id_=99),
                       building_given=True)
    assert request.building.id == 10


@pytest.mark.parametrize("place,field", [({"apartment": 145}, "apartment"), ({"apartment": 0}, "apartment"),
                                         ({"entrance": 5}, "entrance"), ({"entrance": 0}, "entrance"),
                                         ({"floor": 10}, "floor"), ({"floor": -4}, "floor")])
def test_a_place_outside_the_building_is_refused_at_registration(building, place, field):
    with pytest.raises(ValidationError) as caught:
        Request(org_id=ORG, number=1, channel="api", description="x", work_type="water", urgency="normal",
                registered_at=NOW, building=building, **place)
    assert caught.value.field == field


def test_a_place_without_a_building_is_refused():
    with pytest.raises(ValidationError, match="needs a building"):
        Request(org_id=ORG, number=1, channel="api", description="x", work_type="water", urgency="normal",
                registered_at=NOW, apartment=3)


def test_removing_the_building_while_an_apartment_remains_is_refused(make_request, dispatcher_actor):
    request = make_request()
    with pytest.raises(ValidationError, match="needs a building"):
        request.update({}, dispatcher_actor, "dispatcher", LATER, building=None, building_given=True)


def test_an_attachment_of_another_organisation_is_refused(make_request, dispatcher_actor):
    request = make_request()
    att = Attachment(org_id=OTHER_ORG, request_id=42, kind="photo", filename="a.jpg", content_type="image/jpeg",
                     size=1, sha256="0" * 64, storage_key="k", created_at=NOW, created_by="x")
    with pytest.raises(CrossOrganisation):
        request.attached(att, dispatcher_actor, "api", LATER)


# -- comments, attachments, ratings ---------------------------------------------------------------------------------
def test_a_comment_is_written_to_the_history_and_must_not_be_blank(make_request, dispatcher_actor):
    request = _fresh(make_request())
    request.comment("  Позвонили жильцу  ", dispatcher_actor, "dispatcher", LATER)
    assert _entries(request) == [("comment", None, None, "Позвонили жильцу")]
    assert _events(request) == ["request.commented"]
    with pytest.raises(ValidationError):
        request.comment(" ", dispatcher_actor, "dispatcher", LATER)


def test_a_call_between_staff_is_a_line_of_the_history_and_tells_nobody(make_request, dispatcher_actor):
    request = _fresh(make_request())
    request.staff_call_noted(" Звонок техника диспетчеру, 42 с ", dispatcher_actor, "phone", LATER)
    assert [(e.kind, e.note, e.channel) for e in request.pending_history] == \
        [("staff_call", "Звонок техника диспетчеру, 42 с", "phone")]
    assert _events(request) == [] and request.updated_at == LATER
    with pytest.raises(ValidationError):
        request.staff_call_noted("", dispatcher_actor, "phone", LATER)


def test_an_attachment_is_written_to_the_history_with_its_checksum(make_request, dispatcher_actor):
    request = _fresh(make_request())
    att = Attachment(org_id=ORG, request_id=42, kind="photo", filename="кран.jpg", content_type="image/jpeg",
                     size=10, sha256="ab" * 32, storage_key="k", created_at=NOW, created_by="x")
    request.attached(att, dispatcher_actor, "api", LATER)
    assert _entries(request) == [("attachment", "photo", None, "кран.jpg")]
    assert request.pending_history[0].note == "sha256:" + "ab" * 32


def test_only_a_done_or_closed_request_can_be_rated(make_request, technician, dispatcher_actor):
    request = _accepted(make_request, technician, dispatcher_actor)
    rating = Rating(org_id=ORG, request_id=42, score=5, comment="спасибо", created_at=LATER)
    with pytest.raises(ValidationError, match="done or closed"):
        request.rate(rating, Actor(kind="resident", role="resident"), "sms", LATER)
    request.transition("done", dispatcher_actor, "dispatcher", NOW, report="ok")
    _fresh(request).rate(rating, Actor(kind="resident", role="resident"), "sms", LATER)
    assert _entries(request) == [("rating", "rating", None, "5")]


@pytest.mark.parametrize("score", [0, 6, True, 4.5, "5"])
def test_a_rating_is_a_whole_number_from_1_to_5(score):
    with pytest.raises(ValidationError):
        Rating(org_id=ORG, request_id=42, score=score, comment=None, created_at=NOW)


def test_a_history_entry_keeps_datetimes_as_iso_text_and_refuses_unknown_channels(dispatcher_actor):
    entry = HistoryEntry(org_id=ORG, request_id=1, at=NOW, actor=dispatcher_actor, channel="web", kind="field",
                         field="postponed_until", old_value=None, new_value=NOW)
    assert entry.new_value == NOW.isoformat() and entry.old_value is None
    with pytest.raises(ValidationError):
        HistoryEntry(org_id=ORG, request_id=1, at=NOW, actor=dispatcher_actor, channel="pigeon", kind="comment")


def test_assigning_stamps_the_time_and_the_rotation_and_accepting_stamps_acceptance(make_request, technician,
                                                                                    dispatcher_actor):
    request = make_request()
    request.assign(technician, dispatcher_actor, "dispatcher", NOW)
    assert (request.assigned_at, technician.last_assigned_at, request.accepted_at) == (NOW, NOW, None)
    request.transition("accepted", _tech_actor(technician), "sms", LATER)
    assert request.accepted_at == LATER
    other = make_staff(id_=6, name="Сидоров Пётр")
    request.assign(other, dispatcher_actor, "dispatcher", LATER)
    assert (request.assigned_at, request.accepted_at) == (LATER, None)


def test_only_an_assigned_open_request_can_be_localised_and_only_once(make_request, technician, dispatcher_actor):
    request = make_request()
    with pytest.raises(ValidationError):
        request.localise(dispatcher_actor, "dispatcher", LATER)
    request.assign(technician, dispatcher_actor, "dispatcher", NOW)
    stranger = make_staff(id_=6, name="Сидоров Пётр")
    with pytest.raises(Forbidden):
        request.localise(_tech_actor(stranger), "sms", LATER)
    request.localise(_tech_actor(technician), "sms", LATER)
    with pytest.raises(ValidationError):
        request.localise(_tech_actor(technician), "sms", LATER)
