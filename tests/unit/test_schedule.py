"""Schedules: rotas laid out on the local wall clock, refused overlaps and bad periods, and who is at work when."""
from __future__ import annotations

from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from journal_api.domain.errors import ValidationError
from journal_api.domain.registry import Absence, Shift
from journal_api.domain.schedule import (
    MAX_DAYS, ON_CALL, SHIFT, Daily, Rota, ShiftOverlap, Slot, absence_at, availability, check_absence,
    check_no_overlap, check_period, day_shift, first_available, generate, is_absent, on_call_at_home, on_shift,
    on_shift_before, one_day_in_four, one_day_in_three, pattern_from_dict, pattern_to_dict)

UTC = timezone.utc
RUSSIAN_ZONES = ["Europe/Kaliningrad", "Europe/Moscow", "Europe/Samara", "Asia/Yekaterinburg", "Asia/Novosibirsk",
                 "Asia/Irkutsk", "Asia/Vladivostok", "Asia/Kamchatka"]
MSK = ZoneInfo("Europe/Moscow")
T0 = datetime(2026, 3, 2, 5, 0, tzinfo=UTC)  # Monday 08:00 in Moscow


def _weekdays(day: date) -> bool:
    return day.weekday() < 5


def _at(hours: float) -> datetime:
    return T0 + timedelta(hours=hours)


def _shift(staff_id, start_h, end_h, kind=SHIFT):
    return Slot(staff_id, _at(start_h), _at(end_h), kind)


def _absence(staff_id, start_h, end_h, kind="vacation"):
    return Absence(1, staff_id, _at(start_h), _at(end_h), kind)


# --- rotas ---------------------------------------------------------------------------------------------------------

@settings(max_examples=60)
@given(zone=st.sampled_from(RUSSIAN_ZONES), first=st.dates(date(2025, 1, 1), date(2027, 12, 31)),
       hour=st.integers(0, 23), months=st.integers(1, 6), lead=st.integers(0, 10))
def test_one_day_in_four_works_every_fourth_day_for_24_hours_from_the_local_start(zone, first, hour, months, lead):
    start = first - timedelta(days=lead)
    end = start + timedelta(days=30 * months)
    slots = generate(one_day_in_four(first, time(hour)), 7, start, end, zone)
    tz = ZoneInfo(zone)
    local_days = [s.starts_at.astimezone(tz).date() for s in slots]
    assert local_days == [d for d in (start + timedelta(days=i) for i in range((end - start).days + 1))
                          if (d - first).days % 4 == 0]
    assert all(s.starts_at.astimezone(tz).time() == time(hour) and s.ends_at - s.starts_at == timedelta(hours=24)
               and s.starts_at.tzinfo == UTC and s.kind == SHIFT and s.staff_id == 7 for s in slots)
    assert all(b.starts_at - a.ends_at == timedelta(hours=72) for a, b in zip(slots, slots[1:]))
    check_no_overlap(slots, zone)


def test_one_day_in_three_leaves_two_days_off_between_shifts():
    slots = generate(one_day_in_three(date(2026, 3, 1)), 7, date(2026, 3, 1), date(2026, 3, 31), "Europe/Moscow")
    assert [s.starts_at.astimezone(MSK).day for s in slots] == list(range(1, 32, 3))
    assert all(b.starts_at - a.ends_at == timedelta(hours=48) for a, b in zip(slots, slots[1:]))


def test_a_rota_counts_its_cycle_backwards_from_the_first_day_too():
    slots = generate(one_day_in_four(date(2026, 3, 10)), 7, date(2026, 3, 1), date(2026, 3, 12), "Asia/Vladivostok")
    assert [s.starts_at.astimezone(ZoneInfo("Asia/Vladivostok")).day for s in slots] == [2, 6, 10]


def test_the_same_local_start_is_a_different_utc_moment_in_each_time_zone():
    day = date(2026, 3, 2)
    starts = {zone: generate(one_day_in_four(day), 7, day, day, zone)[0].starts_at for zone in RUSSIAN_ZONES}
    assert starts["Europe/Moscow"] == datetime(2026, 3, 2, 5, 0, tzinfo=UTC)
    assert starts["Europe/Kaliningrad"] == datetime(2026, 3, 2, 6, 0, tzinfo=UTC)
    assert starts["Asia/Kamchatka"] == datetime(2026, 3, 1, 20, 0, tzinfo=UTC)


def test_a_24_hour_shift_ends_at_the_same_local_hour_across_a_daylight_saving_change():
    slots = generate(one_day_in_four(date(2026, 3, 28)), 7, date(2026, 3, 28), date(2026, 4, 3), "Europe/Berlin")
    berlin = ZoneInfo("Europe/Berlin")
    assert slots[0].starts_at.astimezone(berlin).hour == 8 and slots[0].ends_at.astimezone(berlin).hour == 8
    assert slots[0].ends_at - slots[0].starts_at == timedelta(hours=23)
    assert slots[1].ends_at - slots[1].starts_at == timedelta(hours=24)


def test_a_twelve_hour_rota_can_run_every_day():
    slots = generate(Rota(date(2026, 3, 1), time(20), hours=12, every_days=1), 7, date(2026, 3, 1),
                     date(2026, 3, 3), "Europe/Moscow")
    assert [(s.starts_at.astimezone(MSK).strftime("%d %H"), s.ends_at.astimezone(MSK).strftime("%d %H"))
            for s in slots] == [("01 20", "02 08"), ("02 20", "03 08"), ("03 20", "04 08")]


def test_a_day_shift_runs_only_on_the_working_days_of_the_calendar_it_is_given():
    holiday = date(2026, 3, 9)
    slots = generate(day_shift(), 7, date(2026, 3, 2), date(2026, 3, 15), "Europe/Moscow",
                     is_working_day=lambda d: _weekdays(d) and d != holiday)
    days = [s.starts_at.astimezone(MSK).date() for s in slots]
    assert days == [date(2026, 3, d) for d in (2, 3, 4, 5, 6, 10, 11, 12, 13)]
    assert {(s.starts_at.astimezone(MSK).time(), s.ends_at.astimezone(MSK).time()) for s in slots} == {
        (time(8), time(17))}


def test_a_pattern_on_working_days_needs_the_calendar():
    with pytest.raises(ValueError, match="is_working_day"):
        generate(day_shift(), 7, date(2026, 3, 2), date(2026, 3, 3), "Europe/Moscow")


def test_a_night_pattern_ends_on_the_next_morning():
    slots = generate(Daily(time(20), time(8), on="all"), 7, date(2026, 3, 1), date(2026, 3, 1), "Europe/Moscow")
    assert slots == [Slot(7, datetime(2026, 3, 1, 17, tzinfo=UTC), datetime(2026, 3, 2, 5, tzinfo=UTC), SHIFT)]


@given(holidays=st.sets(st.integers(0, 20)))
def test_day_shifts_and_on_call_at_home_cover_every_moment_without_overlap(holidays):
    start = date(2026, 3, 2)
    off = {start + timedelta(days=i) for i in holidays}
    slots = generate((day_shift(), *on_call_at_home()), 7, start, start + timedelta(days=20), "Asia/Yekaterinburg",
                     is_working_day=lambda d: _weekdays(d) and d not in off)
    check_no_overlap(slots, "Asia/Yekaterinburg")
    assert all(a.ends_at == b.starts_at for a, b in zip(slots, slots[1:]))
    assert {s.kind for s in slots if s.starts_at.astimezone(ZoneInfo("Asia/Yekaterinburg")).date() in off} <= {
        ON_CALL}


def test_a_pattern_survives_a_round_trip_through_plain_data():
    for pattern in (one_day_in_four(date(2026, 3, 1), time(9), kind=ON_CALL), *on_call_at_home(), day_shift()):
        assert pattern_from_dict(pattern_to_dict(pattern)) == pattern


@pytest.mark.parametrize("data,field", [
    ({"type": "weekly"}, "type"),
    ({"type": "rota", "first_day": "2026-02-30"}, "first_day"),
    ({"type": "rota", "first_day": "2026-03-01", "start": "25:00"}, "start"),
    ({"type": "rota", "first_day": "2026-03-01", "start": "08:00+03:00"}, "start"),
    ({"type": "rota", "first_day": "2026-03-01", "hours": 97, "every_days": 4}, "hours"),
    ({"type": "rota", "first_day": "2026-03-01", "hours": "24"}, "hours"),
    ({"type": "rota", "first_day": "2026-03-01", "every_days": 0}, "every_days"),
    ({"type": "rota", "first_day": "2026-03-01", "kind": "nap"}, "kind"),
    ({"type": "daily", "on": "mondays"}, "on"),
    ({"type": "daily", "shift": "night"}, "pattern"),
])
def test_a_bad_pattern_is_refused_naming_its_field(data, field):
    with pytest.raises(ValidationError) as caught:
        pattern_from_dict(data)
    assert caught.value.field == field


def test_generate_refuses_a_reversed_or_too_long_period_and_an_unknown_time_zone():
    rota = one_day_in_four(date(2026, 3, 1))
    with pytest.raises(ValidationError, match="ends"):
        generate(rota, 7, date(2026, 3, 2), date(2026, 3, 1), "Europe/Moscow")
    with pytest.raises(ValidationError, match=f"at most {MAX_DAYS} days"):
        generate(rota, 7, date(2026, 1, 1), date(2027, 3, 1), "Europe/Moscow")
    with pytest.raises(ValidationError, match="not a known time zone"):
        generate(rota, 7, date(2026, 3, 1), date(2026, 3, 2), "Europe/Atlantis")


# --- refusals ------------------------------------------------------------------------------------------------------

def test_overlapping_shifts_of_one_person_are_refused_naming_both_periods_in_local_time():
    shifts = [Shift(1, 7, _at(0), _at(24)), Shift(1, 7, _at(23), _at(32), ON_CALL), Shift(1, 8, _at(0), _at(24))]
    with pytest.raises(ShiftOverlap) as caught:
        check_no_overlap(shifts, "Europe/Moscow")
    assert caught.value.message == ("Shifts of staff 7 overlap: shift 2026-03-02 08:00-2026-03-03 08:00 and on_call "
                                    "2026-03-03 07:00-2026-03-03 16:00 (Europe/Moscow). Move or delete one of them.")
    assert caught.value.http_status == 409 and caught.value.details["staff_id"] == 7


def test_back_to_back_shifts_and_shifts_of_different_people_do_not_overlap():
    check_no_overlap([_shift(7, 0, 24), _shift(7, 24, 48), _shift(8, 10, 20), _shift(7, 48, 72, ON_CALL)])


@given(st.lists(st.tuples(st.integers(1, 3), st.integers(0, 40), st.integers(1, 12)), max_size=8))
def test_shifts_are_refused_exactly_when_two_of_one_person_share_a_moment(raw):
    shifts = [_shift(staff, start, start + length) for staff, start, length in raw]
    clash = any(a.staff_id == b.staff_id and a.starts_at < b.ends_at and b.starts_at < a.ends_at
                for i, a in enumerate(shifts) for b in shifts[i + 1:])
    if clash:
        with pytest.raises(ShiftOverlap):
            check_no_overlap(shifts)
    else:
        check_no_overlap(shifts)


def test_a_period_without_a_time_zone_or_ending_before_it_starts_is_refused():
    with pytest.raises(ValidationError, match="with a time zone") as caught:
        check_period(datetime(2026, 3, 2, 8), _at(1), "shift")
    assert caught.value.field == "starts_at"
    with pytest.raises(ValidationError, match=r"ends \(2026-03-02T04:00:00\+00:00\) before") as caught:
        check_period(_at(0), _at(-1), "absence")
    assert caught.value.field == "ends_at"


def test_an_absence_that_ends_before_it_starts_is_refused():
    with pytest.raises(ValidationError, match="must end after it starts"):
        check_absence(_at(48), _at(24), now=_at(0))


def test_an_absence_can_be_entered_ahead_of_time_or_the_same_morning_but_not_once_it_is_over():
    check_absence(_at(72), _at(240), now=_at(0))
    check_absence(_at(-2), _at(10), now=_at(1))  # sick since 06:00 this morning, entered at 09:00
    with pytest.raises(ValidationError, match="already over"):
        check_absence(_at(-30), _at(-6), now=_at(0))


# --- queries -------------------------------------------------------------------------------------------------------

def test_an_absence_covers_its_start_but_not_its_end():
    absences = [_absence(7, 0, 24, "sick_leave"), _absence(8, 0, 24)]
    assert is_absent(absences, 7, _at(0)) and absence_at(absences, 7, _at(23.9)) == "sick_leave"
    assert not is_absent(absences, 7, _at(24)) and not is_absent(absences, 9, _at(1))


def test_on_shift_names_who_works_at_a_moment_and_is_not_absent():
    shifts = [_shift(7, 0, 24), _shift(8, 0, 24), _shift(9, 0, 24, ON_CALL), _shift(10, 24, 48)]
    absences = [_absence(8, 5, 10, "day_off")]
    assert on_shift(shifts, absences, _at(6)) == {7}
    assert on_shift(shifts, absences, _at(11)) == {7, 8}
    assert on_shift(shifts, absences, _at(6), kind=ON_CALL) == {9}
    assert on_shift(shifts, absences, _at(24)) == {10}


def test_on_shift_before_counts_shifts_starting_before_the_deadline_unless_absent_throughout():
    shifts = [_shift(7, 10, 34), _shift(8, 30, 54), _shift(9, 2, 26), _shift(10, 4, 28), _shift(11, 0, 4, ON_CALL)]
    absences = [_absence(9, 0, 30), _absence(10, 0, 6)]
    assert on_shift_before(shifts, absences, _at(1), _at(30)) == {7, 10}
    assert first_available(shifts, absences, 10, _at(1), _at(30)) == _at(6)


@settings(max_examples=200)
@given(raw_shifts=st.lists(st.tuples(st.integers(0, 30), st.integers(1, 10)), max_size=4),
       raw_absences=st.lists(st.tuples(st.integers(0, 30), st.integers(1, 10)), max_size=4),
       start=st.integers(0, 30), length=st.integers(1, 20))
def test_first_available_is_the_first_hour_on_shift_and_not_absent(raw_shifts, raw_absences, start, length):
    shifts = [_shift(7, s, s + n) for s, n in raw_shifts]
    absences = [_absence(7, s, s + n) for s, n in raw_absences]
    at_work = [h for h in range(start, start + length)
               if any(s <= h < s + n for s, n in raw_shifts) and not any(s <= h < s + n for s, n in raw_absences)]
    expected = _at(at_work[0]) if at_work else None
    assert first_available(shifts, absences, 7, _at(start), _at(start + length)) == expected
    assert on_shift_before(shifts, absences, _at(start), _at(start + length)) == ({7} if at_work else set())


def test_availability_tells_the_state_of_one_person_at_a_moment():
    shifts = [_shift(7, 0, 24), _shift(7, 24, 36, ON_CALL), _shift(7, 50, 60)]
    assert availability(shifts, [], 7, _at(1), _at(10)).on_shift_now
    on_call = availability(shifts, [], 7, _at(30), _at(55))
    assert on_call.on_call_now and not on_call.on_shift_now and on_call.on_shift_from == _at(50)
    away = availability(shifts, [_absence(7, 0, 52, "day_off")], 7, _at(1), _at(55))
    assert (away.on_shift_now, away.absence, away.on_shift_from) == (False, "day_off", _at(52))
    assert availability(shifts, [], 7, _at(40), _at(45)).on_shift_from is None
