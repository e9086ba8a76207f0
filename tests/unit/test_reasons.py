"""The reasons catalogue: typical reasons under each of the 12 work types, each with an urgency, a rule that exists
and lowercase keywords; broken catalogue files are refused naming the file and the entry."""
from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from journal_api.domain.deadlines import compute_deadlines
from journal_api.domain.worktypes import STANDARD_WORK_TYPES, URGENCIES
from journal_api.rules import RulesFileError, load_calendar, load_reasons, load_rule_book

MOSCOW = ZoneInfo("Europe/Moscow")


@pytest.fixture(scope="module")
def book():
    return load_rule_book()


@pytest.fixture(scope="module")
def reasons():
    return load_reasons()


def test_every_standard_work_type_has_at_least_two_reasons(book):
    for work_type in STANDARD_WORK_TYPES:
        assert len(book.reasons_under(work_type)) >= 2, work_type
    assert {reason.work_type for reason in book.reasons.values()} == set(STANDARD_WORK_TYPES)


def test_every_reason_points_to_an_existing_rule_of_its_work_type_or_a_general_one(book, reasons):
    for reason in reasons:
        assert reason.code.startswith(f"{reason.work_type}.")
        assert reason.work_type in STANDARD_WORK_TYPES
        assert reason.urgency in URGENCIES
        rule = book.rule(reason.rule)
        assert rule.work_type in (None, reason.work_type), reason.code


def test_reason_codes_are_unique_and_titles_are_russian(reasons):
    codes = [reason.code for reason in reasons]
    assert len(codes) == len(set(codes))
    assert all(any("а" <= ch.lower() <= "я" for ch in reason.title) for reason in reasons)


def test_keywords_are_lowercase_and_no_keyword_points_to_two_reasons(reasons):
    counted = Counter(keyword for reason in reasons for keyword in reason.keywords)
    assert all(keyword == keyword.lower() and keyword.strip() for keyword in counted)
    assert [keyword for keyword, times in counted.items() if times > 1] == []
    assert all(len(reason.keywords) >= 2 for reason in reasons)


def test_every_rule_is_reached_by_a_reason_or_as_a_default(book):
    reached = {reason.rule for reason in book.reasons.values()}
    reached |= {rule.key for rule in book.rules.values() if rule.default_for}
    assert set(book.rules) == reached


@pytest.mark.parametrize("work_type, code, urgency, localisation, repair", [
    ("water", "water.pipe_burst", "emergency", timedelta(minutes=30), timedelta(days=3)),
    ("water", "water.basement_tap_drip", "normal", None, timedelta(days=1)),
    ("gas", "gas.smell", "emergency", timedelta(minutes=30), timedelta(days=3)),
    ("elevator", "elevator.people_stuck", "emergency", timedelta(minutes=30), timedelta(days=1)),
    ("elevator", "elevator.stopped", "normal", None, timedelta(days=1)),
    ("electricity", "electricity.sparking", "emergency", timedelta(minutes=30), timedelta(days=3)),
    ("heating", "heating.no_heating", "emergency", timedelta(minutes=30), timedelta(days=3)),
    ("sewerage", "sewerage.blockage", "emergency", None, timedelta(hours=2)),
    ("roof", "roof.leak", "emergency", None, timedelta(days=1)),
])
def test_typical_reasons_give_the_deadlines_of_the_law(book, work_type, code, urgency, localisation, repair):
    reason = book.reasons[code]
    assert reason.urgency == urgency
    at = datetime(2026, 3, 3, 11, 0, tzinfo=MOSCOW)
    deadlines = compute_deadlines(book.rule_for(work_type, code, urgency), at, MOSCOW, load_calendar())
    assert (deadlines.localisation_due_at - at if deadlines.localisation_due_at else None) == localisation
    assert deadlines.repair_due_at - at == repair
    assert deadlines.repair_clause


@pytest.mark.parametrize("code", ["intercom.broken", "yard.cleaning", "other.general"])
def test_reasons_without_a_legal_figure_get_the_general_10_working_days(book, code):
    reason = book.reasons[code]
    assert reason.urgency == "normal"
    assert book.rule_for(reason.work_type, code, "normal").key == "federal.general"


# -- bad catalogue files -------------------------------------------------------------------------------------------
_GOOD = """water:
  - code: water.leak
    title: Течь
    urgency: emergency
    rule: federal.emergency
    keywords: [течь, прорыв]
"""


def _write(tmp_path, text: str):
    path = tmp_path / "reasons.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_a_well_formed_catalogue_loads(tmp_path):
    (reason,) = load_reasons(_write(tmp_path, _GOOD))
    assert (reason.code, reason.work_type, reason.keywords) == ("water.leak", "water", ("течь", "прорыв"))


@pytest.mark.parametrize("text, message", [
    (_GOOD.replace("urgency: emergency", "urgency: asap"), "reasons.yaml: reason 'water.leak': 'asap' is not an "
                                                           "urgency"),
    (_GOOD.replace("[течь, прорыв]", "[Течь]"), "reason 'water.leak': 'keywords' must be a non-empty list of "
                                                "lowercase texts"),
    (_GOOD.replace("[течь, прорыв]", "[]"), "'keywords' must be a non-empty list"),
    (_GOOD.replace("[течь, прорыв]", "течь"), "reason 'water.leak': 'keywords' must be a list"),
    (_GOOD.replace("code: water.leak", "code: heating.leak"), "'heating.leak' is not a reason code of 'water'"),
    (_GOOD.replace("    title: Течь\n", ""), "reason 'water.leak': 'reason' lacks title"),
    (_GOOD.replace("    keywords: [течь, прорыв]\n", "    keywords: [течь]\n    colour: red\n"), "Unknown field"),
    ("water: []\n", "reasons.yaml: 'water' must list at least one reason"),
    ("water:\n  - 42\n", r"reasons.yaml: water\[0\]: 'reason' must be a mapping"),
    ("water:\n  - code: [unclosed\n", "reasons.yaml: not valid YAML"),
])
def test_a_broken_catalogue_is_refused_naming_file_and_entry(tmp_path, text, message):
    with pytest.raises(RulesFileError, match=message):
        load_reasons(_write(tmp_path, text))


@pytest.mark.parametrize("text, message", [
    (_GOOD.replace("rule: federal.emergency", "rule: water.nothing"),
     "deadlines.yaml, reasons.yaml: Reason 'water.leak' refers to an unknown rule 'water.nothing'"),
    (_GOOD.replace("rule: federal.emergency", "rule: roof.leak"),
     "Reason 'water.leak' refers to rule 'roof.leak' of another work type 'roof'"),
    (_GOOD.replace("water", "plumbing"), "Reason 'plumbing.leak' is under an unknown work type 'plumbing'"),
])
def test_a_catalogue_that_does_not_fit_the_rules_is_refused(tmp_path, text, message):
    with pytest.raises(RulesFileError, match=message):
        load_rule_book(reasons_path=_write(tmp_path, text))
