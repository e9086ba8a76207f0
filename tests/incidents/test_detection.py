"""Detection of known incidents, pure (journal_api.domain.incidents)."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from journal_api.domain import incidents as d

T0 = datetime(2026, 11, 27, 8, 0, tzinfo=timezone.utc)
RULES = d.IncidentRules(window=timedelta(minutes=30), propose_at=3, open_at=5)


def seen(rid, minutes, work_type="water", building=1, apartment=None, street="c1:ленина", incident=None):
    riser = d.riser_key(building, apartment, entrances=4, floors=9, apartments=144) if apartment else None
    return d.Sighting(rid, T0 + timedelta(minutes=minutes), work_type, d.Place(building, street, riser), incident)


def test_below_the_proposal_threshold_nothing_happens():
    assert d.decide(seen(2, 1), [seen(1, 0)], [], RULES) == d.NOTHING


def test_three_requests_about_one_building_propose_and_five_open_an_incident():
    recent = [seen(i, i) for i in range(1, 3)]
    proposal = d.decide(seen(3, 3), recent, [], RULES)
    assert (proposal.action, proposal.scope, proposal.scope_key, proposal.request_ids) == \
        ("propose", "building", "b1", (1, 2, 3))
    recent = [seen(i, i) for i in range(1, 5)]
    opened = d.decide(seen(5, 5), recent, [], RULES)
    assert opened.action == "open" and opened.request_ids == (1, 2, 3, 4, 5)


def test_requests_outside_the_window_or_of_another_work_type_or_building_do_not_count():
    recent = [seen(1, -40), seen(2, 1, work_type="heating"), seen(3, 2, building=2)]
    assert d.decide(seen(4, 3), recent + [seen(5, 2)], [], RULES) == d.NOTHING


def test_requests_already_in_an_incident_are_not_counted_again():
    recent = [seen(1, 0, incident=9), seen(2, 1, incident=9)]
    assert d.decide(seen(3, 2), recent, [], RULES) == d.NOTHING


def test_a_request_joins_the_incident_already_known_for_its_place_and_can_open_it():
    active = [d.Active(7, "water", "building", "b1", "proposed", 4)]
    joined = d.decide(seen(9, 10), [], active, RULES)
    assert (joined.action, joined.incident_id, joined.open_now) == ("join", 7, True)
    active = [d.Active(7, "water", "building", "b1", "proposed", 2)]
    assert d.decide(seen(9, 10), [], active, RULES).open_now is False
    other_building = [d.Active(7, "water", "building", "b2", "open", 9)]
    assert d.decide(seen(9, 10), [], other_building, RULES) == d.NOTHING


def test_a_riser_incident_is_proposed_when_only_that_riser_calls():
    rules = d.IncidentRules(window=timedelta(minutes=30), propose_at=3, open_at=5,
                            scopes={"water": ("riser", "building")})
    # apartments 1, 5, 9: 144 flats, 4 entrances, 9 floors -> 4 per floor: position 1 of entrance 1, floors 1-3
    recent = [seen(1, 0, apartment=1), seen(2, 1, apartment=5)]
    decision = d.decide(seen(3, 2, apartment=9), recent, [], rules)
    assert (decision.scope, decision.scope_key) == ("riser", "b1:e1:r1")
    assert d.riser_key(1, 2, entrances=4, floors=9, apartments=144) == "b1:e1:r2"
    assert d.riser_key(1, 37, entrances=4, floors=9, apartments=144) == "b1:e2:r1"


def test_opening_at_a_broader_scope_wins_over_proposing_a_narrower_one():
    recent = [seen(1, 0, apartment=1), seen(2, 0, apartment=5)] + [seen(i, 1, apartment=2) for i in range(3, 6)]
    decision = d.decide(seen(6, 2, apartment=9), recent, [], RULES)
    assert (decision.action, decision.scope) == ("open", "building") and len(decision.request_ids) == 6


def test_power_cuts_are_grouped_by_street_across_buildings():
    recent = [seen(1, 0, "electricity", building=1), seen(2, 1, "electricity", building=2)]
    decision = d.decide(seen(3, 2, "electricity", building=3), recent, [], RULES)
    assert (decision.action, decision.scope, decision.scope_key) == ("propose", "street", "c1:ленина")
    assert d.street_key(1, "ул. Ленина") == d.street_key(1, "улица  ленина") == "c1:ленина"
    assert d.street_key(1, "ул. Ленина") != d.street_key(2, "ул. Ленина")


def test_work_types_with_no_common_cause_are_never_grouped():
    recent = [seen(i, i, "other") for i in range(1, 10)]
    assert d.decide(seen(10, 10, "other"), recent, [], RULES) == d.NOTHING


def test_rules_come_from_settings_and_refuse_nonsense():
    rules = d.IncidentRules.from_settings({"window_minutes": 10, "propose_at": 2, "open_at": 4,
                                           "scopes": {"water": ["building"]}})
    assert rules.window == timedelta(minutes=10) and rules.scopes == {"water": ("building",)}
    with pytest.raises(ValueError):
        d.IncidentRules(propose_at=5, open_at=3)
    with pytest.raises(ValueError):
        d.IncidentRules.from_settings({"scopes": {"water": ["planet"]}})


def test_no_riser_for_a_building_whose_numbers_do_not_divide_evenly():
    assert d.riser_key(1, 7, entrances=3, floors=5, apartments=100) is None
    assert d.riser_key(1, 200, entrances=4, floors=9, apartments=144) is None
