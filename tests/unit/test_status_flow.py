"""The status flow is data (FLOW); check_transition enforces exactly that data, for every pair and every role."""
from __future__ import annotations

import itertools
from collections import Counter
from datetime import datetime, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from journal_api.domain.errors import IllegalTransition, ValidationError
from journal_api.domain.status import (EVERYONE, FINAL_STATUSES, FLOW, OPEN_STATUSES, Status, allowed_targets,
                                       check_transition)

ROLES = sorted(EVERYONE | {"resident"})
VIAS = ("transition", "assignment")
UNTIL = datetime(2030, 1, 1, tzinfo=timezone.utc)
ALL_FIELDS = {"reason": "the tenant is away", "until": UNTIL, "report": "replaced the valve"}


def _rule_for(source: Status, target: Status, role: str, via: str):
    found = [r for r in FLOW if (r.source, r.target, r.via) == (source, target, via) and role in r.roles]
    return found[0] if found else None


def _label(rule) -> str:
    return f"{rule.source.value}->{rule.target.value}"


def test_each_pair_of_statuses_appears_in_the_flow_at_most_once():
    pairs = Counter((r.source, r.target) for r in FLOW)
    assert [pair for pair, n in pairs.items() if n > 1] == []


def test_final_statuses_have_no_way_out():
    assert [r for r in FLOW if r.source in FINAL_STATUSES] == []


def test_every_status_is_reachable_from_new():
    reached, frontier = {Status.NEW}, [Status.NEW]
    while frontier:
        source = frontier.pop()
        for rule in FLOW:
            if rule.source == source and rule.target not in reached:
                reached.add(rule.target)
                frontier.append(rule.target)
    assert reached == set(Status)


def test_open_and_final_statuses_split_the_statuses_except_done():
    assert OPEN_STATUSES | FINAL_STATUSES | {Status.DONE} == set(Status)
    assert not OPEN_STATUSES & FINAL_STATUSES


@pytest.mark.parametrize("rule", FLOW, ids=_label)
def test_every_rule_of_the_flow_is_allowed_for_each_of_its_roles(rule):
    for role in rule.roles:
        given_fields = {name: ALL_FIELDS[name] for name in rule.requires}
        assert check_transition(rule.source, rule.target, role=role, via=rule.via, **given_fields) == rule


@pytest.mark.parametrize("source,target", list(itertools.product(Status, Status)),
                         ids=lambda s: s.value)
def test_every_pair_role_and_path_outside_the_flow_is_refused(source, target):
    refused = 0
    for role, via in itertools.product(ROLES, VIAS):
        if _rule_for(source, target, role, via) is not None:
            continue
        with pytest.raises(IllegalTransition) as caught:
            check_transition(source, target, role=role, via=via, **ALL_FIELDS)
        assert caught.value.details == {"from": source.value, "to": target.value}
        refused += 1
    assert refused >= len(ROLES)  # a pair is at most allowed on one of the two paths


@given(rule=st.sampled_from([r for r in FLOW if r.requires]),
       present=st.dictionaries(st.sampled_from(["reason", "until", "report"]),
                               st.sampled_from(["given", "blank", "missing"])))
def test_a_rule_needs_every_field_it_requires_and_a_blank_text_does_not_count(rule, present):
    values = {"given": dict(ALL_FIELDS), "blank": {"reason": "  ", "report": "\n", "until": None}}
    kwargs = {name: values[state][name] for name, state in present.items() if state != "missing"}
    role = sorted(rule.roles)[0]
    missing = sorted(name for name in rule.requires if present.get(name) != "given")
    if missing:
        with pytest.raises(ValidationError) as caught:
            check_transition(rule.source, rule.target, role=role, via=rule.via, **kwargs)
        assert caught.value.field == missing[0]
        assert f"requires '{missing[0]}'" in caught.value.message
    else:
        assert check_transition(rule.source, rule.target, role=role, via=rule.via, **kwargs) == rule


def test_postponing_requires_a_reason_and_a_new_date():
    rule = check_transition("accepted", "postponed", role="dispatcher", reason="no access", until=UNTIL)
    assert rule.requires == {"reason", "until"}
    with pytest.raises(ValidationError, match="requires 'until'"):
        check_transition("accepted", "postponed", role="dispatcher", reason="no access")


def test_impossible_requires_a_reason_and_done_requires_a_report():
    with pytest.raises(ValidationError, match="requires 'reason'"):
        check_transition("accepted", "impossible", role="technician")
    with pytest.raises(ValidationError, match="requires 'report'"):
        check_transition("accepted", "done", role="technician", reason="fixed")


@pytest.mark.parametrize("source", list(Status), ids=lambda s: s.value)
@pytest.mark.parametrize("target", [Status.CANCELLED, Status.CLOSED], ids=lambda s: s.value)
def test_a_technician_can_neither_cancel_nor_close(source, target):
    with pytest.raises(IllegalTransition):
        check_transition(source, target, role="technician", **ALL_FIELDS)


def test_a_technician_is_told_that_his_role_cannot_make_the_change():
    with pytest.raises(IllegalTransition, match="role 'technician' cannot"):
        check_transition("done", "closed", role="technician")


@pytest.mark.parametrize("rule", [r for r in FLOW if r.via == "assignment"], ids=_label)
def test_assignment_only_changes_are_refused_as_transitions_and_point_to_the_assignment(rule):
    with pytest.raises(IllegalTransition, match="assignment endpoint"):
        check_transition(rule.source, rule.target, role="admin", via="transition")


def test_a_refusal_lists_the_statuses_that_are_allowed_from_here():
    with pytest.raises(IllegalTransition) as caught:
        check_transition("new", "done", role="dispatcher", report="x")
    assert "allowed statuses are: cancelled" in caught.value.message


def test_a_final_status_says_that_nothing_is_allowed():
    with pytest.raises(IllegalTransition, match=r"none \(final status\)"):
        check_transition("closed", "accepted", role="admin", reason="x")


def test_an_unknown_target_status_is_a_validation_error_naming_the_known_ones():
    with pytest.raises(ValidationError) as caught:
        check_transition("new", "archived", role="admin")
    assert not isinstance(caught.value, IllegalTransition)
    assert caught.value.field == "to"
    assert "new, assigned, accepted" in caught.value.message


def test_allowed_targets_follow_the_role():
    assert set(allowed_targets("accepted", "technician")) == {Status.POSTPONED, Status.IMPOSSIBLE, Status.DONE}
    assert Status.CANCELLED in allowed_targets("accepted", "dispatcher")
    assert allowed_targets("new", "dispatcher", via="assignment") == [Status.ASSIGNED]
