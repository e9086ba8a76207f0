"""The production calendar: holidays, moved days off and working weekends per year, and "N working days" counted
to 24:00 of the N-th working day in the organisation's time zone."""
from __future__ import annotations

import warnings
from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings, strategies as st

from journal_api.domain.calendar import CalendarWarning, CalendarYear, WorkCalendar, statutory_year
from journal_api.domain.errors import ValidationError
from journal_api.rules import RulesFileError, load_calendar

MOSCOW = ZoneInfo("Europe/Moscow")
KALININGRAD = ZoneInfo("Europe/Kaliningrad")
VLADIVOSTOK = ZoneInfo("Asia/Vladivostok")


@pytest.fixture(scope="module")
def calendar():
    return load_calendar()


def _d(text: str) -> date:
    return date.fromisoformat(text)


# -- the data of each year -----------------------------------------------------------------------------------------
def test_the_package_holds_2025_2026_and_2027(calendar):
    assert calendar.years == (2025, 2026, 2027)


@pytest.mark.parametrize("year, decree", [(2025, "№ 1335"), (2026, "№ 1466")])
def test_confirmed_years_cite_their_decree_and_have_247_working_days(calendar, year, decree):
    data = calendar.year(year)
    assert data.confirmed and decree in data.source and "Постановление Правительства РФ" in data.source
    assert data.working_days() == 247


def test_2025_moves_days_off_by_decree_1335_and_makes_saturday_1_november_working(calendar):
    for day in ("2025-01-08", "2025-05-02", "2025-05-08", "2025-06-13", "2025-11-03", "2025-11-04", "2025-12-31"):
        assert not calendar.is_working_day(_d(day)), day
    # The Sunday 23 February and Saturday 8 March holidays were moved to 8 May and 13 June, not to the next Monday.
    assert calendar.is_working_day(_d("2025-02-24")) and calendar.is_working_day(_d("2025-03-10"))
    assert _d("2025-11-01").weekday() == 5 and calendar.is_working_day(_d("2025-11-01"))
    assert not calendar.is_working_day(_d("2025-11-08"))


def test_2026_new_year_holidays_run_to_11_january_and_31_december_is_off(calendar):
    assert not any(calendar.is_working_day(_d("2026-01-01") + timedelta(days=i)) for i in range(11))
    assert calendar.is_working_day(_d("2026-01-12"))
    assert not calendar.is_working_day(_d("2026-03-09"))   # 8 March is a Sunday: ТК РФ ст. 112 ч. 2
    assert not calendar.is_working_day(_d("2026-05-11"))   # 9 May is a Saturday
    assert not calendar.is_working_day(_d("2026-12-31"))
    assert calendar.is_working_day(_d("2026-12-30"))


def test_the_labour_code_alone_gives_2026_except_the_january_transfers_of_the_decree(calendar):
    decree, statute = calendar.year(2026), statutory_year(2026)
    assert statute.holidays == decree.holidays
    assert decree.days_off - statute.days_off == {_d("2026-01-09"), _d("2026-12-31")}
    assert statute.days_off <= decree.days_off


def test_the_2027_file_is_the_labour_code_year_and_says_the_transfers_are_unknown():
    with pytest.warns(CalendarWarning, match="2027"):
        data = load_calendar().year(2027)
    assert not data.confirmed and "ТК РФ ст. 112" in data.source and "unknown" in data.source
    statute = statutory_year(2027)
    assert (data.holidays, data.days_off, data.working_weekends) == \
        (statute.holidays, statute.days_off, statute.working_weekends)
    assert data.days_off == {_d("2027-05-03"), _d("2027-05-10"), _d("2027-06-14")}


def test_a_year_without_a_file_falls_back_to_the_labour_code_and_warns_once():
    own = load_calendar()
    with pytest.warns(CalendarWarning, match="2031") as caught:
        assert not own.is_working_day(_d("2031-01-07"))
        assert own.is_working_day(_d("2031-01-09"))
    assert len([w for w in caught if issubclass(w.category, CalendarWarning)]) == 1
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        own.is_working_day(_d("2031-02-03"))
    assert own.years == (2025, 2026, 2027)


def test_a_confirmed_year_does_not_warn(calendar):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert calendar.is_working_day(_d("2026-06-15"))


# -- add_working_days ----------------------------------------------------------------------------------------------
def test_ten_working_days_end_at_midnight_after_the_tenth_working_day(calendar):
    due = calendar.add_working_days(datetime(2026, 2, 2, 15, 45, tzinfo=MOSCOW), 10, MOSCOW)
    assert due == datetime(2026, 2, 17, 0, 0, tzinfo=MOSCOW)   # Tue 3 ... Mon 16 February


def test_working_days_skip_weekends_and_holidays(calendar):
    # Friday 20 Feb 2026: 21-23 Feb are off; the first working day is Tuesday 24.
    assert calendar.add_working_days(datetime(2026, 2, 20, 10, tzinfo=MOSCOW), 1, MOSCOW) == \
        datetime(2026, 2, 25, tzinfo=MOSCOW)
    # Registered on 30 Dec 2025: 31 Dec to 11 Jan are off.
    assert calendar.add_working_days(datetime(2025, 12, 30, 18, tzinfo=MOSCOW), 2, MOSCOW) == \
        datetime(2026, 1, 14, tzinfo=MOSCOW)


def test_a_moved_working_saturday_counts(calendar):
    # Friday 31 Oct 2025: Saturday 1 Nov is a working day, 2-4 Nov are off.
    assert calendar.add_working_days(datetime(2025, 10, 31, 12, tzinfo=MOSCOW), 1, MOSCOW) == \
        datetime(2025, 11, 2, tzinfo=MOSCOW)
    assert calendar.add_working_days(datetime(2025, 10, 31, 12, tzinfo=MOSCOW), 2, MOSCOW) == \
        datetime(2025, 11, 6, tzinfo=MOSCOW)


def test_registration_on_a_holiday_counts_from_the_next_working_day(calendar):
    assert calendar.add_working_days(datetime(2026, 1, 5, 3, tzinfo=MOSCOW), 1, MOSCOW) == \
        datetime(2026, 1, 13, tzinfo=MOSCOW)


def test_the_same_instant_is_a_different_day_in_kaliningrad_and_vladivostok(calendar):
    instant = datetime(2026, 5, 8, 15, 30, tzinfo=timezone.utc)   # Fri 17:30 Kaliningrad, Sat 01:30 Vladivostok
    west = calendar.add_working_days(instant, 1, KALININGRAD)
    east = calendar.add_working_days(instant, 1, "Asia/Vladivostok")
    assert west == datetime(2026, 5, 13, tzinfo=KALININGRAD)      # Mon 11 May is off: Tue 12 is the first day
    assert east == datetime(2026, 5, 13, tzinfo=VLADIVOSTOK)
    assert east.utcoffset() == timedelta(hours=10) and west.utcoffset() == timedelta(hours=2)
    # Thursday 7 May 23:30 in Vladivostok is still Thursday there but Thursday 15:30 in Kaliningrad.
    late = datetime(2026, 5, 7, 13, 30, tzinfo=timezone.utc)
    assert calendar.add_working_days(late, 1, VLADIVOSTOK) == datetime(2026, 5, 9, tzinfo=VLADIVOSTOK)


def test_a_naive_start_an_unknown_zone_or_a_bad_count_is_refused(calendar):
    with pytest.raises(ValidationError, match="time zone offset"):
        calendar.add_working_days(datetime(2026, 3, 2, 9), 1, MOSCOW)
    with pytest.raises(ValidationError, match="Unknown time zone 'Europe/Atlantis'"):
        calendar.add_working_days(datetime(2026, 3, 2, 9, tzinfo=MOSCOW), 1, "Europe/Atlantis")
    for bad in (0, -3, 1.5, True):
        with pytest.raises(ValidationError, match="at least 1"):
            calendar.add_working_days(datetime(2026, 3, 2, 9, tzinfo=MOSCOW), bad, MOSCOW)


_ZONES = st.sampled_from([MOSCOW, KALININGRAD, VLADIVOSTOK, ZoneInfo("Asia/Kamchatka"), ZoneInfo("Europe/Samara")])
_INSTANTS = st.datetimes(min_value=datetime(2025, 1, 1), max_value=datetime(2026, 10, 31),
                         timezones=st.just(timezone.utc))


@settings(max_examples=300, deadline=None)
@given(start=_INSTANTS, n=st.integers(min_value=1, max_value=25), tz=_ZONES)
def test_property_the_due_time_closes_exactly_n_working_days(calendar, start, n, tz):
    due = calendar.add_working_days(start, n, tz)
    assert due.tzinfo is tz and due.timetz().replace(tzinfo=None) == time(0)
    last = due.date() - timedelta(days=1)
    assert calendar.is_working_day(last)
    first = start.astimezone(tz).date() + timedelta(days=1)
    counted = sum(calendar.is_working_day(first + timedelta(days=i)) for i in range((last - first).days + 1))
    assert counted == n


# -- bad calendar data ---------------------------------------------------------------------------------------------
_GOOD = """year: 2026
confirmed: true
source: test decree
holidays: [2026-01-01]
days_off:
  - {date: 2026-01-09, moved_from: 2026-01-03}
working_weekends: [2026-01-03]
"""


def _write(tmp_path, text: str, name: str = "ru-2026.yaml"):
    (tmp_path / name).write_text(text, encoding="utf-8")
    return tmp_path


def test_a_well_formed_calendar_file_loads(tmp_path):
    calendar = load_calendar(_write(tmp_path, _GOOD))
    assert calendar.is_working_day(_d("2026-01-03")) and not calendar.is_working_day(_d("2026-01-09"))


@pytest.mark.parametrize("text, message", [
    ("year: 2026\nconfirmed: [oops\n", "ru-2026.yaml: not valid YAML"),
    (_GOOD.replace("year: 2026", "year: 2025"), "ru-2026.yaml: 'year' is 2025 but the file name says 2026"),
    (_GOOD.replace("holidays: [2026-01-01]", "holidays: [2026-02-30]"), r"holidays\[0\]: '2026-02-30' is not a date"),
    (_GOOD.replace("holidays: [2026-01-01]", "holidays: [2025-01-01]"), "holidays: 2025-01-01 is not in 2026"),
    (_GOOD.replace("working_weekends: [2026-01-03]", "working_weekends: [2026-01-05]"),
     "working_weekends: 2026-01-05 must be a Saturday or Sunday"),
    (_GOOD.replace("working_weekends: [2026-01-03]", "working_weekends: []"),
     "days_off: 2026-01-09 is moved from 2026-01-03, which is neither"),
    (_GOOD.replace("date: 2026-01-09", "date: 2026-01-10"), "days_off: 2026-01-10 is already a day off"),
    (_GOOD.replace(", moved_from: 2026-01-03", ""), r"days_off\[0\] must be \{date, moved_from, by\}"),
    (_GOOD.replace("confirmed: true", "confirmed: yes please"), "'confirmed' must be true or false"),
    (_GOOD.replace("source: test decree\n", ""), "ru-2026.yaml: lacks source"),
    (_GOOD + "shortened: []\n", "unknown field"),
    ("- 2026-01-01\n", "mapping at its top level"),
])
def test_a_broken_calendar_file_is_refused_naming_file_and_entry(tmp_path, text, message):
    with pytest.raises(RulesFileError, match=message):
        load_calendar(_write(tmp_path, text))


def test_a_calendar_file_with_a_wrong_name_or_an_empty_directory_is_refused(tmp_path):
    with pytest.raises(RulesFileError, match="no calendar files"):
        load_calendar(tmp_path)
    with pytest.raises(RulesFileError, match="calendar-2026.yaml: a calendar file must be named ru-YYYY.yaml"):
        load_calendar(_write(tmp_path, _GOOD, "calendar-2026.yaml"))


def test_a_year_given_twice_is_refused():
    year = statutory_year(2026)
    with pytest.raises(ValidationError, match="2026 is given twice"):
        WorkCalendar([year, year])


def test_a_working_weekend_without_a_day_off_is_refused():
    with pytest.raises(ValidationError, match="does not say which day off"):
        CalendarYear(2026, frozenset(), frozenset(), frozenset({_d("2026-01-10")}), "x", True)
