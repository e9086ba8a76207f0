"""Automatic assignment: only people at work and not absent, the best-ranked one, the same every time, explained."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from journal_api.catalogue import catalogue
from journal_api.domain.assignment import (
    Candidate, RequestFacts, decide, explain, is_feminine_name, reassign)
from journal_api.domain.errors import ValidationError
from journal_api.domain.schedule import ON_CALL, SHIFT, Availability, Slot, availability

UTC = timezone.utc
NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)  # 12:00 in Moscow
TEXTS = catalogue()["assignment"]
ON_SHIFT = Availability(on_shift_now=True, on_shift_from=NOW)
ON_CALL_NOW = Availability(on_call_now=True)
OFF = Availability()


def _facts(urgency="normal", deadline=None, **kwargs):
    return RequestFacts(urgency=urgency, work_type_name="Водоснабжение", now=NOW, deadline=deadline, **kwargs)


def _candidate(staff_id, state=ON_SHIFT, priority=1, load=0, last=None, name=None, feminine=False):
    return Candidate(staff_id, name or f"Техник{staff_id} А.Б.", priority, load, state, last, feminine)


# --- the property: never an absent or off-shift person, always the best-ranked eligible one -------------------------

@st.composite
def _situations(draw):
    """Up to six people with random shifts, on-call duties and absences on an hourly grid around NOW."""
    people = draw(st.integers(0, 6))
    periods = st.tuples(st.integers(-24, 72), st.integers(1, 30))
    shifts, absences, raw = [], [], {}
    for staff_id in range(1, people + 1):
        own = [(s, s + n, draw(st.sampled_from([SHIFT, SHIFT, ON_CALL]))) for s, n in draw(st.lists(periods,
                                                                                                    max_size=3))]
        away = [(s, s + n) for s, n in draw(st.lists(periods, max_size=2))]
        raw[staff_id] = (own, away)
        shifts += [Slot(staff_id, _h(s), _h(e), kind) for s, e, kind in own]
        absences += [Slot(staff_id, _h(s), _h(e), "vacation") for s, e in away]
    urgency = draw(st.sampled_from(["emergency", "normal"]))
    deadline = draw(st.one_of(st.none(), st.integers(-5, 72)))
    facts = _facts(urgency, None if deadline is None else _h(deadline), horizon=timedelta(hours=48))
    candidates = [Candidate(staff_id, f"Техник{staff_id} А.Б.", draw(st.integers(1, 3)), draw(st.integers(0, 4)),
                            availability(shifts, absences, staff_id, NOW, facts.until()),
                            draw(st.one_of(st.none(), st.integers(-200, 0).map(_h))))
                  for staff_id in raw]
    return facts, candidates, raw


def _h(hours: int) -> datetime:
    return NOW + timedelta(hours=hours)


def _brute_force_tier(facts, own, away):
    """Checked hour by hour against the raw periods, independently of the schedule module."""
    def at_work(hour, kind):
        return (any(s <= hour < e and k == kind for s, e, k in own)
                and not any(s <= hour < e for s, e in away))
    if facts.emergency:
        return 0 if at_work(0, SHIFT) else 1 if at_work(0, ON_CALL) else None
    last = int((facts.until() - NOW) / timedelta(hours=1))
    return 0 if any(at_work(h, SHIFT) for h in range(0, last)) else None


@settings(max_examples=300)
@given(_situations())
def test_assignment_never_picks_an_absent_or_off_shift_person_and_picks_the_best_ranked_eligible_one(situation):
    facts, candidates, raw = situation
    tiers = {c.staff_id: _brute_force_tier(facts, *raw[c.staff_id]) for c in candidates}
    eligible = [c for c in candidates if tiers[c.staff_id] is not None]
    decision = decide(facts, candidates)
    if not eligible:
        assert decision.staff_id is None
        return
    best = min(eligible, key=lambda c: (tiers[c.staff_id], c.priority, c.open_load,
                                        c.last_assigned_at or datetime.min.replace(tzinfo=UTC), c.staff_id))
    assert decision.staff_id == best.staff_id


@given(_situations(), st.randoms())
def test_the_same_facts_give_the_same_choice_and_text_in_any_order(situation, rnd):
    facts, candidates, _ = situation
    first = decide(facts, candidates)
    shuffled = list(candidates)
    rnd.shuffle(shuffled)
    again = decide(facts, shuffled)
    assert (again.staff_id, again.code, explain(again, TEXTS)) == (first.staff_id, first.code, explain(first, TEXTS))


# --- ranking -------------------------------------------------------------------------------------------------------

def test_responsibility_priority_comes_before_open_load():
    assert decide(_facts(), [_candidate(1, priority=2, load=0), _candidate(2, priority=1, load=9)]).staff_id == 2


def test_open_load_comes_before_the_rotation():
    assert decide(_facts(), [_candidate(1, load=3), _candidate(2, load=2, last=NOW)]).staff_id == 2


def test_the_rotation_prefers_the_never_assigned_then_the_least_recently_assigned():
    earlier, later = NOW - timedelta(days=2), NOW - timedelta(hours=1)
    assert decide(_facts(), [_candidate(1, last=later), _candidate(2, last=earlier)]).staff_id == 2
    assert decide(_facts(), [_candidate(1, last=earlier), _candidate(3, last=None)]).staff_id == 3


def test_the_staff_id_settles_a_full_tie():
    assert decide(_facts(), [_candidate(9), _candidate(4), _candidate(6)]).staff_id == 4


def test_an_emergency_takes_on_call_staff_only_when_nobody_is_on_shift():
    urgent = _facts("emergency", NOW + timedelta(minutes=30))
    assert decide(urgent, [_candidate(1, ON_CALL_NOW, priority=1), _candidate(2, ON_SHIFT, priority=3)]).staff_id == 2
    fallback = decide(urgent, [_candidate(1, ON_CALL_NOW), _candidate(2, OFF)])
    assert (fallback.staff_id, fallback.presence) == (1, "on_call")


def test_an_emergency_does_not_wait_for_someone_who_comes_on_shift_later():
    later = Availability(on_shift_from=NOW + timedelta(minutes=10))
    assert decide(_facts("emergency"), [_candidate(1, later)]).code == "nobody_now"


def test_a_normal_request_does_not_count_on_call_duty():
    assert decide(_facts(deadline=NOW + timedelta(hours=5)), [_candidate(1, ON_CALL_NOW)]).staff_id is None


def test_a_shift_after_the_deadline_does_not_count_even_if_the_caller_looked_further():
    late = Availability(on_shift_from=NOW + timedelta(hours=6))
    assert decide(_facts(deadline=NOW + timedelta(hours=5)), [_candidate(1, late)]).staff_id is None
    assert decide(_facts(deadline=NOW + timedelta(hours=7)), [_candidate(1, late)]).staff_id == 1


def test_a_request_past_its_deadline_looks_for_a_shift_within_the_horizon():
    facts = _facts(deadline=NOW - timedelta(hours=1), horizon=timedelta(hours=12))
    assert facts.until() == NOW + timedelta(hours=12)
    assert decide(facts, [_candidate(1, Availability(on_shift_from=NOW + timedelta(hours=11)))]).staff_id == 1


def test_the_same_person_twice_among_the_candidates_is_a_mistake_of_the_caller():
    with pytest.raises(ValueError, match="appears twice"):
        decide(_facts(), [_candidate(1), _candidate(1, priority=2)])


@pytest.mark.parametrize("fields,field", [({"urgency": "urgent"}, "urgency"), ({"timezone": "Mars/Base"}, "timezone")])
def test_request_facts_refuse_an_unknown_urgency_or_time_zone(fields, field):
    with pytest.raises(ValidationError) as caught:
        RequestFacts(**{"urgency": "normal", "work_type_name": "Лифт", "now": NOW, **fields})
    assert caught.value.field == field


# --- explanations --------------------------------------------------------------------------------------------------

def test_the_explanation_names_the_person_the_responsibility_the_shift_and_the_load():
    decision = decide(_facts("emergency"), [_candidate(5, load=3, name="Иванов И.П.")])
    assert explain(decision, TEXTS) == "назначен Иванов И.П.: ответственный по дому, на смене, 3 открытые заявки"


def test_the_explanation_agrees_with_a_woman_and_tells_a_second_priority_and_on_call_duty():
    decision = decide(_facts("emergency"), [_candidate(5, ON_CALL_NOW, priority=2, load=1, name="Петрова А.С.",
                                                       feminine=True)])
    assert explain(decision, TEXTS) == ("назначена Петрова А.С.: ответственная по дому (приоритет 2), "
                                        "на дежурстве на дому, 1 открытая заявка")


def test_the_explanation_tells_when_the_shift_starts_in_local_time():
    tomorrow = Availability(on_shift_from=datetime(2026, 3, 3, 5, 0, tzinfo=UTC))
    decision = decide(_facts(deadline=NOW + timedelta(days=2), timezone="Asia/Yekaterinburg"),
                      [_candidate(5, tomorrow, name="Иванов И.П.")])
    assert explain(decision, TEXTS) == ("назначен Иванов И.П.: ответственный по дому, на смене с 03.03.2026 10:00, "
                                        "нет открытых заявок")


@pytest.mark.parametrize("load,words", [(0, "нет открытых заявок"), (1, "1 открытая заявка"),
                                        (2, "2 открытые заявки"), (5, "5 открытых заявок"),
                                        (11, "11 открытых заявок"), (12, "12 открытых заявок"),
                                        (21, "21 открытая заявка"), (24, "24 открытые заявки"),
                                        (111, "111 открытых заявок")])
def test_the_open_load_is_told_in_the_right_russian_plural(load, words):
    assert explain(decide(_facts(), [_candidate(5, load=load)]), TEXTS).endswith(words)


def test_without_anyone_responsible_the_dispatcher_is_told_which_work_type_lacks_one():
    decision = decide(_facts(), [])
    assert (decision.code, explain(decision, TEXTS)) == ("no_responsible",
                                                         "нет ответственного по дому за «Водоснабжение»")


def test_when_nobody_is_at_work_the_dispatcher_is_told_where_everyone_is():
    people = [_candidate(1, Availability(absence="vacation"), name="Иванов И.П."),
              _candidate(2, OFF, name="Сидоров С.С."),
              _candidate(3, Availability(absence="sick_leave"), priority=2, name="Петров П.П.")]
    urgent = decide(_facts("emergency"), people)
    assert explain(urgent, TEXTS) == (
        "аварийная заявка, но никто из ответственных за «Водоснабжение» не на смене и не на дежурстве: "
        "Иванов И.П. — в отпуске, Сидоров С.С. — не на смене, Петров П.П. — на больничном")
    normal = decide(_facts(deadline=datetime(2026, 3, 3, 14, 0, tzinfo=UTC)), people[:1])
    assert explain(normal, TEXTS) == ("никто из ответственных за «Водоснабжение» не выходит на смену до срока "
                                      "03.03.2026 17:00: Иванов И.П. — в отпуске")
    open_ended = decide(_facts(horizon=timedelta(days=3)), [_candidate(2, Availability(absence="day_off"),
                                                                       name="Сидоров С.С.")])
    assert explain(open_ended, TEXTS) == ("никто из ответственных за «Водоснабжение» не выходит на смену в ближайшие "
                                          "72 ч: Сидоров С.С. — выходной")


# --- reassignment --------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("trigger", ["absent", "impossible"])
def test_reassignment_for_absence_or_impossibility_never_returns_to_the_current_assignee(trigger):
    people = [_candidate(1, priority=1), _candidate(2, priority=3, load=7)]
    assert reassign(_facts(), people, 1, "Техник1 А.Б.", trigger).staff_id == 2
    alone = reassign(_facts(), people[:1], 1, "Техник1 А.Б.", trigger)
    assert (alone.staff_id, alone.code) == (None, "no_other")


def test_reassignment_of_an_unaccepted_request_prefers_another_but_keeps_the_assignee_when_alone():
    people = [_candidate(1), _candidate(2, OFF)]
    kept = reassign(_facts(), people, 1, "Иванов И.П.", "not_accepted")
    assert (kept.staff_id, kept.code) == (1, "kept")
    assert reassign(_facts(), [*people, _candidate(3, priority=3)], 1, "Иванов И.П.", "not_accepted").staff_id == 3
    assert reassign(_facts(), [_candidate(1, OFF)], 1, "Иванов И.П.", "not_accepted").staff_id is None


def test_the_reassignment_explanation_says_why_and_what_became_of_the_request():
    people = [_candidate(1, name="Иванов И.П."), _candidate(2, load=2, name="Петров П.П.")]
    moved = reassign(_facts(), people, 1, "Иванов И.П.", "impossible")
    assert explain(moved, TEXTS) == ("переназначение (Иванов И.П.: невозможно выполнить); назначен Петров П.П.: "
                                     "ответственный по дому, на смене, 2 открытые заявки")
    kept = reassign(_facts(), people[:1], 1, "Иванов И.П.", "not_accepted")
    assert explain(kept, TEXTS) == ("переназначение (Иванов И.П.: заявка не принята вовремя); другого исполнителя "
                                    "нет, остаётся Иванов И.П.: ответственный по дому, на смене, нет открытых заявок")
    gone = reassign(_facts(), people[:1], 1, "Иванов И.П.", "absent")
    assert explain(gone, TEXTS) == ("переназначение (Иванов И.П. отсутствует); "
                                    "нет другого ответственного по дому за «Водоснабжение»")


def test_an_unknown_reassignment_trigger_is_refused():
    with pytest.raises(ValidationError, match="not a valid trigger"):
        reassign(_facts(), [_candidate(1)], 1, "Иванов И.П.", "bored")


@pytest.mark.parametrize("name,feminine", [("Петрова Анна Сергеевна", True), ("Козлова Мария Ильинична", True),
                                           ("Алиева Лейла Рашид кызы", True), ("Иванов Иван Петрович", False),
                                           ("Петрова", False), ("", False)])
def test_a_woman_is_told_by_her_patronymic(name, feminine):
    assert is_feminine_name(name) is feminine

