"""The escalation ladder: its data is checked at load, and due_actions/next_due_at say exactly what is due when."""
from __future__ import annotations

import copy
from datetime import datetime, timedelta, timezone
from importlib import resources

import pytest
import yaml
from domain_objects import NOW
from hypothesis import given, settings
from hypothesis import strategies as st

from journal_api.domain.errors import ValidationError
from journal_api.domain.escalation import LadderError, RequestSnapshot, due_actions, next_due_at, parse_ladder
from journal_api.rules.escalation_loader import default_ladder, ladder_from_yaml

MIN = timedelta(minutes=1)
LADDER = default_ladder()
RAW = yaml.safe_load((resources.files("journal_api") / "rules" / "escalation.yaml").read_text(encoding="utf-8"))


def snap(status="assigned", urgency="emergency", **fields) -> RequestSnapshot:
    defaults = {"registered_at": NOW, "assignee_id": 5, "assigned_at": NOW,
                "localisation_due_at": NOW + 30 * MIN, "repair_due_at": NOW + timedelta(days=3)}
    if status == "new":
        defaults.update(assignee_id=None, assigned_at=None)
    return RequestSnapshot(status=status, urgency=urgency, **{**defaults, **fields})


def keys(actions) -> list[str]:
    return [a.key for a in actions]


def of_track(actions, track: str) -> list:
    return [a for a in actions if a.track == track]


def one_track_ladder(track: str, entries: list, urgency: str = "emergency", **extra):
    body = {"statuses": ["new", "assigned", "accepted", "postponed", "impossible"], "emergency": [], "normal": [],
            **extra, urgency: entries}
    return parse_ladder({"tracks": {track: body}}, "test.yaml", partial=True)


# -- the default data --------------------------------------------------------------------------------------------
def test_the_default_ladder_has_four_tracks_and_names_the_templates_the_notifier_must_write():
    assert set(LADDER.tracks) == {"acceptance", "unassigned", "localisation", "repair"}
    assert LADDER.templates() == {"reminder_acceptance", "escalation_acceptance", "escalation_unassigned",
                                  "reminder_localisation", "reminder_repair", "escalation_overdue"}


def test_an_organisations_override_replaces_only_the_tracks_it_gives():
    override = one_track_ladder("acceptance", [{"at": "assigned+5m", "remind": "assignee"}],
                                statuses=["assigned"], until="accepted")
    merged = LADDER.merged(override)
    assert merged.tracks["acceptance"] is override.tracks["acceptance"]
    assert {n: merged.tracks[n] for n in ("unassigned", "localisation", "repair")} == \
        {n: LADDER.tracks[n] for n in ("unassigned", "localisation", "repair")}
    assert [a.due_at for a in of_track(due_actions(snap(), merged, NOW + 20 * MIN), "acceptance")] == [NOW + 5 * MIN]


# -- acceptance --------------------------------------------------------------------------------------------------
def test_an_unaccepted_emergency_reminds_the_assignee_at_10_and_20_minutes_and_then_alerts_the_dispatcher():
    actions = of_track(due_actions(snap(), LADDER, NOW + timedelta(hours=5)), "acceptance")
    assert [(a.due_at - NOW, a.kind, a.target) for a in actions] == [
        (10 * MIN, "reminder", "assignee"), (20 * MIN, "reminder", "assignee"),
        (30 * MIN, "escalation", "dispatcher_on_duty")]
    assert actions[0].key == "acceptance:reminder:assigned+10m:assignee@20260302T090000Z"
    assert actions[0].template == "reminder_acceptance" and actions[0].deadline is None


def test_an_unaccepted_normal_request_is_reminded_after_two_hours():
    actions = of_track(due_actions(snap(urgency="normal"), LADDER, NOW + timedelta(hours=5)), "acceptance")
    assert [(a.due_at - NOW, a.target) for a in actions] == [(timedelta(hours=2), "assignee"),
                                                             (timedelta(hours=4), "dispatcher_on_duty")]


@given(accepted_after=st.integers(0, 600), look=st.integers(0, 5000))
def test_accepting_stops_the_acceptance_reminders_but_not_the_deadline_reminders(accepted_after, look):
    now = NOW + (accepted_after + look) * MIN
    waiting = due_actions(snap(), LADDER, now)
    accepted = due_actions(snap("accepted", accepted_at=NOW + accepted_after * MIN), LADDER, now)
    assert of_track(accepted, "acceptance") == []
    assert accepted == [a for a in waiting if a.track != "acceptance"]
    if look >= 30:  # the localisation deadline has passed: there is something to be reminded of
        assert of_track(accepted, "localisation")


def test_a_new_assignment_starts_the_acceptance_track_again_with_new_keys():
    first = of_track(due_actions(snap(), LADDER, NOW + timedelta(hours=1)), "acceptance")
    again = snap(assigned_at=NOW + timedelta(hours=1), assignee_id=6, accepted_at=NOW + 5 * MIN)
    second = of_track(due_actions(again, LADDER, NOW + timedelta(hours=2)), "acceptance")
    assert len(second) == 3 and not set(keys(first)) & set(keys(second))
    assert second[0].due_at == NOW + 70 * MIN


# -- the deadline window -----------------------------------------------------------------------------------------
def test_a_three_day_repair_deadline_reminds_at_36_hours_57_hours_36_minutes_and_at_the_deadline():
    actions = of_track(due_actions(snap("accepted"), LADDER, NOW + timedelta(days=3)), "repair")
    reminders = [(a.due_at - NOW, a.key.split("@")[0]) for a in actions if a.kind == "reminder"]
    assert reminders == [(timedelta(hours=36), "repair:reminder:50%:assignee"),
                         (timedelta(hours=57, minutes=36), "repair:reminder:80%:assignee"),
                         (timedelta(days=3), "repair:reminder:deadline:assignee")]
    assert all(a.deadline == "repair" and a.deadline_at == NOW + timedelta(days=3) for a in actions)


@given(window_us=st.integers(0, 10 ** 13), percent=st.integers(0, 100), tenths=st.integers(0, 9))
def test_a_percentage_point_lands_at_that_share_of_the_window_never_later(window_us, percent, tenths):
    share = f"{percent}.{tenths}%" if percent < 100 else "100%"
    ladder = one_track_ladder("repair", [{"at": share, "escalate": "manager"}])
    deadline = NOW + timedelta(microseconds=window_us)
    (action,) = due_actions(snap("accepted", repair_due_at=deadline), ladder, deadline)
    numerator = (percent * 10 + tenths) if percent < 100 else 1000
    exact = window_us * numerator // 1000
    assert action.due_at == NOW + timedelta(microseconds=exact)  # floor: exact when it divides, early by < 1 µs
    assert NOW <= action.due_at <= deadline


def test_a_point_before_the_deadline_and_a_fraction_given_as_a_number():
    ladder = one_track_ladder("repair", [{"at": "deadline-90m", "remind": "assignee"},
                                         {"at": 0.25, "remind": "assignee"}])
    actions = due_actions(snap("accepted", repair_due_at=NOW + timedelta(hours=4)), ladder, NOW + timedelta(hours=4))
    assert [(a.due_at - NOW, a.key.split("@")[0]) for a in actions] == [
        (timedelta(hours=1), "repair:reminder:25%:assignee"), (timedelta(hours=2, minutes=30),
                                                               "repair:reminder:deadline-1h30m:assignee")]


# -- repeats and closing -----------------------------------------------------------------------------------------
@given(every=st.integers(1, 240), overdue=st.integers(0, 3000), urgency=st.sampled_from(["emergency", "normal"]))
def test_reminders_repeat_every_n_minutes_after_the_deadline_until_closed(every, overdue, urgency):
    ladder = one_track_ladder("repair", [{"every": f"{every}m", "from": "deadline", "remind": "assignee"}], urgency)
    deadline = NOW + timedelta(hours=2)
    open_ = snap("accepted", urgency=urgency, repair_due_at=deadline)
    repeats = due_actions(open_, ladder, deadline + overdue * MIN)
    assert [a.due_at for a in repeats] == [deadline + k * every * MIN for k in range(1, overdue // every + 1)]
    assert [a.repeat for a in repeats] == list(range(1, overdue // every + 1))
    closed = snap("closed", urgency=urgency, repair_due_at=deadline, closed_at=deadline + overdue * MIN)
    assert due_actions(closed, ladder, deadline + timedelta(days=30)) == []
    assert next_due_at(closed, ladder, deadline) is None


@pytest.mark.parametrize("status", ["done", "closed", "cancelled"])
def test_a_finished_request_emits_nothing_even_long_overdue(status):
    finished = snap(status, closed_at=None if status == "done" else NOW + timedelta(days=1))
    assert due_actions(finished, LADDER, NOW + timedelta(days=30)) == []
    assert next_due_at(finished, LADDER, NOW) is None


def test_the_default_repair_repeats_are_every_30_minutes_for_emergencies_and_every_2_hours_otherwise():
    for urgency, every in (("emergency", 30 * MIN), ("normal", 2 * 60 * MIN)):
        deadline = NOW + timedelta(days=3)
        actions = due_actions(snap("accepted", urgency, repair_due_at=deadline), LADDER, deadline + 4 * every)
        repeats = [a.due_at for a in of_track(actions, "repair") if a.repeat]
        assert repeats == [deadline + k * every for k in range(1, 5)]


# -- escalation --------------------------------------------------------------------------------------------------
def test_a_passed_deadline_goes_to_the_dispatcher_at_once_and_to_the_manager_an_hour_later():
    deadline = NOW + timedelta(days=3)
    actions = due_actions(snap("accepted"), LADDER, deadline + timedelta(hours=2))
    escalations = [(a.due_at - deadline, a.target, a.template) for a in of_track(actions, "repair")
                   if a.kind == "escalation"]
    assert escalations == [(timedelta(0), "dispatcher_on_duty", "escalation_overdue"),
                           (timedelta(hours=1), "manager", "escalation_overdue")]


def test_a_request_nobody_holds_goes_to_the_dispatcher_at_once_and_to_the_manager_after_15_minutes():
    actions = due_actions(snap("new"), LADDER, NOW + timedelta(hours=1))
    assert [(a.due_at - NOW, a.target) for a in of_track(actions, "unassigned")] == [
        (timedelta(0), "dispatcher_on_duty"), (15 * MIN, "manager")]
    assert [a for a in actions if a.target == "assignee"] == []
    assert {(a.track, a.target) for a in actions if a.track == "localisation"} == {
        ("localisation", "dispatcher_on_duty"), ("localisation", "manager")}


def test_a_request_declared_impossible_goes_back_to_the_dispatcher_and_the_assignee_hears_no_more():
    given_back = NOW + 40 * MIN
    actions = due_actions(snap("impossible", status_since=given_back), LADDER, NOW + timedelta(hours=2))
    assert [a.due_at for a in of_track(actions, "unassigned")] == [given_back, given_back + 15 * MIN]
    assert [a for a in actions if a.target == "assignee"] == []


def test_the_assignee_is_not_told_of_points_that_passed_before_he_was_assigned():
    late = snap("assigned", assigned_at=NOW + 26 * MIN)
    actions = of_track(due_actions(late, LADDER, NOW + 45 * MIN), "localisation")
    assert [(a.due_at - NOW, a.target) for a in actions if a.target == "assignee"] == [
        (30 * MIN, "assignee"), (40 * MIN, "assignee")]
    assert next_due_at(late, LADDER, NOW) == NOW + 30 * MIN  # not the 15- and 24-minute reminders


def test_a_localised_emergency_stops_the_localisation_track_only():
    actions = due_actions(snap("accepted", localised_at=NOW + 20 * MIN), LADDER, NOW + timedelta(days=4))
    assert of_track(actions, "localisation") == [] and of_track(actions, "repair")


# -- keys and time: properties over random requests --------------------------------------------------------------
OPEN = ["new", "assigned", "accepted", "postponed", "impossible"]


@st.composite
def snapshots(draw):
    status = draw(st.sampled_from(OPEN))
    minutes = st.integers(0, 240)
    assigned = None if status == "new" else NOW + draw(minutes) * MIN
    accepted = assigned + draw(minutes) * MIN if status in ("accepted", "postponed") else None
    return RequestSnapshot(
        status=status, urgency=draw(st.sampled_from(["emergency", "normal"])), registered_at=NOW,
        assignee_id=None if status == "new" else 5, assigned_at=assigned, accepted_at=accepted,
        localised_at=draw(st.none() | st.just(NOW + draw(minutes) * MIN)),
        status_since=draw(st.none() | st.just(NOW + draw(minutes) * MIN)),
        localisation_due_at=draw(st.none() | st.just(NOW + draw(st.integers(1, 120)) * MIN)),
        repair_due_at=draw(st.none() | st.just(NOW + draw(st.integers(1, 360)) * MIN)))


@given(s=snapshots(), t1=st.integers(0, 600), later=st.integers(0, 600))
def test_a_later_tick_repeats_every_earlier_action_with_the_same_key_and_adds_only_newer_ones(s, t1, later):
    first = due_actions(s, LADDER, NOW + t1 * MIN)
    second = due_actions(s, LADDER, NOW + (t1 + later) * MIN)
    assert len(set(keys(second))) == len(second)
    assert first == [a for a in second if a.due_at <= NOW + t1 * MIN]
    assert all(a.due_at <= NOW + (t1 + later) * MIN for a in second)


@settings(max_examples=40, deadline=None)
@given(s=snapshots(), end=st.integers(0, 480))
def test_ticking_every_minute_emits_exactly_what_one_computation_at_the_end_finds(s, end):
    emitted, log = [], set()
    for minute in range(end + 1):
        for action in due_actions(s, LADDER, NOW + minute * MIN):
            if action.key not in log:
                log.add(action.key)
                emitted.append(action)
    assert sorted(emitted, key=lambda a: a.key) == sorted(due_actions(s, LADDER, NOW + end * MIN),
                                                          key=lambda a: a.key)


@given(s=snapshots(), after=st.integers(0, 600))
def test_next_due_at_is_the_first_moment_after_which_something_new_is_due(s, after):
    moment = NOW + after * MIN
    before = due_actions(s, LADDER, moment)
    upcoming = next_due_at(s, LADDER, moment)
    if upcoming is None:
        assert due_actions(s, LADDER, moment + timedelta(days=365)) == before
        return
    assert upcoming > moment
    assert due_actions(s, LADDER, upcoming - timedelta(microseconds=1)) == before
    new = [a for a in due_actions(s, LADDER, upcoming) if a not in before]
    assert new and all(a.due_at == upcoming for a in new)


# -- bad data ----------------------------------------------------------------------------------------------------
def _mutated(path: list, value):
    data = copy.deepcopy(RAW)
    target = data
    for part in path[:-1]:
        target = target[part]
    if value is _DELETE:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    return data


_DELETE = object()
BAD = [
    (["tracks", "overdue"], {"statuses": ["new"]}, "tracks.overdue", "unknown track 'overdue'"),
    (["tracks", "repair", "emergency", 0, "at"], "120%", "tracks.repair.emergency[0].at", "outside"),
    (["tracks", "repair", "emergency", 0, "at"], 1.5, "tracks.repair.emergency[0].at", "0..100%"),
    (["tracks", "repair", "emergency", 3, "every"], "-5m", "tracks.repair.emergency[3].every", "negative"),
    (["tracks", "repair", "emergency", 3, "every"], "0m", "tracks.repair.emergency[3].every", "positive"),
    (["tracks", "repair", "emergency", 3, "every"], 30, "tracks.repair.emergency[3].every", "30m"),
    (["tracks", "repair", "emergency", 4, "escalate"], "mayor", "tracks.repair.emergency[4].escalate",
     "unknown target 'mayor'"),
    (["tracks", "unassigned", "normal", 0, "escalate"], "assignee", "tracks.unassigned.normal[0].escalate",
     "no assignee"),
    (["tracks", "acceptance", "normal", 0, "at"], "50%", "tracks.acceptance.normal[0].at", "no deadline window"),
    (["tracks", "acceptance", "normal", 0, "at"], "assigned-10m", "tracks.acceptance.normal[0].at", "before"),
    (["tracks", "acceptance", "normal", 0, "at"], "deadline+1h", "tracks.acceptance.normal[0].at",
     "not a point of the acceptance track"),
    (["tracks", "repair", "normal", 0, "at"], "deadline+2 hours", "tracks.repair.normal[0].at", "not a duration"),
    (["tracks", "repair", "normal", 1], {"at": "50%", "remind": "assignee"}, "tracks.repair.normal[1]",
     "listed twice"),
    (["tracks", "repair", "normal", 0, "escalate"], "manager", "tracks.repair.normal[0]", "exactly one of"),
    (["tracks", "repair", "normal", 0, "when"], "soon", "tracks.repair.normal[0].when", "unknown key 'when'"),
    (["tracks", "repair", "normal", 0, "template"], "Reminder!", "tracks.repair.normal[0].template", "template"),
    (["tracks", "repair", "normal"], _DELETE, "tracks.repair", "missing normal"),
    (["tracks", "repair", "statuses"], ["accepted", "closed"], "tracks.repair.statuses", "'closed' is not an open"),
    (["tracks", "repair", "until"], "repaired", "tracks.repair.until", "unknown milestone 'repaired'"),
    (["tracks", "localisation"], _DELETE, "tracks", "missing tracks: localisation"),
]


@pytest.mark.parametrize("path, value, entry, problem", BAD, ids=[f"{b[2]}:{b[3]}" for b in BAD])
def test_bad_ladder_data_is_refused_naming_the_file_the_entry_and_the_problem(path, value, entry, problem):
    with pytest.raises(LadderError) as caught:
        parse_ladder(_mutated(path, value), "rules/escalation.yaml")
    message = caught.value.message
    assert message.startswith(f"rules/escalation.yaml: {entry}: ") and problem in message
    assert caught.value.details == {"file": "rules/escalation.yaml", "entry": entry}


def test_an_override_may_give_some_tracks_but_the_default_must_give_all():
    text = yaml.safe_dump({"tracks": {"unassigned": RAW["tracks"]["unassigned"]}})
    assert set(ladder_from_yaml(text, "org 7", partial=True).tracks) == {"unassigned"}
    with pytest.raises(LadderError, match="org 7: tracks: missing tracks: acceptance, localisation, repair"):
        ladder_from_yaml(text, "org 7")


@pytest.mark.parametrize("text, problem", [("tracks: [1, 2", "not valid YAML"), ("- 1", "expected a mapping"),
                                           ("tracks: {}\nversion: 2", "one key, 'tracks'")])
def test_a_file_that_is_not_a_ladder_at_all_is_refused(text, problem):
    with pytest.raises(LadderError, match=problem):
        ladder_from_yaml(text, "broken.yaml")


@pytest.mark.parametrize("fields, problem", [
    ({"status": "lost"}, "Unknown status 'lost'"), ({"urgency": "urgent"}, "Unknown urgency 'urgent'"),
    ({"registered_at": datetime(2026, 3, 2, 9, 0)}, "'registered_at' must be timezone-aware")])
def test_a_snapshot_with_bad_state_is_refused(fields, problem):
    with pytest.raises(ValidationError, match=problem):
        snap(**{"status": "assigned", **fields})


def test_keys_do_not_depend_on_the_time_zone_the_times_are_given_in():
    moscow = timezone(timedelta(hours=3))
    local = snap(registered_at=NOW.astimezone(moscow), assigned_at=NOW.astimezone(moscow),
                 localisation_due_at=(NOW + 30 * MIN).astimezone(moscow))
    assert keys(due_actions(local, LADDER, NOW + timedelta(hours=1))) == \
        keys(due_actions(snap(), LADDER, NOW + timedelta(hours=1)))
