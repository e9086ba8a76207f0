"""Deadline rules as data: due times in minutes, hours, calendar and working days, the rubbish chute's 08:00-23:00
window, seasons, time zones, the clause beside every deadline, the RuleBook's choice and overrides, and refusal of
bad rules with messages that name the file and the entry."""
from __future__ import annotations

from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings, strategies as st

from journal_api.domain.calendar import WorkCalendar, statutory_year
from journal_api.domain.deadlines import Limit, RuleBook, Window, compute_deadlines, parse_rule
from journal_api.domain.errors import ValidationError
from journal_api.domain.worktypes import STANDARD_WORK_TYPES
from journal_api.rules import RulesFileError, load_calendar, load_reasons, load_rule_book, load_rules

MOSCOW = ZoneInfo("Europe/Moscow")
KALININGRAD = ZoneInfo("Europe/Kaliningrad")
VLADIVOSTOK = ZoneInfo("Asia/Vladivostok")


@pytest.fixture(scope="module")
def book():
    return load_rule_book()


@pytest.fixture(scope="module")
def calendar():
    return load_calendar()


@pytest.fixture(scope="module")
def seasons():
    return load_rules()[1]


def _due(book, calendar, key, at, tz=MOSCOW):
    return compute_deadlines(book.rule(key), at, tz, calendar)


def _moscow(*args):
    return datetime(*args, tzinfo=MOSCOW)


# -- the federal rules ---------------------------------------------------------------------------------------------
def test_every_rule_gives_a_deadline_and_every_deadline_has_its_clause(book):
    for rule in book.rules.values():
        limits = [limit for limit in (rule.localisation, rule.repair) if limit is not None]
        assert limits, rule.key
        assert all(limit.clause.startswith(("ПП 416", "Госстрой 170")) for limit in limits), rule.key


def test_the_rules_the_source_calls_unconfirmed_are_marked(book):
    unconfirmed = {key for key, rule in book.rules.items() if not rule.confirmed}
    assert unconfirmed == {"electricity.supply_cable", "electricity.main_board", "electricity.short_circuit",
                           "electricity.cooker_off", "electricity.cooker_ring_off", "electricity.common_lighting",
                           "elevator.people_stuck"}
    assert book.rule("federal.emergency").confirmed and book.rule("roof.leak").confirmed


def test_an_emergency_is_localised_in_30_minutes_and_repaired_in_3_days_across_midnight(book, calendar):
    deadlines = _due(book, calendar, "federal.emergency", _moscow(2026, 3, 2, 23, 50))
    assert deadlines.localisation_due_at == _moscow(2026, 3, 3, 0, 20)
    assert deadlines.repair_due_at == _moscow(2026, 3, 5, 23, 50)
    assert (deadlines.rule, deadlines.localisation_clause, deadlines.repair_clause) == \
        ("federal.emergency", "ПП 416 п.13", "ПП 416 п.13")


def test_the_emergency_rule_keeps_the_foundation_s_key_and_figures(book, calendar):
    at = _moscow(2026, 3, 2, 9, 0)
    deadlines = _due(book, calendar, "federal.emergency", at)
    assert deadlines.localisation_due_at - at == timedelta(minutes=30)
    assert deadlines.repair_due_at - at == timedelta(days=3)


@pytest.mark.parametrize("key", ["building.facade_cladding", "electricity.short_circuit", "gas.pipe_failure"])
def test_immediately_means_30_minutes_to_localise_and_3_days_to_repair(book, calendar, key):
    at = _moscow(2026, 7, 10, 14, 5)
    deadlines = _due(book, calendar, key, at)
    assert deadlines.localisation_due_at == at + timedelta(minutes=30)
    assert deadlines.repair_due_at == at + timedelta(days=3)


def test_calendar_days_run_through_weekends_and_holidays(book, calendar):
    deadlines = _due(book, calendar, "roof.gutters", _moscow(2025, 12, 30, 16, 0))
    assert deadlines.repair_due_at == _moscow(2026, 1, 4, 16, 0)
    assert deadlines.localisation_due_at is None and deadlines.localisation_clause is None


def test_a_written_request_without_a_rule_gets_10_working_days_past_the_may_holidays(book, calendar):
    deadlines = compute_deadlines(book.rule_for("other", None, "normal"), _moscow(2026, 4, 28, 10, 0), MOSCOW,
                                  calendar)
    assert deadlines.repair_due_at == _moscow(2026, 5, 15, 0, 0)
    assert (deadlines.rule, deadlines.repair_clause) == ("federal.general", "ПП 416")


def test_sewer_blockage_has_two_hours_around_the_clock(book, calendar):
    assert _due(book, calendar, "sewerage.blockage", _moscow(2026, 1, 1, 23, 15)).repair_due_at == \
        _moscow(2026, 1, 2, 1, 15)


# -- the rubbish chute window --------------------------------------------------------------------------------------
@pytest.mark.parametrize("registered, due", [
    ((2026, 3, 2, 22, 30), (2026, 3, 3, 9, 30)),   # 30 min that evening, 1 h 30 the next morning
    ((2026, 3, 2, 2, 0), (2026, 3, 2, 10, 0)),     # the clock starts at 08:00
    ((2026, 3, 2, 8, 0), (2026, 3, 2, 10, 0)),
    ((2026, 3, 2, 21, 0), (2026, 3, 2, 23, 0)),    # exactly at the window's close
    ((2026, 3, 2, 23, 0), (2026, 3, 3, 10, 0)),    # reported at the close: nothing counts that day
    ((2026, 3, 2, 21, 30), (2026, 3, 3, 8, 30)),
    ((2026, 12, 31, 22, 45), (2027, 1, 1, 9, 45)),  # holidays do not stop the clock
])
def test_the_rubbish_chute_clock_runs_only_from_8_to_23(book, calendar, registered, due):
    deadlines = _due(book, calendar, "rubbish_chute.blockage", _moscow(*registered))
    assert deadlines.repair_due_at == _moscow(*due)


def test_the_window_is_local_to_the_organisation(book, calendar):
    instant = datetime(2026, 3, 2, 19, 30, tzinfo=timezone.utc)   # 22:30 Moscow, 05:30 Vladivostok next day
    assert _due(book, calendar, "rubbish_chute.blockage", instant).repair_due_at == _moscow(2026, 3, 3, 9, 30)
    east = _due(book, calendar, "rubbish_chute.blockage", instant, VLADIVOSTOK).repair_due_at
    assert east == datetime(2026, 3, 3, 10, 0, tzinfo=VLADIVOSTOK)


def _minutes_inside(start: datetime, end: datetime, window: Window, tz: ZoneInfo) -> float:
    total, day = timedelta(), start.astimezone(tz).date()
    while day <= end.astimezone(tz).date():
        opens = datetime.combine(day, window.opens, tzinfo=tz)
        closes = datetime.combine(day, window.closes, tzinfo=tz)
        overlap = min(closes, end) - max(opens, start)
        total += max(overlap, timedelta())
        day += timedelta(days=1)
    return total.total_seconds() / 60


_WINDOWS = st.tuples(st.integers(0, 22), st.integers(1, 23)).filter(lambda w: w[0] < w[1])


@settings(max_examples=300, deadline=None)
@given(start=st.datetimes(min_value=datetime(2025, 1, 1), max_value=datetime(2027, 12, 1),
                          timezones=st.just(timezone.utc)),
       minutes=st.integers(1, 60 * 30), hours=_WINDOWS,
       tz=st.sampled_from([MOSCOW, KALININGRAD, VLADIVOSTOK]))
def test_property_a_windowed_due_time_is_inside_a_window_and_counts_exactly_the_duration(start, minutes, hours,
                                                                                        tz):
    window = Window(time(hours[0]), time(hours[1]))
    limit = Limit("minutes", "ПП 416 п.13", minutes, window=window)
    due = limit.due(start, tz, WorkCalendar([statutory_year(2025)]))
    local = due.astimezone(tz).time()
    assert window.opens < local <= window.closes
    assert _minutes_inside(start, due, window, tz) == pytest.approx(minutes)
    assert due.tzinfo is tz


# -- seasons -------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("registered, days", [
    ((2026, 4, 30, 10, 0), 1), ((2026, 5, 1, 10, 0), 3), ((2026, 9, 30, 10, 0), 3), ((2026, 10, 1, 10, 0), 1),
    ((2026, 1, 15, 10, 0), 1), ((2026, 7, 15, 10, 0), 3),
])
def test_broken_window_glass_is_1_day_in_winter_and_3_in_summer(book, calendar, registered, days):
    at = _moscow(*registered)
    assert _due(book, calendar, "building.window_glass", at).repair_due_at == at + timedelta(days=days)


def test_the_season_is_decided_by_the_local_date(book, calendar):
    instant = datetime(2026, 4, 30, 21, 30, tzinfo=timezone.utc)   # 1 May 00:30 Moscow, 30 April 23:30 Kaliningrad
    assert _due(book, calendar, "building.window_glass", instant).repair_due_at - instant == timedelta(days=3)
    assert _due(book, calendar, "building.window_glass", instant, KALININGRAD).repair_due_at - instant == \
        timedelta(days=1)


def test_winter_is_defined_in_the_data(seasons):
    winter = seasons["winter"]
    assert (winter.start, winter.end) == ((10, 1), (4, 30))
    assert winter.contains(date(2026, 12, 31)) and not winter.contains(date(2026, 6, 1))


# -- choosing a rule -----------------------------------------------------------------------------------------------
def test_the_reason_s_rule_comes_first_whatever_the_urgency(book):
    assert book.rule_for("water", "water.basement_tap_drip", "normal").key == "water.tap_drip"
    assert book.rule_for("water", "water.basement_tap_drip", "emergency").key == "water.tap_drip"
    assert book.rule_for("rubbish_chute", "rubbish_chute.blockage", "emergency").key == "rubbish_chute.blockage"


def test_without_a_reason_the_work_type_s_default_for_the_urgency_applies(book):
    assert book.rule_for("elevator", None, "normal").key == "elevator.out_of_order"
    assert book.rule_for("elevator", None, "emergency").key == "elevator.people_stuck"
    assert book.rule_for("gas", None, "emergency").key == "gas.pipe_failure"


def test_without_a_reason_or_a_default_the_general_rule_applies(book):
    assert book.rule_for("water", None, "emergency").key == "federal.emergency"
    assert book.rule_for("intercom", None, "normal").key == "federal.general"


@pytest.mark.parametrize("args, message", [
    (("plumbing", None, "normal"), "Unknown work type 'plumbing'"),
    (("water", "water.no_such", "normal"), "Unknown reason 'water.no_such'"),
    (("heating", "water.pipe_burst", "emergency"), "belongs to work type 'water', not 'heating'"),
    (("water", None, "urgent"), "'urgent' is not an urgency"),
])
def test_rule_for_refuses_unknown_input_clearly(book, args, message):
    with pytest.raises(ValidationError, match=message):
        book.rule_for(*args)


# -- an organisation's overrides -----------------------------------------------------------------------------------
def _rule(seasons, **data):
    return parse_rule({"title": "Правило УК", **data}, seasons)


def test_an_override_replaces_a_federal_rule_by_key(seasons, calendar):
    moscow_glass = _rule(seasons, key="building.window_glass", work_type="building",
                         repair={"amount": 8, "unit": "hours", "clause": "Распоряжение ДЖКХ Москвы"})
    book = load_rule_book([moscow_glass])
    at = _moscow(2026, 7, 1, 12, 0)
    deadlines = compute_deadlines(book.rule_for("building", "building.window_glass", "normal"), at, MOSCOW, calendar)
    assert deadlines.repair_due_at == at + timedelta(hours=8)
    assert deadlines.repair_clause == "Распоряжение ДЖКХ Москвы"
    assert load_rule_book().rule("building.window_glass").repair.unit == "calendar_days"


def test_an_organisation_s_own_rule_can_take_over_a_reason_or_become_a_default(seasons):
    intercom = _rule(seasons, key="org.intercom", work_type="intercom", reason="intercom.broken",
                     repair={"amount": 3, "unit": "calendar_days", "clause": "Договор управления п.5"})
    yard = _rule(seasons, key="org.yard", work_type="yard", default_for="normal",
                 repair={"amount": 2, "unit": "working_days", "clause": "Договор управления п.6"})
    book = load_rule_book([intercom, yard])
    assert book.rule_for("intercom", "intercom.broken", "normal").key == "org.intercom"
    assert book.rule_for("intercom", "intercom.key", "normal").key == "federal.general"
    assert book.rule_for("yard", None, "normal").key == "org.yard"
    assert book.rule_for("yard", "yard.cleaning", "normal").key == "federal.general"


def test_a_custom_work_type_of_the_organisation_is_accepted_when_declared(seasons):
    rule = _rule(seasons, key="org.boiler", work_type="boiler_room", default_for="emergency",
                 localisation={"amount": 1, "unit": "hours", "clause": "Договор п.1"})
    with pytest.raises(ValidationError, match="unknown work type 'boiler_room'"):
        load_rule_book([rule])
    book = load_rule_book([rule], work_types=STANDARD_WORK_TYPES + ("boiler_room",))
    assert book.rule_for("boiler_room", None, "emergency").key == "org.boiler"


@pytest.mark.parametrize("data, message", [
    ({"key": "org.x", "work_type": "plumbing", "repair": {"amount": 1, "unit": "hours", "clause": "c"}},
     "Rule 'org.x' names an unknown work type 'plumbing'"),
    ({"key": "org.x", "work_type": "water", "reason": "water.nothing",
      "repair": {"amount": 1, "unit": "hours", "clause": "c"}}, "takes over an unknown reason 'water.nothing'"),
    ({"key": "org.x", "work_type": "water", "reason": "heating.no_heating",
      "repair": {"amount": 1, "unit": "hours", "clause": "c"}}, "unknown reason 'heating.no_heating' of 'water'"),
    ({"key": "org.x", "work_type": "elevator", "default_for": "normal",
      "repair": {"amount": 1, "unit": "hours", "clause": "c"}},
     "'elevator.out_of_order' and 'org.x' are both the default for 'elevator' normal"),
    ({"key": "org.x", "work_type": "water", "reason": "water.tap_drip",
      "repair": {"amount": 1, "unit": "hours", "clause": "c"}}, None),
])
def test_a_bad_override_is_refused_with_a_clear_message(seasons, data, message):
    rule = _rule(seasons, **data)
    if message is None:
        assert load_rule_book([rule]).rule_for("water", "water.tap_drip", "normal").key == "org.x"
        return
    with pytest.raises(ValidationError, match=message):
        load_rule_book([rule])


def test_two_overrides_with_one_key_or_claiming_one_reason_are_refused(seasons):
    first = _rule(seasons, key="org.a", work_type="water", reason="water.tap_drip",
                  repair={"amount": 1, "unit": "hours", "clause": "c"})
    second = _rule(seasons, key="org.b", work_type="water", reason="water.tap_drip",
                   repair={"amount": 2, "unit": "hours", "clause": "c"})
    with pytest.raises(ValidationError, match="override 'org.a' is given twice"):
        load_rule_book([first, first])
    with pytest.raises(ValidationError, match="both take over reason 'water.tap_drip'"):
        load_rule_book([first, second])


def test_a_book_without_a_general_rule_is_refused(seasons):
    rules, _ = load_rules()
    without = [rule for rule in rules if rule.key != "federal.general"]
    with pytest.raises(ValidationError, match="No general rule for 'normal' requests"):
        RuleBook(without, reasons=[])


# -- bad rules -----------------------------------------------------------------------------------------------------
_BAD_LIMITS = [
    ({"amount": 0, "unit": "hours", "clause": "c"}, "whole number from 1 to 744, not 0"),
    ({"amount": -2, "unit": "minutes", "clause": "c"}, "not -2"),
    ({"amount": "2h", "unit": "hours", "clause": "c"}, "not '2h'"),
    ({"amount": 1.5, "unit": "hours", "clause": "c"}, "not 1.5"),
    ({"amount": True, "unit": "hours", "clause": "c"}, "not True"),
    ({"amount": 400, "unit": "calendar_days", "clause": "c"}, "from 1 to 366"),
    ({"amount": 2, "unit": "fortnights", "clause": "c"}, "'fortnights' is not a unit"),
    ({"amount": 2, "unit": "hours", "clause": " "}, "'clause' must be a non-empty text"),
    ({"amount": 2, "unit": "hours"}, "lacks clause"),
    ({"amount": 2, "unit": "calendar_days", "clause": "c", "window": {"from": "08:00", "to": "23:00"}},
     "window applies only to minutes and hours"),
    ({"amount": 2, "unit": "hours", "clause": "c", "window": {"from": "23:00", "to": "08:00"}},
     "must open before it closes"),
    ({"amount": 2, "unit": "hours", "clause": "c", "window": {"from": "08:00", "to": 1380}},
     "quoted 'HH:MM' text, not 1380"),
    ({"seasonal": {"winter": 1}, "unit": "calendar_days", "clause": "c"}, "an amount for each season"),
    ({"amount": 1, "seasonal": {"winter": 1, "summer": 3}, "unit": "calendar_days", "clause": "c"},
     "either an amount or seasonal"),
    ({"amount": 1, "unit": "hours", "clause": "c", "when": "always"}, "Unknown field"),
]


@pytest.mark.parametrize("limit, message", _BAD_LIMITS)
def test_a_bad_deadline_is_refused(seasons, limit, message):
    with pytest.raises(ValidationError, match=message):
        _rule(seasons, key="org.x", work_type="water", repair=limit)


@pytest.mark.parametrize("data, message", [
    ({"key": "Org X", "work_type": "water", "repair": {"amount": 1, "unit": "hours", "clause": "c"}},
     "'Org X' is not a rule key"),
    ({"key": "org.x", "work_type": "water"}, "gives no deadline"),
    ({"key": "org.x", "work_type": "water", "default_for": "soon",
      "repair": {"amount": 1, "unit": "hours", "clause": "c"}}, "'soon' is not an urgency"),
    ({"key": "org.x", "work_type": None, "reason": "water.tap_drip",
      "repair": {"amount": 1, "unit": "hours", "clause": "c"}}, "needs the reason's work type"),
    ({"key": "org.x", "work_type": "water", "confirmed": "no",
      "repair": {"amount": 1, "unit": "hours", "clause": "c"}}, "'confirmed' must be true or false"),
])
def test_a_bad_rule_is_refused(seasons, data, message):
    with pytest.raises(ValidationError, match=message):
        _rule(seasons, **data)


_FILE = """seasons:
  winter: {from: "10-01", to: "04-30"}
  summer: {from: "05-01", to: "09-30"}
rules:
  - key: federal.emergency
    title: Авария
    work_type: null
    default_for: emergency
    localisation: {amount: 30, unit: minutes, clause: ПП 416 п.13}
  - key: federal.general
    title: Общий срок
    work_type: null
    default_for: normal
    repair: {amount: 10, unit: working_days, clause: ПП 416}
"""


def _write(tmp_path, text: str, name: str = "deadlines.yaml"):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize("text, message", [
    (_FILE.replace("rules:", "rules: [unclosed"), "deadlines.yaml: not valid YAML"),
    (_FILE.replace("unit: minutes", "unit: moments"), "deadlines.yaml: rule 'federal.emergency': 'localisation': "
                                                       "'moments' is not a unit"),
    (_FILE.replace("amount: 10,", "amount: ten,"), "rule 'federal.general': 'repair': .*not 'ten'"),
    (_FILE.replace('"04-30"', '"05-15"'), "deadlines.yaml: 05-01 is in 2 seasons"),
    (_FILE.replace('"04-30"', '"04-31"'), "seasons.winter.to': 04-31 is not a day of the year"),
    (_FILE.replace('"10-01"', "10.1"), r"deadlines.yaml: 'seasons.winter.from' must be a quoted 'MM-DD' text, "
                                      "not 10.1"),
    (_FILE.replace("    title: Авария\n", ""), r"deadlines.yaml: rule 'federal.emergency': 'rule' lacks title"),
    (_FILE + "  - just a line\n", r"deadlines.yaml: rules\[2\]: 'rule' must be a mapping"),
    ("seasons: {}\nrules: []\n", "deadlines.yaml: 'seasons' must map season names"),
    ("rules: []\n", "deadlines.yaml: lacks seasons"),
])
def test_a_broken_rules_file_is_refused_naming_file_and_entry(tmp_path, text, message):
    with pytest.raises(RulesFileError, match=message):
        load_rules(_write(tmp_path, text))


def test_a_rules_file_with_an_unknown_work_type_is_refused_when_the_book_is_built(tmp_path):
    text = _FILE + """  - key: plumbing.leak
    title: Течь
    work_type: plumbing
    repair: {amount: 1, unit: hours, clause: c}
"""
    reasons = _write(tmp_path, "other:\n  - {code: other.x, title: Другое, urgency: normal, rule: federal.general,"
                               " keywords: [другое]}\n", "reasons.yaml")
    with pytest.raises(RulesFileError, match="deadlines.yaml, reasons.yaml: Rule 'plumbing.leak' names an unknown "
                                             "work type 'plumbing'"):
        load_rule_book(rules_path=_write(tmp_path, text), reasons_path=reasons)
    assert len(load_reasons(reasons)) == 1
